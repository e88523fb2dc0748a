"""Sign-in at the identity provider: mozilla-django-oidc's views, answering 404 while single
sign-on is off, and ending every failure on a page that says what happened."""

import logging
import re

import jwt
import requests
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from core.sso.backends import NoAccess, SsoFailed
from core.sso.services import sso_enabled

logger = logging.getLogger(__name__)

# What a failed exchange with the provider raises: a replayed or forged callback (state,
# nonce, signature), a provider that is down or answers an error, a malformed answer; and
# a first sign-in that lost the race to create the same account (two tabs): trying again
# finds it.
_EXCHANGE_FAILURES = (
    IntegrityError,
    SuspiciousOperation,
    SsoFailed,
    requests.RequestException,
    jwt.PyJWTError,
    ValueError,
    KeyError,
    TypeError,
)


class StartView(OIDCAuthenticationRequestView):
    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404
        return super().get(request)


class CallbackView(OIDCAuthenticationCallbackView):
    @property
    def success_url(self) -> str:
        # The page the sign-in started from, as mozilla-django-oidc checked it; else the
        # admin, the analysts' home.
        return self.request.session.get("oidc_login_next") or reverse("admin:index")

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404
        if request.GET.get("error"):
            # The provider's own words stay out of the page (a crafted link could put any
            # text there) and out of the log beyond the error code.
            code = re.sub(r"[^a-z_]", "", request.GET["error"])[:40]
            logger.warning("SSO sign-in refused by the identity provider: %s", code)
            if request.GET.get("state") not in request.session.get("oidc_states", {}):
                # Not the answer to a sign-in this browser started: a link anyone could
                # send must not sign the analyst out, as the library's handling would.
                return self.login_failure()
        try:
            return super().get(request)
        except NoAccess:
            return render(
                request,
                "admin/sso_refused.html",
                {
                    **admin.site.each_context(request),
                    "title": "No access",
                    "provider": settings.OIDC_PROVIDER_NAME,
                },
                status=403,
            )
        except _EXCHANGE_FAILURES as exc:
            # A provider's malformed answer, or our own mistake: the traceback tells which.
            traceback = isinstance(exc, (ValueError, KeyError, TypeError))
            logger.warning(
                "SSO sign-in failed: %s: %s", type(exc).__name__, exc, exc_info=traceback
            )
            return self.login_failure()

    def login_success(self) -> HttpResponse:
        response = super().login_success()
        # The groups are re-read at each sign-in: a session of a working day makes a
        # removal at the provider take effect by the next one, not after a password
        # session's two weeks.
        self.request.session.set_expiry(settings.OIDC_SESSION_HOURS * 3600)
        return response

    def login_failure(self) -> HttpResponse:
        messages.error(
            self.request,
            f"Signing in with {settings.OIDC_PROVIDER_NAME} did not complete. Please try "
            "again; if it keeps failing, tell your administrator.",
        )
        return HttpResponseRedirect(reverse("admin:login"))
