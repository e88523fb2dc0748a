"""VERP: questions go out with the envelope sender bounce+TOKEN@REPLY_DOMAIN where the
backend honours it, and a bounce sent there ends that question alone, even when it quotes
nothing of our email. Providers' HTTP APIs are faked at requests' edge; SMTP is a real
server on loopback."""

import importlib
import json
import socket
from email import message_from_bytes, policy

import pytest
import requests
from aiosmtpd.controller import Controller
from django.apps import apps as django_apps
from django.core.mail import EmailMessage, get_connection

from core.logging import redact, redact_reply_tokens
from mailflow import parsing
from mailflow.emails import bounce_address, build_request_email, reply_address
from mailflow.inbound import inbound_store_raw
from mailflow.models import Answer, ConfirmationRequest
from mailflow.tokens import bounce_token, reply_token, token_digest
from tests.builders.inbound import raw_reply, titles
from tests.factories import PersonFactory, category, open_incident

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret")]

State = ConfirmationRequest.State


class FakeProvider:
    """A provider's HTTP API that accepts everything and keeps what it was sent."""

    def __init__(self, body: dict):
        self.body = body
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, method: str, url: str, **kwargs) -> requests.Response:
        self.calls.append((url, kwargs))
        body = dict(self.body)
        if body.get("To") == "":  # Postmark names the recipient it accepted
            body["To"] = json.loads(kwargs["data"])["To"]
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.url = url
        return response


@pytest.fixture
def provider(monkeypatch):
    def install(body: dict) -> FakeProvider:
        fake = FakeProvider(body)
        monkeypatch.setattr(requests.Session, "request", lambda s, *a, **kw: fake(*a, **kw))
        return fake

    return install


# --- sending ----------------------------------------------------------------------------


def test_the_bounce_token_is_its_own_secret_in_the_reply_tokens_form():
    assert bounce_token("n1") != reply_token("n1")
    assert bounce_token("n1") == bounce_token("n1") != bounce_token("n2")
    assert parsing.bounce_tokens(
        parsing.parse_message(f"To: bounce+{bounce_token('n1')}@r.example\r\n\r\n".encode()),
        reply_domain="r.example",
    ) == [bounce_token("n1")]


def test_a_question_sent_through_sparkpost_has_the_bounce_address_as_return_path(
    asked, settings, provider
):
    settings.EMAIL_BACKEND = "anymail.backends.sparkpost.EmailBackend"
    settings.ANYMAIL = {"SPARKPOST_API_KEY": "test-key"}
    sparkpost = provider(
        {"results": {"id": "sp-1", "total_accepted_recipients": 1, "total_rejected_recipients": 0}}
    )

    request = asked("failed-login")

    request.refresh_from_db()
    assert request.state == State.SENT
    ((_, sent),) = sparkpost.calls
    assert json.loads(sent["data"])["return_path"] == bounce_address(request)
    assert bounce_address(request).startswith("bounce+")
    assert request.bounce_token_hash == token_digest(bounce_token(request.token_nonce))


def test_amazon_ses_forwards_a_questions_bounces_to_its_bounce_address(asked, settings):
    request = asked("failed-login")
    settings.EMAIL_BACKEND = "anymail.backends.amazon_ses.EmailBackend"
    # No IGNORE_UNSUPPORTED_FEATURES: the email asks SES for nothing it lacks (tracking).
    backend = get_connection()

    payload = backend.build_message_payload(build_request_email(request), backend.send_defaults)

    assert payload.params["FeedbackForwardingEmailAddress"] == bounce_address(request)


