"""Polling a mailbox over IMAP, against a real Dovecot (bench.dovecot): each
message is stored once through the webhooks' store, then marked, and polling again or
after a crash stores nothing twice. Failures are shown on the mailbox and back off."""

import tracemalloc
from datetime import timedelta

import pytest
from django.utils import timezone
from imapclient import IMAPClient

from bench.dovecot import PASSWORD, folder_flags
from bench.replies import reply_mime
from mailflow import mailbox_polling
from mailflow.mailbox_polling import mailbox_poll
from mailflow.models import Answer, InboundEmail, Mailbox
from mailflow.tasks import poll_mailboxes
from tests.builders.inbound import message, raw_reply, titles
from tests.builders.oauth import token_endpoint

pytestmark = [pytest.mark.django_db]


def poll(committed, mailbox: Mailbox) -> mailbox_polling.PollResult:
    result = committed(mailbox_poll, mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    return result


def test_a_reply_in_the_mailbox_is_stored_once_answered_and_moved(
    asked, committed, dovecot, imap_mailbox
):
    request = asked("failed-login")
    mailbox = imap_mailbox()
    uid = dovecot.append(raw_reply(request, "No, that was not me.").encode())

    result = poll(committed, mailbox)

    inbound = InboundEmail.objects.get()
    assert (result.stored, result.marked, result.backlog, result.error) == (1, 1, 0, "")
    assert (inbound.provider, inbound.status) == ("IMAP replies", "answered")
    assert Answer.objects.get(request=request).option_key == "no"
    assert titles(request) == ["Reset the credentials of Bob Builder"]
    # Moved out of the INBOX, and fetched with BODY.PEEK[]: never marked read by us.
    assert folder_flags(dovecot, "INBOX") == []
    [flags] = folder_flags(dovecot, "Processed")
    assert b"\\Seen" not in flags
    assert mailbox.last_uid == uid and mailbox.uid_validity
    assert (mailbox.last_error, mailbox.consecutive_failures, mailbox.backlog) == ("", 0, 0)
    assert mailbox.last_success_at and mailbox.lease_until is None
    assert mailbox.next_poll_at > timezone.now() + timedelta(seconds=50)


def test_polling_again_stores_nothing_new_and_flags_in_place_over_starttls(
    asked, committed, dovecot, imap_mailbox
):
    request = asked("failed-login")
    mailbox = imap_mailbox(processed_folder="", security="starttls", port=dovecot.imap_port)
    dovecot.append(raw_reply(request, "No").encode())

    first = poll(committed, mailbox)
    second = poll(committed, mailbox)

    assert (first.stored, first.marked) == (1, 1)
    assert (second.stored, second.marked, second.error) == (0, 0, "")
    assert InboundEmail.objects.count() == 1
    assert Answer.objects.filter(request=request).count() == 1
    [flags] = folder_flags(dovecot, "INBOX")
    assert {b"$SocProcessed", b"\\Seen"} <= set(flags)


def test_a_crash_between_storing_and_marking_re_reads_the_message_and_keeps_one(
    asked, committed, dovecot, imap_mailbox, monkeypatch
):
    request = asked("failed-login")
    mailbox = imap_mailbox()
    uid = dovecot.append(raw_reply(request, "No").encode())
    move = IMAPClient.move
    failures = []

    def move_failing_once(client, messages, folder):
        if not failures:
            failures.append(messages)
            raise ConnectionResetError(104, "Connection reset by peer")
        return move(client, messages, folder)

    monkeypatch.setattr(IMAPClient, "move", move_failing_once)

    crashed = poll(committed, mailbox)
    assert (crashed.stored, crashed.marked) == (1, 0)
    assert mailbox.last_uid == 0 and mailbox.consecutive_failures == 1
    assert "Connection reset by peer" in mailbox.last_error
    assert len(folder_flags(dovecot, "INBOX")) == 1  # still there, read again next time

    again = poll(committed, mailbox)

    assert (again.stored, again.marked, again.error) == (0, 1, "")
    assert InboundEmail.objects.count() == 1
    assert Answer.objects.filter(request=request).count() == 1
    assert folder_flags(dovecot, "INBOX") == [] and len(folder_flags(dovecot, "Processed")) == 1
    assert (mailbox.last_uid, mailbox.consecutive_failures, mailbox.last_error) == (uid, 0, "")


def test_a_wrong_password_is_shown_on_the_mailbox_and_the_polls_back_off(
    committed, dovecot, imap_mailbox, monkeypatch, caplog
):
    monkeypatch.setenv("TEST_IMAP_PASSWORD", "wrong-password-0123")
    mailbox = imap_mailbox()
    dovecot.append(message(to="anyone@reply.localhost").encode())

    before = timezone.now()
    first = poll(committed, mailbox)
    after_first = mailbox.next_poll_at
    second = poll(committed, mailbox)

    assert "refused the login" in first.error and "TEST_IMAP_PASSWORD" in first.error
    assert "([AUTHENTICATIONFAILED] Authentication failed)" in first.error  # text, not b'…'
    assert mailbox.last_error == second.error and mailbox.consecutive_failures == 2
    assert after_first >= before + timedelta(seconds=120)  # 60 s doubled
    assert mailbox.next_poll_at >= before + timedelta(seconds=240)  # and doubled again
    assert mailbox.last_success_at is None and mailbox.lease_until is None
    assert not InboundEmail.objects.exists()
    assert len(folder_flags(dovecot, "INBOX")) == 1
    logged = caplog.text
    assert "refused the login" in logged
    assert "wrong-password-0123" not in logged + mailbox.last_error
    assert "replies@corp.example.com" not in logged + mailbox.last_error


def test_the_backoff_stops_at_its_cap(settings):
    settings.MAILBOX_BACKOFF_MAX = 1800
    now = timezone.now()

    waits = [
        (mailbox_polling.backoff_until(now=now, interval=60, failures=n) - now).total_seconds()
        for n in (1, 2, 3, 5, 40)
    ]

    assert waits == [120, 240, 480, 1800, 1800]


@pytest.mark.parametrize(
    ("changes", "explained"),
    [
        ({"ca_file": None}, "TLS certificate of 127.0.0.1:{port} could not be verified"),
        ({"port": "closed"}, "refused the connection"),
        ({"secret_env": "TEST_IMAP_UNSET"}, "environment variable TEST_IMAP_UNSET is not set"),
    ],
)
def test_a_server_that_cannot_be_used_is_explained_and_nothing_escapes(
    committed, dovecot, imap_mailbox, settings, changes, explained
):
    fields = {}
    if "ca_file" in changes:
        settings.MAILBOX_CA_FILE = ""  # the system's authorities do not know the test CA
    if changes.get("port") == "closed":
        fields["port"] = 1  # nothing listens there
    if "secret_env" in changes:
        fields["secret_env"] = changes["secret_env"]
    mailbox = imap_mailbox(**fields)

    result = poll(committed, mailbox)

    assert explained.format(port=mailbox.port) in result.error
    assert mailbox.last_error == result.error and mailbox.consecutive_failures == 1
    assert mailbox.next_poll_at > timezone.now() + timedelta(seconds=60)


def test_a_new_uidvalidity_reads_the_folder_again_and_the_store_absorbs_repeats(
    asked, committed, dovecot, imap_mailbox
):
    request = asked("failed-login")
    mailbox = imap_mailbox(folder="Replies", processed_folder="")
    reply = raw_reply(request, "No").encode()
    with dovecot.client() as client:
        client.create_folder("Replies")
    dovecot.append(reply, "Replies")
    poll(committed, mailbox)
    validity = mailbox.uid_validity

    # The mail team recreates the folder: new UIDVALIDITY, the old message copied back
    # without our flag, and a new one after it.
    with dovecot.client() as client:
        client.delete_folder("Replies")
        client.create_folder("Replies")
    dovecot.append(reply, "Replies")
    dovecot.append(message(to="someone@reply.localhost", mid="later").encode(), "Replies")
    result = poll(committed, mailbox)

    assert mailbox.uid_validity != validity
    assert (result.stored, result.marked, result.error) == (1, 2, "")
    assert InboundEmail.objects.count() == 2
    assert Answer.objects.filter(request=request).count() == 1
    assert all(b"$SocProcessed" in flags for flags in folder_flags(dovecot, "Replies"))


def test_a_mailbox_another_worker_holds_or_a_disabled_one_is_left_alone(
    committed, dovecot, imap_mailbox
):
    held = imap_mailbox(lease_until=timezone.now() + timedelta(minutes=1))
    disabled = imap_mailbox(name="off", enabled=False)
    dovecot.append(message(to="anyone@reply.localhost").encode())

    assert poll(committed, held) is None
    assert poll(committed, disabled) is None
    assert not InboundEmail.objects.exists()
    assert held.last_poll_at is None and disabled.last_poll_at is None


def test_the_schedule_polls_the_mailboxes_that_are_due(committed, dovecot, imap_mailbox):
    due = imap_mailbox()
    imap_mailbox(name="later", next_poll_at=timezone.now() + timedelta(minutes=5))
    dovecot.append(message(to="anyone@reply.localhost").encode())

    assert committed(poll_mailboxes) == 1

    inbound = InboundEmail.objects.get()
    assert inbound.provider == "IMAP replies"
    assert Mailbox.objects.get(pk=due.pk).last_success_at
    assert Mailbox.objects.get(name="later").last_poll_at is None


def test_a_batch_leaves_the_rest_for_the_next_poll_at_once(
    committed, dovecot, imap_mailbox, settings
):
    settings.MAILBOX_POLL_BATCH = 2
    mailbox = imap_mailbox()
    for number in range(3):
        dovecot.append(message(to="anyone@reply.localhost", mid=f"m{number}").encode())

    first = poll(committed, mailbox)
    assert (first.stored, first.backlog, mailbox.backlog) == (2, 1, 1)
    assert mailbox.next_poll_at <= timezone.now()
    second = poll(committed, mailbox)

    assert (second.stored, second.backlog, mailbox.backlog) == (1, 0, 0)
    assert InboundEmail.objects.count() == 3


def test_a_25_mb_message_is_stored_whole(asked, committed, dovecot, imap_mailbox):
    request = asked()
    capture = bytes(range(256)) * (19 * 1024 * 1024 // 256)  # 25 MB once in base64
    raw = reply_mime(request, "Yes", attachments=(("capture.bin", "application/x-pcap", capture),))
    assert len(raw) > 25_000_000
    dovecot.append(raw)
    mailbox = imap_mailbox()

    result = poll(committed, mailbox)

    inbound = InboundEmail.objects.get()
    assert (result.stored, result.error) == (1, "")
    assert inbound.size == len(raw)
    with inbound.raw.open("rb") as stored:
        assert stored.read() == raw


def test_polling_a_25_mb_message_costs_less_than_three_times_its_size(
    asked, committed, dovecot, imap_mailbox, request
):
    capture = bytes(range(256)) * (19 * 1024 * 1024 // 256)
    raw = reply_mime(asked(), "Yes", attachments=(("capture.bin", "application/x-pcap", capture),))
    dovecot.append(raw)
    # Once asked, the ORM broker, as in production: processing is a task of its own.
    request.getfixturevalue("orm_broker")
    mailbox = imap_mailbox()

    tracemalloc.start()
    try:
        result = poll(committed, mailbox)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert (result.stored, result.error) == (1, "")
    assert peak < 3 * len(raw), f"peak {peak / len(raw):.2f}x the message"


def test_oauth2_asks_the_token_endpoint_and_a_refused_login_is_explained(
    committed, dovecot, imap_mailbox, monkeypatch
):
    """The test server offers no XOAUTH2: the login is refused after the token came."""
    endpoint = token_endpoint(monkeypatch, token="at-123", expires_in=3600)
    mailbox = imap_mailbox(
        auth="xoauth2",
        oauth_token_url="https://login.example.com/tenant/oauth2/v2.0/token",
        oauth_client_id="client-1",
        oauth_scope="https://outlook.office365.com/.default",
    )

    result = poll(committed, mailbox)

    assert len(endpoint.calls) == 1
    assert endpoint.calls[0]["data"]["client_secret"] == PASSWORD
    assert "refused the login" in result.error
    assert "at-123" not in result.error and PASSWORD not in result.error
