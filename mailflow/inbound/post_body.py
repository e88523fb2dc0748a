"""Reading an inbound post's body ourselves: Django refuses request bodies and non-file
form fields over DATA_UPLOAD_MAX_MEMORY_SIZE, and Mailgun and SendGrid post the whole raw
message as one form field. The webhook middleware reads authenticated posts up to
INBOUND_MAX_BYTES with these, and the worker reads a stored post the same way
(mailflow.inbound.stored_post)."""

import base64
import binascii
import contextlib
import html
from io import BytesIO

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.http import HttpRequest, QueryDict
from django.http.multipartparser import MultiPartParserError
from django.utils.datastructures import MultiValueDict
from django.utils.http import parse_header_parameters


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
