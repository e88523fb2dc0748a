"""The question says what happened (the incident's details), and after the answer the
person is told what happens next: on the answer page, and in the one acknowledgement of
an email reply."""

from datetime import timedelta

import pytest
from anymail.exceptions import AnymailAPIError
from django.core import mail

from mailflow.acknowledgements import answer_acknowledge
from mailflow.answers import answer_record
from mailflow.due_requests import requests_process_due
from mailflow.emails import reply_address
from mailflow.models import Answer, ConfirmationRequest
from tests.builders.answers import hold, land, links, settle
from tests.builders.inbound import message, raw_reply
from tests.factories import category, open_incident

pytestmark = pytest.mark.usefixtures("webhook_secret")

NO_NEXT = (
    "Your password will be reset and your open sessions signed out; do not use that "
    "password anywhere again. Our team may contact you."
)
SIGN_IN = {
    "time": "2026-12-04T07:42:00Z",
    "source_ip": "203.0.113.7",
    "location": "Lisbon, Portugal",
    "device": "Chrome on Windows",
    "attempts": 12,
}


@pytest.fixture
def ask(shipped, committed, bob):
    def ask(slug: str = "failed-login", details: dict | None = None) -> ConfirmationRequest:
        incident = committed(
            open_incident, category=category(slug), affected_user=bob, details=details
        )
        return ConfirmationRequest.objects.get(incident=incident)

    return ask


def kinds_of(request: ConfirmationRequest, kind: str) -> int:
    return request.incident.timeline.filter(kind=kind).count()


# --- what happened ----------------------------------------------------------------------


def test_a_failed_sign_in_email_gives_the_time_address_place_and_device(ask, outbox):
    request = ask(details=SIGN_IN)

    body = outbox[0].body
    assert "When: 2026-12-04 07:42 (UTC)" in body
    assert "From the address: 203.0.113.7" in body
    assert "Place: Lisbon, Portugal" in body
    assert "Device: Chrome on Windows" in body
    assert "Attempts: 12" in body
    html = outbox[0].alternatives[0][0]
    assert "From the address: 203.0.113.7<br>Place: Lisbon, Portugal" in html
    assert "Place: Lisbon, Portugal" in request.body


def test_a_detail_the_tool_did_not_send_leaves_its_line_out(ask, outbox):
    ask(details={"location": "Lisbon, Portugal"})

    body = outbox[0].body
    assert "Place: Lisbon, Portugal" in body
    assert "From the address" not in body and "When:" not in body and "Device" not in body


def test_a_download_email_gives_the_file_the_site_defanged_and_the_time(ask, outbox):
    ask(
        "policy-violation",
        {
            "file_name": "<b>invoice</b>.zip",
            "site": "https://files.example.net/get",
            "time": "2026-12-04T09:15:00+01:00",
        },
    )

    body, html = outbox[0].body, outbox[0].alternatives[0][0]
    assert "File: <b>invoice</b>.zip" in body
    assert "From: hxxps://files[.]example[.]net/get" in body
    assert "When: 2026-12-04 08:15 (UTC)" in body
    assert "&lt;b&gt;invoice&lt;/b&gt;.zip" in html and "<b>invoice" not in html
    assert "files.example.net" not in html


# --- what happens next: the answer page -------------------------------------------------


def test_the_answer_page_says_what_happens_next(ask, outbox, browser, committed):
    request = ask()
    settle(request)
    land(browser, links(outbox[0])["no"])

    committed(browser.post, "/respond/", {"choice": "no"})

    thanks = browser.get("/respond/thanks/").content.decode()
    assert "What happens next" in thanks
    assert NO_NEXT in thanks
    assert request.options[1]["next"] == NO_NEXT  # kept as the person was told


def test_a_held_answer_is_not_told_what_happens_next(ask, outbox, browser, committed):
    request = ask()
    land(browser, links(outbox[0])["no"])  # within seconds of sending: held

    committed(browser.post, "/respond/", {"choice": "no"})

    thanks = browser.get("/respond/thanks/").content.decode()
    assert "We will confirm your answer shortly" in thanks
    assert NO_NEXT not in thanks
    assert not Answer.objects.get(request=request).counted


# --- what happens next: the acknowledgement of a reply ----------------------------------


