"""The inbound webhooks of Postmark, Mailgun and SendGrid: anymail's own views, with their
checks (basic auth, Mailgun's signature), except that a post larger than
INBOUND_DEFER_BYTES is kept as it came and read by the worker (mailflow.inbound). The
webhook then answers in the time it takes to write the post to disk, whatever the message's
size; such a post anymail cannot read is kept and failed for an analyst instead of refused.
Amazon SES keeps anymail's view as it is: its posts also carry the SNS subscription
handshake, answered in the request."""

from typing import Any

from django.http import HttpRequest
from django.urls import path, re_path

from mailflow.inbound import POST_PARSERS, inbound_receive
from soc.middleware import is_deferred


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
    pass


class SendGridInbound(_KeepLargePosts, POST_PARSERS["SendGrid"]):
    pass


# Ahead of anymail's own URLs, at the same addresses.
urlpatterns = [
    path("anymail/postmark/inbound/", PostmarkInbound.as_view()),
    re_path(r"^anymail/mailgun/inbound(_mime)?/$", MailgunInbound.as_view()),
    path("anymail/sendgrid/inbound/", SendGridInbound.as_view()),
]
