"""Our own SMTP server (mailflow.smtp_receiver), the real aiosmtpd server on a loopback
port, spoken to with smtplib as a sending mail server would. It stores in a thread of its
own, with its own database connection: these tests commit for real."""

import asyncio
import errno
import hashlib
import os
import signal
import smtplib
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.db import DataError, InterfaceError, OperationalError, connection, connections

from bench.common import ROOT, free_port
from bench.payloads import png
from bench.replies import reply_mime
from core.storage import DurableFileSystemStorage
from incidents.models import Evidence, ResponseTask
from mailflow.emails import reply_address
from mailflow.models import Answer, ConfirmationRequest, InboundEmail
from mailflow.smtp_receiver import MAX_RECIPIENTS, reply_domain_controller, tls_context
from runbooks.models import RunbookRun
from tests.builders.inbound import raw_reply, stored_files, tasks_of
from tests.builders.smtp import delivery_failure, self_signed_certificate, trusting

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BOB = "bob@corp.example.com"
Task = ResponseTask.State


@pytest.fixture
def smtp_server():
    """Start the server on a free loopback port with the settings as they are now;
    returns a function that starts one and gives its port."""
    started = []

    def start() -> int:
        port = free_port()
        controller = reply_domain_controller(host="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        # The thread that stores keeps its connection when it is young enough; closed, it
        # does not keep the test database from being dropped.
        closing = sync_to_async(connections.close_all, thread_sensitive=True)()
        asyncio.run_coroutine_threadsafe(closing, controller.loop).result(timeout=30)
        controller.stop()


@pytest.fixture
def port(smtp_server) -> int:
    return smtp_server()


def connect(port: int) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    client.ehlo("mx.corp.example.com")
    return client


def send(port: int, raw: bytes, to: list[str], sender: str = BOB) -> dict:
    with connect(port) as client:
        return client.sendmail(sender, to, raw)


# --- what it accepts --------------------------------------------------------------------


def test_a_reply_to_the_reply_domain_is_stored_with_its_envelope_and_answers(asked, port):
    request = asked("failed-login")
    raw = raw_reply(request, "No, that was not me.").encode()
    local, _, domain = reply_address(request).partition("@")

    refused = send(port, raw, [f"{local}@{domain.upper()}"])

    assert refused == {}
    inbound = InboundEmail.objects.get()
    assert (inbound.provider, inbound.envelope_recipient) == ("SMTP", reply_address(request))
    assert inbound.envelope_sender == BOB
    # What a final delivery adds on top, then the message as it came.
    added = f"Return-Path: <{BOB}>\r\nDelivered-To: {reply_address(request)}\r\n"
    assert inbound.raw.read() == added.encode() + raw
    assert (inbound.status, inbound.correlation) == ("answered", "reply address")
    assert Answer.objects.get(request=request).option_key == "no"


def test_the_same_message_delivered_again_is_one_message_and_one_answer(asked, port):
    # A sending server that lost our 250 delivers the message again.
    request = asked("failed-login")
    raw = raw_reply(request, "No").encode()

    send(port, raw, [reply_address(request)])
    send(port, raw, [reply_address(request)])

    assert InboundEmail.objects.count() == 1
    assert Answer.objects.filter(request=request).count() == 1


def test_a_message_to_two_reply_addresses_is_stored_for_each(asked, port):
    # Each address is its own question and its own row, as a provider's post per recipient.
    first, second = asked("failed-login"), asked("failed-login")
    raw = raw_reply(first, "No").encode()

    send(port, raw, [reply_address(first), reply_address(second)])

    assert sorted(InboundEmail.objects.values_list("envelope_recipient", flat=True)) == sorted(
        [reply_address(first), reply_address(second)]
    )
    assert Answer.objects.get(request=first).option_key == "no"
    assert Answer.objects.get(request=second).option_key == "no"


def test_a_message_without_a_message_id_to_two_addresses_is_one_copy_each(port):
    raw = b"From: x@example.com\r\nSubject: no id\r\n\r\nhello\r\n"
    to = ["reply+a@reply.localhost", "reply+b@reply.localhost"]

    send(port, raw, to)
    send(port, raw, to)  # the sender's retry

    stored = InboundEmail.objects.order_by("envelope_recipient")
    assert [row.envelope_recipient for row in stored] == to
    assert all(row.raw.read().endswith(raw) for row in stored)


# --- what it refuses --------------------------------------------------------------------


@pytest.mark.parametrize(
    "recipient",
    [
        "someone@example.net",
        "reply+abc@reply.localhost.example.net",
        "reply+abc@sub.reply.localhost",
        '"reply+abc@reply.localhost"@example.net',
        "<@reply.localhost:victim@example.net>",  # a source route through us
    ],
)
def test_another_domain_is_refused_it_is_not_a_relay(port, recipient):
    with connect(port) as client:
        client.mail(BOB)
        code, text = client.rcpt(recipient)
        assert client.rcpt("reply+abc@reply.localhost")[0] == 250

    assert (code, text) == (550, b"5.7.1 Relaying denied: this server accepts mail for its reply "
                                 b"domain only")  # fmt: skip
    assert not InboundEmail.objects.exists()


def test_a_message_to_ours_and_another_domain_is_stored_for_ours_alone(port):
    raw = b"From: x@example.com\r\nSubject: hi\r\nMessage-ID: <r1@example.com>\r\n\r\nhi\r\n"

    refused = send(port, raw, ["reply+abc@reply.localhost", "victim@example.net"])

    assert list(refused) == ["victim@example.net"] and refused["victim@example.net"][0] == 550
    assert list(InboundEmail.objects.values_list("envelope_recipient", flat=True)) == [
        "reply+abc@reply.localhost"
    ]


def test_recipients_past_the_limit_are_told_to_come_again_in_another_message(port):
    with connect(port) as client:
        client.mail(BOB)
        codes = [client.rcpt(f"reply+{n}@reply.localhost")[0] for n in range(MAX_RECIPIENTS + 1)]

    assert codes == [250] * MAX_RECIPIENTS + [452]


def test_a_bounce_with_an_empty_sender_is_accepted(port):
    raw = b"From: MAILER-DAEMON@example.net\r\nSubject: failure\r\n\r\nGone.\r\n"

    assert send(port, raw, ["reply+abc@reply.localhost"], sender="") == {}

    inbound = InboundEmail.objects.get()
    assert inbound.envelope_sender == ""
    assert inbound.raw.read().startswith(b"Return-Path: <>\r\n")


def test_it_announces_its_size_limit_and_refuses_a_larger_message(settings, smtp_server):
    settings.SMTPD_MAX_BYTES = 2000
    port = smtp_server()
    large = b"Subject: large\r\n\r\n" + (b"x" * 70 + b"\r\n") * 40

    with connect(port) as client:
        assert client.esmtp_features["size"] == "2000"
        # smtplib names the size in MAIL FROM, so the server refuses before the data...
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(BOB, ["reply+abc@reply.localhost"], large)
        assert refused.value.smtp_code == 552
        # ...and a client that does not is refused at the end of the data.
        client.rset()
        client.mail(BOB)
        client.rcpt("reply+abc@reply.localhost")
        assert client.data(large)[0] == 552

    assert not InboundEmail.objects.exists()


# --- TLS --------------------------------------------------------------------------------


def test_starttls_is_offered_with_a_certificate_and_the_message_goes_through_it(
    settings, smtp_server, tmp_path
):
    settings.SMTPD_TLS_CERT, settings.SMTPD_TLS_KEY = self_signed_certificate(tmp_path)
    port = smtp_server()
    raw = b"From: bob@corp.example.com\r\nSubject: tls\r\nMessage-ID: <tls1@x>\r\n\r\nYes\r\n"

    with connect(port) as client:
        assert client.has_extn("starttls")
        assert client.starttls(context=trusting(settings.SMTPD_TLS_CERT))[0] == 220
        client.ehlo("mx.corp.example.com")
        assert client.sendmail(BOB, ["reply+abc@reply.localhost"], raw) == {}

    assert InboundEmail.objects.get().raw.read().endswith(raw)


def test_without_a_certificate_starttls_is_not_offered(port):
    with connect(port) as client:
        assert not client.has_extn("starttls")


def test_a_certificate_without_its_key_is_a_configuration_error(tmp_path):
    cert, _ = self_signed_certificate(tmp_path)

    with pytest.raises(ImproperlyConfigured, match="both SMTPD_TLS_CERT and SMTPD_TLS_KEY"):
        tls_context(cert, "")
    with pytest.raises(ImproperlyConfigured, match="could not be loaded"):
        tls_context(cert, str(tmp_path / "missing.key"))


# --- failures: the sending server keeps the message and tries again ---------------------


def _failing(error: Exception):
    def fail(*args, **kwargs):
        raise error

    return fail


@pytest.mark.parametrize(
    ("target", "error"),
    [
        (InboundEmail, OperationalError("server closed the connection unexpectedly")),
        (InboundEmail, InterfaceError("connection already closed")),
        (DurableFileSystemStorage, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))),
        (InboundEmail, RuntimeError("a bug of ours")),
    ],
    ids=["database-down", "connection-closed", "disk-full", "a-bug"],
)
def test_a_failure_to_store_is_a_451_and_the_retry_after_recovery_is_stored_once(
    asked, port, monkeypatch, caplog, target, error
):
    request = asked("failed-login")
    raw = raw_reply(request, "No").encode()
    method = "save" if target is InboundEmail else "_save"
    monkeypatch.setattr(target, method, _failing(error))
    files = stored_files()

    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(port, raw, [reply_address(request)])

    assert refused.value.smtp_code == 451
    assert not InboundEmail.objects.exists() and stored_files() == files
    logged = [r.getMessage() for r in caplog.records if r.name == "mailflow.smtp_receiver"]
    assert len(logged) == 1 and type(error).__name__ in logged[0]
    assert "@" not in logged[0] and str(error) not in logged[0]

    monkeypatch.undo()  # the database or the disk is back; the sender tries again
    assert send(port, raw, [reply_address(request)]) == {}
    assert InboundEmail.objects.get().status == "answered"
    assert Answer.objects.filter(request=request).count() == 1


