"""Scenario 2, the shipped "Suspicious file download" runbook, answered through a mailbox
the app polls over IMAP (a real Dovecot): a reply with a screenshot answers one question
and files the screenshot; a bounce of another question takes the undeliverable branch."""

import pytest

from bench.payloads import png
from bench.replies import reply_mime
from incidents.models import Evidence
from mailflow.mailbox_polling import mailbox_poll
from mailflow.models import Answer, ConfirmationRequest, InboundEmail
from tests.builders.inbound import delivery_report

pytestmark = [pytest.mark.django_db]


def test_a_reply_with_a_screenshot_answers_and_a_bounce_takes_the_undeliverable_branch(
    asked, committed, dovecot, imap_mailbox
):
    answered, bounced = asked("policy-violation"), asked("policy-violation")
    assert answered.run.runbook.name == "Suspicious file download"
    screenshot = png(120)
    dovecot.append(
        reply_mime(answered, "Yes", attachments=(("screenshot.png", "image/png", screenshot),))
    )
    dovecot.append(delivery_report(bounced, mid="bounce-imap").encode())
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
