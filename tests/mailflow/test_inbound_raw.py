"""Messages that arrive as raw MIME without a provider's webhook (read from a mailbox,
received by our own SMTP server) take the webhooks' path from the store on: the same
de-duplication key, so one message seen by two routes is one, and the same processing."""

import pytest

from mailflow.emails import reply_address
from mailflow.inbound import inbound_store_raw
from mailflow.models import Answer, InboundEmail
from tests.builders.inbound import AUTH, postmark_raw, raw_reply, titles

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret")]


def test_a_reply_read_from_a_mailbox_answers_the_question(asked, committed):
    request = asked("failed-login")
    raw = raw_reply(request, "No, that was not me.").encode()

    inbound, new = committed(inbound_store_raw, source="IMAP replies", raw=raw)

    inbound.refresh_from_db()
    assert new and (inbound.status, inbound.correlation) == ("answered", "reply address")
    assert inbound.provider == "IMAP replies"
    assert inbound.envelope_recipient == reply_address(request)
    assert Answer.objects.get(request=request).option_key == "no"
    assert titles(request) == ["Reset the credentials of Bob Builder"]


def test_the_same_message_by_webhook_and_by_mailbox_is_one_message(asked, committed, client):
    request = asked("failed-login")
    raw = raw_reply(request, "No").encode()

    # Postmark's post names the envelope recipient; the mailbox has the headers alone.
    assert committed(postmark_raw, client, raw, "event-1", AUTH).status_code == 200
    by_webhook = InboundEmail.objects.get()
    by_mailbox, new = committed(inbound_store_raw, source="IMAP replies", raw=raw)
    again, new_again = committed(inbound_store_raw, source="IMAP replies", raw=raw)

    assert not new and not new_again
    assert by_webhook.pk == by_mailbox.pk == again.pk
    assert InboundEmail.objects.count() == 1
    assert Answer.objects.filter(request=request).count() == 1


def test_an_envelope_recipient_from_smtp_is_kept_and_a_broken_message_is_stored(committed):
    inbound, new = committed(
        inbound_store_raw,
        source="SMTP",
        raw=b"\xff\xfe not a message at all",
        envelope_recipient="Reply+abc@Reply.localhost",
        envelope_sender="mailer-daemon@example.net",
    )

    inbound.refresh_from_db()
    assert new and inbound.raw.read() == b"\xff\xfe not a message at all"
    assert inbound.envelope_recipient == "reply+abc@reply.localhost"
    assert inbound.envelope_sender == "mailer-daemon@example.net"
    assert inbound.dedupe_key.startswith("sha256:")
    assert inbound.status == "flagged"
