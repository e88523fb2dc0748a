"""Email provider webhooks (anymail's URLs under /anymail/) that never answer bad input
with a 500, and inbound posts as large as an email may be.

1. Bad input is a 400 with a short reason, so the provider stops retrying something that
   can never succeed; a database that is down or locked is a 503, so it retries. Data the
   database refuses (DataError) is bad input, not an outage: a retry cannot help. Logs
   name the exception type and where it was raised, never the payload (mail text,
   addresses, tokens).
2. Django refuses request bodies and non-file form fields over DATA_UPLOAD_MAX_MEMORY_SIZE
   (2.5 MB), and Mailgun and SendGrid post the whole raw message as one form field. For
   authenticated POSTs to an inbound URL up to INBOUND_MAX_BYTES this middleware reads
   the body and parses the form itself (mailflow.inbound.post_body); everything else
   keeps Django's limits.
"""

import logging
import re
import traceback
from collections.abc import Callable

from anymail.exceptions import AnymailAPIError
from anymail.utils import get_anymail_setting, get_request_basic_auth
from anymail.webhooks.amazon_ses import AnymailBotoClientAPIError, AnymailBotoClientSecurityError
from django.conf import settings
from django.db import DataError
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare

from mailflow.inbound.post_body import is_deferred, use_body
from mailflow.webhook_errors import BAD_INPUT, DATABASE_OUTAGE, WEBHOOK_PREFIX, bad_input_reason

logger = logging.getLogger(__name__)

# Mailgun's inbound view also answers at .../inbound_mime/.
_INBOUND_PATH = re.compile(r"^/anymail/[\w-]+/inbound(?:_mime)?/$")
# Inbound posts not read here when they are larger than INBOUND_DEFER_BYTES: the view
# streams them to disk (mailflow.webhooks). Amazon SES's are always read in the request.
STREAMED_PATHS = {
    "/anymail/postmark/inbound/",
    "/anymail/mailgun/inbound/",
    "/anymail/mailgun/inbound_mime/",
    "/anymail/sendgrid/inbound/",
}


class WebhookMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and _INBOUND_PATH.match(request.path_info):
            try:
                refused = _preload_inbound(request)
            except BAD_INPUT as error:
                return _bad_request(request, error)
            if refused is not None:
                return refused
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path_info.startswith(WEBHOOK_PREFIX):
            return None
        if isinstance(exception, DATABASE_OUTAGE):
            _log(logging.ERROR, request, exception, "database unavailable")
            response = HttpResponse(
                "Temporarily unable to store this event; please retry.\n",
                status=503,
                content_type="text/plain",
            )
            response["Retry-After"] = "60"
            return response
        if _is_bad_input(exception):
            return _bad_request(request, exception)
        # Failed authentication (SuspiciousOperation) is Django's 400 already; anything
        # else is ours to fix and stays a 500, which providers retry.
        return None


def _is_bad_input(exception: Exception) -> bool:
    if isinstance(exception, DataError):
        # The receivers clean what they store (core.text); anything the database still
        # refuses would be refused again on every retry.
        return True
    if isinstance(exception, AnymailBotoClientAPIError | AnymailBotoClientSecurityError):
        return False  # an S3 download failed: worth a retry
    # Amazon SES reports an unparsable SNS body or message as AnymailAPIError.
    return isinstance(exception, (*BAD_INPUT, AnymailAPIError))


def _bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if isinstance(exception, DataError):
        # A value the edge should have cleaned: ours to fix, so an error, not a warning.
        _log(logging.ERROR, request, exception, "a value the database refused")
    else:
        _log(logging.WARNING, request, exception, "malformed payload")
    return HttpResponse(
        f"Malformed webhook payload ({bad_input_reason(exception)}); nothing was stored.\n",
        status=400,
        content_type="text/plain",
    )


def _log(level: int, request: HttpRequest, exception: Exception, what: str) -> None:
    # The exception's message can quote the payload (anymail's SES errors include the
    # whole body), so only its type and the line that raised it are logged.
    frames = traceback.extract_tb(exception.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    logger.log(
        level,
        "Webhook %s: %s, %s raised at %s",
        request.path_info,
        what,
        type(exception).__name__,
        where,
    )


# --- large inbound posts ----------------------------------------------------------------


def _preload_inbound(request: HttpRequest) -> HttpResponse | None:
    """Read and parse an inbound post under INBOUND_MAX_BYTES instead of Django's limits.

    Left to Django (and its limits): posts without a Content-Length and posts that fail
    the webhook secret, so that nobody unauthenticated makes us read 80 MB."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > settings.INBOUND_MAX_BYTES:
        return HttpResponse(
            f"Message larger than {settings.INBOUND_MAX_BYTES} bytes.\n",
            status=413,
            content_type="text/plain",
        )
    if length <= 0 or not _authenticated(request):
        return None
    if request.path_info in STREAMED_PATHS and is_deferred(request):
        return None
    use_body(request, request.read(length))
    return None


def _authenticated(request: HttpRequest) -> bool:
    """The request carries the configured webhook secret (or none is configured, which
    the production checks refuse). anymail still checks it, and the signatures."""
    secrets = get_anymail_setting("webhook_secret", default=[])
    if isinstance(secrets, str):
        secrets = [secrets] if secrets else []
    if not secrets:
        return True
    given = get_request_basic_auth(request) or ""
    return any(constant_time_compare(given, secret) for secret in secrets)
