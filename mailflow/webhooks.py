"""The inbound webhooks of Postmark, Mailgun and SendGrid: anymail's own views, with their
checks (basic auth, Mailgun's signature), except that a post larger than
INBOUND_DEFER_BYTES is kept as it came and read by the worker
(mailflow.inbound.stored_post). The webhook then answers in the time it takes to write the
post to disk, whatever the message's size; such a post anymail cannot read is kept and
failed for an analyst instead of refused. Amazon SES keeps anymail's view as it is: its
posts also carry the SNS subscription handshake, answered in the request."""

from typing import IO, Any

from anymail.webhooks.base import AnymailBasicAuthMixin
from django.http import HttpRequest, QueryDict
from django.http.multipartparser import FIELD, ChunkIter, LazyStream, Parser, exhaust
from django.urls import path, re_path
from django.utils.datastructures import MultiValueDict
from django.utils.encoding import force_str
from django.utils.http import parse_header_parameters

from mailflow.inbound.post_body import is_deferred
from mailflow.inbound.receive import SpooledPost, inbound_receive, spool_post
from mailflow.inbound.stored_post import POST_PARSERS
from mailflow.providers import refuse_deep_post
from mailflow.webhook_errors import BAD_INPUT


class _KeepLargePosts:
    esp_name: str
    spooled: SpooledPost | None = None  # the post, when validate_request copied it

    def parse_events(self, request: HttpRequest) -> list[Any]:
        if not is_deferred(request):
            refuse_deep_post(request)  # before anymail's parser spends minutes on it
            return super().parse_events(request)  # type: ignore[misc]
        inbound_receive(provider=self.esp_name, request=request, spooled=self.spooled)
        return []  # nothing for anymail's signal: the worker parses the post


class PostmarkInbound(_KeepLargePosts, POST_PARSERS["Postmark"]):
    pass


class MailgunInbound(_KeepLargePosts, POST_PARSERS["Mailgun"]):
    def validate_request(self, request: HttpRequest) -> None:
        # Mailgun signs a post with three fields of the same form as the message: for a
        # large post, the form is copied to disk and only those three are read from the
        # copy for anymail's check; parse_events keeps the copy.
        if is_deferred(request) and request.content_type == "multipart/form-data":
            AnymailBasicAuthMixin.validate_request(self, request)  # before reading anything
            self.spooled = spool_post(request)
            request._post = _signature_fields(self.spooled.file, request.META["CONTENT_TYPE"])
            request._files = MultiValueDict()
        try:
            super().validate_request(request)
        except Exception:
            if self.spooled:
                self.spooled.file.close()
            raise


_SIGNATURE_FIELDS = {"timestamp", "token", "signature"}


def _signature_fields(form: IO[bytes], content_type: str) -> QueryDict:
    """The signature fields of a multipart form, read from its start. A form that cannot
    be read yields none, so anymail refuses it as unsigned (400)."""
    form.seek(0)
    fields = QueryDict(mutable=True)
    try:
        _, params = parse_header_parameters(content_type)
        boundary = params["boundary"].encode("ascii")
        for kind, headers, part in Parser(LazyStream(ChunkIter(form)), boundary):
            name = force_str(headers.get("content-disposition", ("", {}))[1].get("name", b""))
            if kind == FIELD and name.strip() in _SIGNATURE_FIELDS:
                # Set, not appended: like request.POST, the last value counts.
                fields[name.strip()] = part.read(1024).decode("ascii")
            exhaust(part)
    except BAD_INPUT:
        fields = QueryDict(mutable=True)
    return fields


class SendGridInbound(_KeepLargePosts, POST_PARSERS["SendGrid"]):
    pass


# Ahead of anymail's own URLs, at the same addresses.
urlpatterns = [
    path("anymail/postmark/inbound/", PostmarkInbound.as_view()),
    re_path(r"^anymail/mailgun/inbound(_mime)?/$", MailgunInbound.as_view()),
    path("anymail/sendgrid/inbound/", SendGridInbound.as_view()),
]