def test_a_value_the_database_refuses_is_a_permanent_refusal_not_a_retry(port, monkeypatch):
    monkeypatch.setattr(InboundEmail, "save", _failing(DataError("invalid byte sequence")))
    raw = b"From: bob@corp.example.com\r\nSubject: x\r\n\r\nYes\r\n"
    files = stored_files()

    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(port, raw, ["reply+abc@reply.localhost"])

    assert refused.value.smtp_code == 554
    assert stored_files() == files


@pytest.mark.postgres
def test_a_connection_the_database_dropped_between_messages_is_replaced(port, monkeypatch):
    # In production a connection lives for CONN_MAX_AGE: the one the server kept may have
    # been dropped since (a restart, a failover). The next message finds it unusable (the
    # settings turn on Django's health checks) and opens another: no 451.
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    message = "From: x@example.com\r\nSubject: {0}\r\nMessage-ID: <{0}@x>\r\n\r\nhi\r\n"
    assert send(port, message.format("before").encode(), ["reply+a@reply.localhost"]) == {}

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchone() == (1,)  # the server's own

    assert send(port, message.format("after").encode(), ["reply+a@reply.localhost"]) == {}
    assert InboundEmail.objects.count() == 2


# --- scenario 2: "Did you download this file?" ------------------------------------------


