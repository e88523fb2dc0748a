"""The person's side of a question: the links in the email, the answer page as a browser
meets it, and answers held as a possible mail scanner's."""

import re
from datetime import timedelta

from django.core import mail
from django.test import Client
from django.utils import timezone

from mailflow.answers import answer_record
from mailflow.models import Answer, ConfirmationRequest

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
LINK = re.compile(r"http://127\.0\.0\.1:8000(/respond/([^/]+)/\?choice=(\w+))")
HEADERS = {
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


def links(message) -> dict[str, str]:
    """Option key → the path of its link in the email."""
    return {key: path for path, _token, key in LINK.findall(message.body)}


def settle(request: ConfirmationRequest) -> None:
    """The email went out a minute ago: answers are no longer "too fast"."""
    sent = timezone.now() - timedelta(minutes=1)
    ConfirmationRequest.objects.filter(pk=request.pk).update(sent_at=sent)


def land(client: Client, path: str) -> str:
    """Open an email link as the person does; returns the page's address."""
    response = client.get(path)
    assert response.status_code == 302
    return response["Location"]


def links_in_email() -> dict[str, str]:
    """Option key → the whole address of its link in the last email sent."""
    body = mail.outbox[-1].body
    return {key: url for url, key in re.findall(r"(http://\S+/respond/\S+/\?choice=(\w+))", body)}


HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/126.0 Safari/537.36"
AN_HOUR_LATER = timedelta(hours=1, minutes=1)


def hold(request: ConfirmationRequest, option: str = "no") -> Answer:
    """Bob's answer from the page, taken for a scanner (as the page does)."""
    return answer_record(
        request=request,
        option_key=option,
        channel=Answer.Channel.PAGE,
        sender="Bob Builder",
        comment="Not me, I was on holiday.",
        suspected_automated=True,
        user_agent=HEADLESS,
    )


def an_hour_passes(answer: Answer) -> None:
    Answer.objects.filter(pk=answer.pk).update(received_at=answer.received_at - AN_HOUR_LATER)