@pytest.mark.parametrize(
    ("backend", "body"),
    [
        (
            "anymail.backends.postmark.EmailBackend",
            {
                "To": "",
                "SubmittedAt": "2026-12-04T10:00:00Z",
                "MessageID": "pm-1",
                "ErrorCode": 0,
                "Message": "OK",
            },
        ),
        ("anymail.backends.mailgun.EmailBackend", {"id": "<mg-1@mg>", "message": "Queued"}),
    ],
)
def test_providers_that_keep_their_own_bounce_address_are_given_none(
    asked, settings, provider, backend, body
):
    """Postmark has no envelope sender; Mailgun would use only its domain, to choose the
    sending domain: both send as before and report bounces through tracking."""
    settings.EMAIL_BACKEND = backend
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "t", "MAILGUN_API_KEY": "k"}
    fake = provider(body)

    request = asked("failed-login")

    request.refresh_from_db()
    assert request.state == State.SENT
    ((url, sent),) = fake.calls
    assert "bounce+" not in repr(sent) and settings.REPLY_DOMAIN not in url
    assert not isinstance(getattr(build_request_email(request), "envelope_sender", None), str)


@pytest.mark.parametrize("kind", [{}, {"reminder": True}, {"message_id": "<again@x.example>"}])
def test_reminders_and_emails_sent_again_carry_the_same_bounce_address(asked, settings, kind):
    request = asked("failed-login")
    settings.EMAIL_BACKEND = "mailflow.smtp_backend.EmailBackend"

    assert build_request_email(request, **kind).envelope_sender == bounce_address(request)


def test_with_the_bounce_address_turned_off_nothing_is_set(asked, settings):
    request = asked("failed-login")
    settings.EMAIL_BACKEND = "anymail.backends.sparkpost.EmailBackend"
    settings.EMAIL_BOUNCE_ADDRESS = False

    assert not isinstance(getattr(build_request_email(request), "envelope_sender", None), str)


class Recorder:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback, and the app's SMTP backend pointed at it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "mailflow.smtp_backend.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    yield recorder
    controller.stop()


def test_the_smtp_backend_gives_the_bounce_address_as_mail_from(asked, smtp_server, bob):
    request = asked("failed-login")

    request.refresh_from_db()
    assert request.state == State.SENT
    (envelope,) = smtp_server.envelopes
    assert envelope.mail_from == bounce_address(request)
    assert envelope.rcpt_tos == [bob.email]
    sent = message_from_bytes(envelope.content, policy=policy.default)
    assert sent["Reply-To"] == reply_address(request) and "bounce+" not in str(sent["From"])


def test_the_smtp_backend_sends_other_email_from_its_from_address(smtp_server):
    EmailMessage("Hi", "Body", "soc@corp.example.com", ["ann@corp.example.com"]).send()

    (envelope,) = smtp_server.envelopes
    assert envelope.mail_from == "soc@corp.example.com"


def test_the_local_mailbox_shows_the_bounce_address_as_return_path(asked, settings, tmp_path):
    settings.EMAIL_BACKEND = "mailflow.localmail.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path

    request = asked("failed-login")

    (stored,) = tmp_path.glob("*.eml")
    kept = message_from_bytes(stored.read_bytes(), policy=policy.default)
    assert kept["Return-Path"] == f"<{bounce_address(request)}>"


def test_the_migration_gives_existing_questions_their_bounce_token(asked):
    request = asked("failed-login")
    ConfirmationRequest.objects.filter(pk=request.pk).update(bounce_token_hash=None)
    migration = importlib.import_module("mailflow.migrations.0020_bounce_token_hash")

    migration.fill_bounce_token_hashes(django_apps, None)

    request.refresh_from_db()
    assert request.bounce_token_hash == token_digest(bounce_token(request.token_nonce))


def test_bounce_tokens_are_redacted_like_reply_tokens():
    address = f"bounce+{bounce_token('n1')}@reply.example.com"

    assert redact_reply_tokens(f"To: <{address}>") == "To: <bounce+[redacted]@reply.example.com>"
    assert bounce_token("n1") not in redact(f"Sending to {address}")


# --- receiving --------------------------------------------------------------------------