def test_a_reply_yes_with_a_screenshot_answers_and_files_it_and_the_runbook_branches(asked, port):
    request = asked("policy-violation")
    screenshot = png()
    raw = reply_mime(request, "Yes", attachments=(("screenshot.png", "image/png", screenshot),))

    assert send(port, raw, [reply_address(request)]) == {}

    inbound = InboundEmail.objects.get()
    assert (inbound.provider, inbound.status) == ("SMTP", "answered"), inbound.reason
    answer = Answer.objects.get(request=request)
    assert (answer.option_key, answer.channel, answer.counted) == ("yes", "email_reply", True)
    evidence = Evidence.objects.get(incident=request.incident)
    assert (evidence.filename, evidence.source) == ("screenshot.png", "email_reply")
    assert evidence.sha256 == hashlib.sha256(screenshot).hexdigest()
    assert evidence.provenance["inbound_email"] == inbound.pk
    assert tasks_of(request.incident) == [
        ("Confirm the download with the user", Task.COMPLETED),
        ("Analyse the evidence provided by the user", Task.OPEN),
    ]
    assert request.incident.timeline.filter(kind="answer.received").count() == 1


def test_a_bounce_to_the_reply_address_takes_the_undeliverable_branch(asked, port):
    request = asked("policy-violation")

    assert send(port, delivery_failure(request), [reply_address(request)], sender="") == {}

    inbound = InboundEmail.objects.get()
    assert inbound.classification == "bounce"
    request.refresh_from_db()
    assert request.state == ConfirmationRequest.State.UNDELIVERABLE
    assert not Answer.objects.exists()
    assert tasks_of(request.incident) == [
        ("Confirm the download with the user", Task.INCOMPLETE),
        ("Contact the affected user", Task.OPEN),
    ]
    assert request.incident.timeline.filter(kind="request.undeliverable").count() == 1
    assert RunbookRun.objects.get(pk=request.run_id).state == RunbookRun.State.COMPLETED


# --- the command ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=False)
def test_the_command_listens_refuses_other_domains_and_stops_on_sigterm():
    port = free_port()
    env = {**os.environ, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "soc.settings",
           "PYTHONUNBUFFERED": "1"}  # fmt: skip
    server = subprocess.Popen(  # noqa: S603 (our own argv)
        [sys.executable, "manage.py", "smtpd", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        started = []
        for line in server.stdout:  # until it says it listens, or exits
            started.append(line)
            if "Receiving mail" in line:
                break
        assert any("Receiving mail for reply.localhost on 127.0.0.1" in line for line in started)
        with connect(port) as client:
            client.mail(BOB)
            assert client.rcpt("someone@example.net")[0] == 550
            assert client.rcpt("reply+abc@reply.localhost")[0] == 250
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)

    assert server.returncode == 0
    assert "Stopped." in output
    # aiosmtpd would log the recipients at INFO, and "reply+[redacted]@" would show.
    assert "@" not in "".join(started) + output
