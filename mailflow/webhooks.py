"""The inbound webhooks of Postmark, Mailgun and SendGrid: anymail's own views, with their
checks (basic auth, Mailgun's signature), except that the post is kept as it came and
parsed by the worker (mailflow.inbound). The webhook answers in the time it takes to write
the post to disk, whatever the message's size, and a post anymail cannot read is kept and
flagged for an analyst instead of refused. Amazon SES keeps anymail's view as it is: its
posts also carry the SNS subscription handshake, answered in the request."""

from typing import Any

from django.http import HttpRequest
from django.urls import path, re_path

from mailflow.inbound import POST_PARSERS, inbound_receive


class _KeepThePost:
    esp_name: str

    def parse_events(self, request: HttpRequest) -> list[Any]:
        inbound_receive(provider=self.esp_name, request=request)
        return []  # nothing for anymail's signal: the worker parses the post


class PostmarkInbound(_KeepThePost, POST_PARSERS["Postmark"]):
    pass


class MailgunInbound(_KeepThePost, POST_PARSERS["Mailgun"]):
    pass


class SendGridInbound(_KeepThePost, POST_PARSERS["SendGrid"]):
    pass


# Ahead of anymail's own URLs, at the same addresses.
urlpatterns = [
    path("anymail/postmark/inbound/", PostmarkInbound.as_view()),
    re_path(r"^anymail/mailgun/inbound(_mime)?/$", MailgunInbound.as_view()),
    path("anymail/sendgrid/inbound/", SendGridInbound.as_view()),
]
