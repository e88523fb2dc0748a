"""Scenario 2, the shipped "Suspicious file download" runbook, answered through a mailbox
the app polls over IMAP (a real Dovecot): a reply with a screenshot answers one question
and files the screenshot; a bounce of another question takes the undeliverable branch."""

import pytest

from bench.payloads import png
from bench.replies import reply_mime
from incidents.models import Evidence
from mailflow.mailbox_polling import mailbox_poll
from mailflow.models import Answer, ConfirmationRequest, InboundEmail

pytestmark = [pytest.mark.django_db]


def bounce_of(request: ConfirmationRequest) -> bytes:
    """A Postfix-style delivery status notification returning our question."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.corp.example.com>\r\n"
        "To: soc@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-imap@mx.corp.example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe mailbox does not exist.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.corp.example.com\r\n\r\n"
        "Final-Recipient: rfc822; bob@corp.example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {request.message_id}\r\nSubject: Did you download this file?\r\n"
        "--b--\r\n"
    ).encode()


def test_a_reply_with_a_screenshot_answers_and_a_bounce_takes_the_undeliverable_branch(
    asked, committed, dovecot, imap_mailbox
):
    answered, bounced = asked("policy-violation"), asked("policy-violation")
    assert answered.run.runbook.name == "Suspicious file download"
    screenshot = png(120)
    dovecot.append(
        reply_mime(answered, "Yes", attachments=(("screenshot.png", "image/png", screenshot),))
    )
    dovecot.append(bounce_of(bounced))
    mailbox = imap_mailbox()

    result = committed(mailbox_poll, mailbox_id=mailbox.pk)

    assert (result.stored, result.marked, result.error) == (2, 2, "")
    assert set(InboundEmail.objects.values_list("provider", "classification")) == {
        ("IMAP replies", "reply"),
        ("IMAP replies", "bounce"),
    }
    answer = Answer.objects.get(request=answered)
    assert (answer.option_key, answer.channel, answer.counted) == ("yes", "email_reply", True)
    evidence = Evidence.objects.get(incident=answered.incident)
    assert evidence.filename == "screenshot.png"
    assert list(answered.incident.tasks.values_list("title", "state")) == [
        ("Confirm the download with the user", "completed"),
        ("Analyse the evidence provided by the user", "open"),
    ]

    bounced.refresh_from_db()
    assert bounced.state == ConfirmationRequest.State.UNDELIVERABLE
    assert not Answer.objects.filter(request=bounced).exists()
    assert bounced.incident.timeline.filter(kind="request.undeliverable").count() == 1
    assert list(bounced.incident.tasks.values_list("title", "state")) == [
        ("Confirm the download with the user", "incomplete"),
        ("Contact the affected user", "open"),
    ]