def bare_dsn(
    to: str,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    subject: str = "Undelivered Mail Returned to Sender",
) -> str:
    """A delivery report that quotes nothing of the original: no headers, no Message-ID,
    no reply address. Only the envelope it came back to says which email it was."""
    return (
        "Return-Path: <>\r\n"
        "From: Mail Delivery System <MAILER-DAEMON@mx.corp.example.com>\r\n"
        f"To: {to}\r\nDelivered-To: {to}\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <dsn-{status}-{to[7:20]}@mx.corp.example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThe mailbox could not be reached.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.corp.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; bob@corp.example.com\r\nAction: {action}\r\n"
        f"Status: {status}\r\n--b--\r\n"
    )


def assert_undeliverable_branch(request: ConfirmationRequest) -> None:
    request.refresh_from_db()
    assert request.state == State.UNDELIVERABLE
    assert request.incident.timeline.filter(kind="request.undeliverable").count() == 1
    assert titles(request) == ["Contact Bob Builder directly"]


def test_a_bounce_to_the_bounce_address_takes_the_undeliverable_branch(asked, deliver):
    request = asked("failed-login")

    inbound = deliver(bare_dsn(bounce_address(request)))

    assert (inbound.classification, inbound.correlation) == ("bounce", "bounce address")
    assert inbound.request == request
    assert_undeliverable_branch(request)


def test_a_bounce_read_from_a_mailbox_takes_the_undeliverable_branch(asked, committed):
    request = asked("failed-login")
    raw = bare_dsn(bounce_address(request)).encode()

    inbound, new = committed(inbound_store_raw, source="IMAP bounces", raw=raw)

    inbound.refresh_from_db()
    assert new and (inbound.status, inbound.correlation) == ("ignored", "bounce address")
    assert_undeliverable_branch(request)


def test_a_bounce_to_one_bounce_address_ends_that_question_alone(asked, deliver, committed):
    first = asked("failed-login")
    ann = PersonFactory(email="ann@corp.example.com", first_name="Ann", last_name="Other")
    other = committed(open_incident, category=category("failed-login"), affected_user=ann)
    second = ConfirmationRequest.objects.get(incident=other)
    # It quotes the other question's Message-ID: the envelope it came back to decides.
    dsn = bare_dsn(bounce_address(first)).replace(
        "--b--", f"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: "
        f"{second.message_id}\r\n--b--",
    )  # fmt: skip

    deliver(dsn)

    assert_undeliverable_branch(first)
    second.refresh_from_db()
    assert second.state == State.SENT


def test_a_forged_bounce_token_ties_nothing(asked, deliver, settings):
    request = asked("failed-login")
    forged = f"bounce+{'a' * 32}@{settings.REPLY_DOMAIN}"  # a token's form, not ours

    inbound = deliver(bare_dsn(forged))

    assert (inbound.status, inbound.correlation) == ("flagged", "none")
    assert inbound.request is None
    request.refresh_from_db()
    assert request.state == State.SENT
    assert not request.incident.timeline.filter(kind="request.undeliverable").exists()
    assert titles(request) == []


def test_a_delay_to_the_bounce_address_is_noted_and_the_question_stays_open(asked, deliver):
    request = asked("failed-login")

    delay = bare_dsn(
        bounce_address(request),
        status="4.2.2",
        action="delayed",
        subject="Delivery Status Notification (Delay)",
    )

    inbound = deliver(delay)

    assert (inbound.classification, inbound.correlation) == ("delay", "bounce address")
    request.refresh_from_db()
    assert request.state == State.SENT
    assert request.incident.timeline.filter(kind="request.delayed").count() == 1
    assert titles(request) == []


def test_a_reply_to_the_bounce_address_is_held_never_the_answer(asked, deliver):
    request = asked("failed-login")
    raw = raw_reply(request, "No, that was not me.").replace(
        f"To: {reply_address(request)}", f"To: {bounce_address(request)}"
    )

    inbound = deliver(raw)

    assert (inbound.status, inbound.classification) == ("flagged", "reply")
    assert inbound.correlation == "bounce address" and "bounce address" in inbound.reason
    assert not Answer.objects.filter(request=request).exists()
    request.refresh_from_db()
    assert request.state == State.SENT
    assert request.incident.timeline.filter(kind="reply.unverified").count() == 1
