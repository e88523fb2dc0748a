"""anymail's webhook URLs, each answering 404 while its provider is not configured.

anymail builds a webhook view for every request and raises a configuration error when the
provider's key is missing (Mailgun's signing key, Postal's webhook key, ...): a 500 and an
ERROR log for anyone who opens the URL, even with a GET. A provider we do not use is not a
fault, so its URLs answer as any unknown address does.

A provider is configured when anymail has what its webhook needs: the provider's own
signing key or secret where it checks a signature, and otherwise ANYMAIL_WEBHOOK_SECRET,
the basic-auth credentials that are then its only protection. With DEBUG off that secret
is required anyway (soc.E003), so there this only concerns the signing keys.
"""

import warnings
from collections.abc import Callable
from functools import wraps

from anymail.exceptions import AnymailInsecureWebhookWarning
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern

View = Callable[..., HttpResponse]


def provider_configured(view: View) -> bool:
    """Whether anymail can build this webhook view and it is protected."""
    try:
        with warnings.catch_warnings():
            # The unprotected case is answered below, not warned about on every request.
            warnings.simplefilter("ignore", AnymailInsecureWebhookWarning)
            webhook = view.view_class(**view.view_initkwargs)  # type: ignore[attr-defined]
    except ImproperlyConfigured:  # anymail's AnymailConfigurationError
        return False
    if getattr(webhook, "webhook_key", b"") is None:
        return False  # Mandrill: its missing key is only raised on a POST
    # Providers that check their own signature turn warn_if_no_basic_auth off.
    return bool(webhook.basic_auth) or not webhook.warn_if_no_basic_auth


def only_when_configured(view: View) -> View:
    @wraps(view)  # keeps csrf_exempt and view_class
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not provider_configured(view):
            raise Http404("This email provider is not configured.")
        return view(request, *args, **kwargs)

    return guarded


def configured_urls(patterns: list[URLPattern]) -> list[URLPattern]:
    """The same URL patterns (names included), each guarded."""
    return [_guarded(pattern) for pattern in patterns]


def _guarded(pattern: URLPattern) -> URLPattern:
    view = only_when_configured(pattern.callback)
    return URLPattern(pattern.pattern, view, pattern.default_args, pattern.name)
