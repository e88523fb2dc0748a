"""What the mail tests share: a question asked by a shipped runbook, the inbound webhooks'
secrets, a Postmark delivery of raw MIME, the person's browser on the answer page, and a
real IMAP server (Dovecot) with a mailbox configured to read it."""

import json
from uuid import uuid4

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse

from bench.dovecot import DOVECOT, PASSWORD, USER, Dovecot, empty_mailbox, start_dovecot
from mailflow.models import ConfirmationRequest, InboundEmail, Mailbox
from tests.builders.answers import FIREFOX
from tests.builders.inbound import AUTH, SECRET, SIGNING_KEY
from tests.factories import category, open_incident


@pytest.fixture
def asked(shipped, committed, bob):
    """Open an incident whose shipped runbook emails Bob; returns its request."""

    def ask(slug: str = "policy-violation") -> ConfirmationRequest:
        incident = committed(open_incident, category=category(slug), affected_user=bob)
        return ConfirmationRequest.objects.get(incident=incident)

    return ask


@pytest.fixture
def outbox():
    return mail.outbox


@pytest.fixture
def webhook_secrets():
    """The inbound webhooks' basic-auth secret and Mailgun's signing key."""
    with override_settings(
        ANYMAIL={"WEBHOOK_SECRET": SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY}
    ):
        yield


@pytest.fixture
def webhook_secret():
    """The inbound webhooks' basic-auth secret alone."""
    with override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET}):
        yield


@pytest.fixture
def deliver(committed, client):
    """Post raw MIME through Postmark's webhook (RawEmail only), running what it defers to
    commit; returns the stored message."""

    def post(raw: str) -> InboundEmail:
        payload = {"FromFull": {"Email": "x@example.com"}, "Headers": [], "RawEmail": raw}
        response = committed(
            client.post,
            reverse("anymail:postmark_inbound_webhook"),
            data=json.dumps(payload),
            content_type="application/json",
            **AUTH,
        )
        assert response.status_code == 200
        return InboundEmail.objects.order_by("-id").first()

    return post


@pytest.fixture
def fresh_cache(settings):
    """Rate limits and scanner timing live in the cache: a new, private one per test."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"answer-page-{uuid4()}",
        }
    }


@pytest.fixture
def browser() -> Client:
    """The person asked, in an ordinary desktop browser (a Django test client)."""
    return Client(HTTP_USER_AGENT=FIREFOX)


@pytest.fixture(scope="module")
def dovecot_server():
    """A private Dovecot for a module's tests (bench.dovecot)."""
    if not DOVECOT:
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd; CI has it)")
    server = start_dovecot()
    yield server
    server.stop()


@pytest.fixture
def dovecot(dovecot_server, settings) -> Dovecot:
    """The server with an empty INBOX, its certificate trusted like a private CA's."""
    empty_mailbox(dovecot_server)
    settings.MAILBOX_CA_FILE = dovecot_server.ca_file
    return dovecot_server


@pytest.fixture
def imap_mailbox(dovecot, monkeypatch, db):
    """A mailbox configured for the test server, its password in the environment."""
    monkeypatch.setenv("TEST_IMAP_PASSWORD", PASSWORD)

    def configure(**changes) -> Mailbox:
        fields = {
            "name": "replies",
            "host": "127.0.0.1",
            "port": dovecot.imaps_port,
            "username": USER,
            "secret_env": "TEST_IMAP_PASSWORD",
            "processed_folder": "Processed",
            **changes,
        }
        return Mailbox.objects.create(**fields)

    return configure
