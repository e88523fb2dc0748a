"""The inbound webhooks of Postmark, Mailgun and SendGrid: anymail's own views, with their
checks (basic auth, Mailgun's signature), except that a post larger than
INBOUND_DEFER_BYTES is kept as it came and read by the worker (mailflow.inbound). The
webhook then answers in the time it takes to write the post to disk, whatever the message's
size; such a post anymail cannot read is kept and failed for an analyst instead of refused.
Amazon SES keeps anymail's view as it is: its posts also carry the SNS subscription
handshake, answered in the request."""

import tempfile
from typing import Any

from anymail.webhooks.base import AnymailBasicAuthMixin
from django.http import HttpRequest, QueryDict
from django.http.multipartparser import FIELD, ChunkIter, LazyStream, Parser, exhaust
from django.urls import path, re_path
from django.utils.datastructures import MultiValueDict
from django.utils.encoding import force_str
from django.utils.http import parse_header_parameters

from mailflow.inbound import POST_PARSERS, inbound_receive
from soc.middleware import BAD_INPUT, is_deferred

_CHUNK = 64 * 1024


class _KeepLargePosts:
    esp_name: str

    def parse_events(self, request: HttpRequest) -> list[Any]:
        if not is_deferred(request):
            return super().parse_events(request)  # type: ignore[misc]
        inbound_receive(provider=self.esp_name, request=request)
        return []  # nothing for anymail's signal: the worker parses the post


class PostmarkInbound(_KeepLargePosts, POST_PARSERS["Postmark"]):
    pass


class MailgunInbound(_KeepLargePosts, POST_PARSERS["Mailgun"]):
    def validate_request(self, request: HttpRequest) -> None:
        # Mailgun signs a post with three fields of the same form as the message: for a
        # large post, those three are all anymail's signature check reads into memory.
        if is_deferred(request) and request.content_type == "multipart/form-data":
            AnymailBasicAuthMixin.validate_request(self, request)  # before reading anything
            request._post = _signature_fields(request)
            request._files = MultiValueDict()
        super().validate_request(request)


_SIGNATURE_FIELDS = {"timestamp", "token", "signature"}


def _signature_fields(request: HttpRequest) -> QueryDict:
    """Copy the form to a spooled file (on disk past 1 MB), read its signature fields from
    the copy, and leave the request reading the copy (for inbound_receive). A form that
    cannot be read yields no fields, so anymail refuses it as unsigned (400)."""
    # Not closed here: the request reads it after this returns; garbage collection closes
    # (and the OS removes) it with the request.
    spool = tempfile.SpooledTemporaryFile(max_size=16 * _CHUNK)  # noqa: SIM115
    while chunk := request.read(_CHUNK):
        spool.write(chunk)
    spool.seek(0)
    fields = QueryDict(mutable=True)
    try:
        _, params = parse_header_parameters(request.META["CONTENT_TYPE"])
        boundary = params["boundary"].encode("ascii")
        for kind, headers, part in Parser(LazyStream(ChunkIter(spool, _CHUNK)), boundary):
            name = force_str(headers.get("content-disposition", ("", {}))[1].get("name", b""))
            if kind == FIELD and name.strip() in _SIGNATURE_FIELDS:
                # Set, not appended: like request.POST, the last value counts.
                fields[name.strip()] = part.read(1024).decode("ascii")
            exhaust(part)
    except BAD_INPUT:
        fields = QueryDict(mutable=True)
    spool.seek(0)
    request._stream = spool
    return fields


class SendGridInbound(_KeepLargePosts, POST_PARSERS["SendGrid"]):
    pass


# Ahead of anymail's own URLs, at the same addresses.
urlpatterns = [
    path("anymail/postmark/inbound/", PostmarkInbound.as_view()),
    re_path(r"^anymail/mailgun/inbound(_mime)?/$", MailgunInbound.as_view()),
    path("anymail/sendgrid/inbound/", SendGridInbound.as_view()),
]
