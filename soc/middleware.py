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
   the body and parses the form itself; everything else keeps Django's limits.
"""

import base64
import binascii
import contextlib
import email.errors
import html
import logging
import re
import traceback
from collections.abc import Callable
from io import BytesIO

from anymail.exceptions import AnymailAPIError
from anymail.utils import get_anymail_setting, get_request_basic_auth
from anymail.webhooks.amazon_ses import AnymailBotoClientAPIError, AnymailBotoClientSecurityError
from django.conf import settings
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.db import DataError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.utils.crypto import constant_time_compare
from django.utils.datastructures import MultiValueDict
from django.utils.http import parse_header_parameters

logger = logging.getLogger(__name__)

# A lock held past the busy timeout, a refused or dropped connection: worth retrying. Not
# DataError or IntegrityError: those are the request's, and retrying them changes nothing.
DATABASE_OUTAGE = (OperationalError, InterfaceError)

WEBHOOK_PREFIX = "/anymail/"
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
# What reading a malformed payload raises in anymail and the email package. JSON and
# Unicode errors and binascii.Error are ValueErrors; MultiPartParserError is our parser's.
BAD_INPUT = (
    ValueError,
    LookupError,  # KeyError, IndexError, and an unknown charset
    TypeError,
    AttributeError,
    binascii.Error,
    email.errors.MessageError,
    MultiPartParserError,
    # The email package parses nested parts recursively: a message nested some 1,000
    # levels deep exhausts the stack. Reading it again cannot succeed either.
    RecursionError,
)


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


def bad_input_reason(exception: Exception) -> str:
    """What was wrong, for the provider and the analyst: the exception's type (never its
    message, which can quote the payload), and for the one that says little, its cause."""
    name = type(exception).__name__
    if isinstance(exception, RecursionError):
        return f"{name}: the MIME parts are nested too deeply to read"
    return name


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


def is_deferred(request: HttpRequest) -> bool:
    """An inbound post too large to read in the request: stored as it came, read by the
    worker (mailflow.webhooks)."""
    return int(request.META.get("CONTENT_LENGTH") or 0) > settings.INBOUND_DEFER_BYTES


def use_body(request: HttpRequest, body: bytes) -> None:
    """Make the request read `body`: the attributes HttpRequest.body caches, set so that
    request.body and request.POST read it instead of checking Django's limit."""
    request._body = body
    request._stream = BytesIO(body)
    if request.content_type == "multipart/form-data":
        request._post, request._files = parse_multipart(request, body)
    # application/x-www-form-urlencoded and JSON: Django parses the cached body itself.


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


def parse_multipart(request: HttpRequest, body: bytes) -> tuple[QueryDict, MultiValueDict]:
    """multipart/form-data as Django's MultiPartParser reads it (fields decoded with the
    request's encoding, filenames sanitised, files whose name sanitises to nothing
    dropped) without its DATA_UPLOAD_MAX_MEMORY_SIZE limit on fields; its limits on the
    number of fields and files still hold. Whole parts are kept in memory, which
    INBOUND_MAX_BYTES bounds."""
    _, params = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
    boundary = params.get("boundary", "")
    if not boundary:
        raise MultiPartParserError("multipart/form-data without a boundary")
    pieces = body.split(b"--" + boundary.encode("ascii"))
    # Counted before decoding anything, so a flood of tiny parts costs nothing to refuse
    # (the pieces are the preamble, the parts and what follows the closing delimiter).
    limits = (settings.DATA_UPLOAD_MAX_NUMBER_FIELDS, settings.DATA_UPLOAD_MAX_NUMBER_FILES)
    if None not in limits and len(pieces) - 2 > sum(limits):
        raise TooManyFieldsSent("Too many form parts in an inbound webhook post.")
    encoding = request.encoding or settings.DEFAULT_CHARSET
    post = QueryDict(mutable=True, encoding=encoding)
    files = MultiValueDict()
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break  # the closing delimiter
        headers, separator, content = piece.partition(b"\r\n\r\n")
        if not separator:
            raise MultiPartParserError("form part without a header end")
        content = content.removesuffix(b"\n").removesuffix(b"\r")
        fields = _part_headers(headers)
        _, options = parse_header_parameters(fields.get("content-disposition", ""))
        name = options.get("name", "").strip()
        if not name:
            continue
        if fields.get("content-transfer-encoding", "").strip().lower() == "base64":
            with contextlib.suppress(binascii.Error):  # as Django: kept as it came
                content = base64.b64decode(content)
        if not options.get("filename"):  # an empty filename makes a plain field, too
            post.appendlist(name, content.decode(encoding, errors="replace"))
            continue
        filename = _sanitise_filename(options["filename"])
        if filename:
            content_type, type_options = parse_header_parameters(fields.get("content-type", ""))
            files.appendlist(
                name,
                InMemoryUploadedFile(
                    BytesIO(content),
                    name,
                    filename,
                    content_type,
                    len(content),
                    type_options.get("charset"),
                ),
            )
    if _too_many(post, settings.DATA_UPLOAD_MAX_NUMBER_FIELDS):
        raise TooManyFieldsSent("Too many fields in an inbound webhook post.")
    if _too_many(files, settings.DATA_UPLOAD_MAX_NUMBER_FILES):
        raise TooManyFilesSent("Too many files in an inbound webhook post.")
    post._mutable = False
    return post, files


def _too_many(values: MultiValueDict, limit: int | None) -> bool:
    return limit is not None and sum(len(items) for _, items in values.lists()) > limit


def _part_headers(raw: bytes) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in raw.decode("utf-8", errors="replace").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    return fields


def _sanitise_filename(name: str) -> str | None:
    # As Django's MultiPartParser.sanitize_file_name: no directories, no "." or "..".
    name = html.unescape(name)
    name = name.rsplit("/")[-1].rsplit("\\")[-1]
    name = "".join(char for char in name if char.isprintable())
    return None if name in {"", ".", ".."} else name