def test_a_reply_taken_as_the_answer_is_acknowledged_once_in_its_thread(ask, deliver):
    request = ask()
    sent_before = len(mail.outbox)

    inbound = deliver(raw_reply(request, "No"))

    assert inbound.status == "answered"
    assert len(mail.outbox) == sent_before + 1
    ack = mail.outbox[-1]
    assert ack.to == ["bob@corp.example.com"]
    assert ack.subject == f"[{request.incident.number}] Re: Please confirm recent sign-in attempts"
    assert ack.extra_headers["Auto-Submitted"] == "auto-replied"
    assert ack.extra_headers["In-Reply-To"] == f"<reply-{request.pk}@corp.example.com>"
    assert ack.extra_headers["References"] == (
        f"{request.message_id} <reply-{request.pk}@corp.example.com>"
    )
    assert ack.extra_headers["Message-ID"] not in (request.message_id, inbound.message_id)
    assert ack.reply_to == [reply_address(request)]
    assert "“No, that was not me”" in ack.body
    assert f"What happens next:\n{NO_NEXT}" in ack.body
    assert NO_NEXT in ack.alternatives[0][0]
    answer = Answer.objects.get(request=request)
    assert answer.acknowledgement == "sent"
    entry = request.incident.timeline.get(kind="answer.acknowledged")
    assert entry.summary == "Reply acknowledged to Bob Builder"
    assert entry.data["message_id"] == ack.extra_headers["Message-ID"]


def test_the_acknowledgement_task_run_again_sends_nothing_more(ask, deliver):
    request = ask()
    deliver(raw_reply(request, "No"))
    sent = len(mail.outbox)
    answer = Answer.objects.get(request=request)

    assert answer_acknowledge(answer.pk) is False
    requests_process_due()  # the sweep finds nothing lost either

    assert len(mail.outbox) == sent
    assert kinds_of(request, "answer.acknowledged") == 1


def test_a_redelivered_or_repeated_reply_is_not_acknowledged_again(ask, deliver):
    request = ask()
    deliver(raw_reply(request, "No"))
    sent = len(mail.outbox)

    deliver(raw_reply(request, "No"))  # the same message again
    deliver(message(to=reply_address(request), body="No", mid="again"))  # the same answer

    assert len(mail.outbox) == sent
    assert kinds_of(request, "answer.acknowledged") == 1


def test_a_reply_from_someone_else_is_never_acknowledged(ask, deliver):
    request = ask()
    sent = len(mail.outbox)

    inbound = deliver(message(to=reply_address(request), sender="mallory@evil.example.net"))

    assert inbound.status == "flagged"
    assert len(mail.outbox) == sent
    assert not kinds_of(request, "answer.acknowledged")


def test_replies_not_tied_to_our_email_or_automatic_are_never_acknowledged(ask, deliver):
    request = ask()
    sent = len(mail.outbox)

    tagged = deliver(
        message(to="soc@example.com", subject=f"Re: [{request.incident.number}] Please confirm")
    )
    automatic = deliver(
        message(to=reply_address(request), headers="Auto-Submitted: auto-replied\r\n", mid="oof")
    )

    assert (tagged.status, automatic.status) == ("flagged", "flagged")
    assert len(mail.outbox) == sent
    assert not Answer.objects.filter(acknowledgement__gt="").exists()


def test_an_unrecognised_reply_is_not_acknowledged(ask, deliver):
    request = ask()
    sent = len(mail.outbox)

    deliver(raw_reply(request, "What is this about?"))

    assert Answer.objects.get(request=request).option_key == "unrecognised"
    assert len(mail.outbox) == sent


def test_a_page_answer_and_a_held_one_get_no_email(ask, committed):
    request = ask()
    sent = len(mail.outbox)

    committed(hold, request)
    committed(answer_record, request=request, option_key="yes", channel=Answer.Channel.PAGE)

    assert len(mail.outbox) == sent
    assert not Answer.objects.filter(acknowledgement__gt="").exists()


def test_a_send_the_provider_puts_off_is_retried_and_sent_once(ask, deliver, monkeypatch):
    request = ask()
    real_send = mail.EmailMessage.send
    calls = []

    def throttled(self, *args, **kwargs):
        if self.extra_headers.get("Auto-Submitted") == "auto-replied" and not calls:
            calls.append(1)
            raise AnymailAPIError("Too many requests", status_code=429)
        return real_send(self, *args, **kwargs)

    monkeypatch.setattr(mail.EmailMessage, "send", throttled)
    monkeypatch.setattr("mailflow.acknowledgements.RETRY_AFTER", timedelta(0))
    sent = len(mail.outbox)

    deliver(raw_reply(request, "Yes"))
    answer = Answer.objects.get(request=request)

    assert (answer.acknowledgement, len(mail.outbox)) == ("due", sent)
    assert answer_acknowledge(answer.pk) is True
    assert answer_acknowledge(answer.pk) is False
    assert len(mail.outbox) == sent + 1
    assert kinds_of(request, "answer.acknowledged") == 1
