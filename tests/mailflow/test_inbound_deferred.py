"""Inbound posts larger than INBOUND_DEFER_BYTES (Postmark, Mailgun, SendGrid): kept as they
came and read by the worker. Here the limit is lowered so that ordinary replies take that
path; test_inbound_providers covers the same providers read in the request."""

import pytest
from django.test import override_settings
from django.urls import reverse

from bench.replies import reply_mime
from mailflow.emails import reply_address
from mailflow.inbound import process
from mailflow.inbound.process import inbound_process
from mailflow.models import Answer, InboundEmail
from tests.builders.inbound import (
    AUTH,
    MALFORMED_FORMS,
    MALFORMED_JSON,
    PROVIDERS,
    deliver,
    mailgun_signature,
    malformed_form,
    post_json,
    stored_files,
    tasks_of,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
    pytest.mark.usefixtures("webhook_secrets", "every_post_deferred"),
]
DEFERRED = [name for name in PROVIDERS if name != "amazon-ses"]  # SES: always in the request
FOLLOW_UP = "Reset the credentials of Bob Builder"


@pytest.fixture
def every_post_deferred():
    with override_settings(INBOUND_DEFER_BYTES=0):
        yield


@pytest.mark.parametrize("provider", DEFERRED)
def test_the_post_is_kept_until_the_worker_reads_it(asked, committed, client, provider):
    request = asked("failed-login")
    before = stored_files()

    response = PROVIDERS[provider](client, reply_mime(request, "No"), "event-1", AUTH)

    assert response.status_code == 200
    stored = InboundEmail.objects.get()
    assert (stored.status, stored.message_id, bool(stored.post), bool(stored.raw)) == (
        InboundEmail.Status.RECEIVED, "", True, False
    )  # fmt: skip
    assert [path.suffix for path in stored_files() - before] == [".post"]

    committed(inbound_process, stored.pk)

    stored.refresh_from_db()
    assert (stored.status, bool(stored.post), bool(stored.raw)) == (
        InboundEmail.Status.ANSWERED, False, True
    )  # fmt: skip
    assert stored.message_id and stored.subject.startswith("Re: ")
    assert [path.suffix for path in stored_files() - before] == [".eml"]
    assert Answer.objects.get(request=request).option_key == "no"
    assert [title for title, _ in tasks_of(request.incident)] == [FOLLOW_UP]


@pytest.mark.parametrize("provider", DEFERRED)
def test_another_post_of_the_same_message_is_kept_as_a_duplicate(
    asked, committed, client, provider
):
    request = asked("failed-login")
    raw = reply_mime(request, "No")

    for event_id in ("event-1", "event-1", "event-2"):  # a retry, then a new event id
        assert deliver(committed, client, provider, raw, event_id=event_id).status_code == 200

    first, *others = InboundEmail.objects.order_by("pk")
    assert first.status == InboundEmail.Status.ANSWERED
    assert others, "the post with a new event id is a post of its own"
    reason = f"The same message as inbound email {first.pk}, delivered again."
    assert [(s.status, s.reason, bool(s.post)) for s in others] == [
        (InboundEmail.Status.DUPLICATE, reason, False)
    ] * len(others)
    assert Answer.objects.filter(request=request).count() == 1
    assert [title for title, _ in tasks_of(request.incident)] == [FOLLOW_UP]


def assert_kept_and_failed(body: bytes | None = None) -> InboundEmail:
    """Failed at once (reading it again cannot succeed), with the reason, the post kept."""
    stored = InboundEmail.objects.get()
    assert (stored.status, stored.attempts) == (InboundEmail.Status.FAILED, 1)
    assert stored.reason.startswith(
        ("The provider's post could not be read (", "The webhook post holds no email message.")
    )
    with stored.post.open("rb") as handle:
        kept = handle.read()
    assert kept == body if body is not None else kept
    assert not Answer.objects.exists()
    return stored


@pytest.mark.parametrize("case", MALFORMED_JSON)
def test_a_malformed_post_is_kept_and_failed(db, committed, client, case, caplog):
    _, body = MALFORMED_JSON[case]

    response = committed(post_json, client, "postmark", body, AUTH)

    # Authenticated, so from our provider; too large to read in the request. Kept for an
    # analyst and acknowledged, since posting it again cannot help.
    assert response.status_code == 200
    assert_kept_and_failed(body)
    # The log says what failed, never what was posted.
    assert "FromFull" not in caplog.text and "QUJDRA" not in caplog.text


@pytest.mark.parametrize("case", MALFORMED_FORMS)
def test_a_malformed_form_post_is_kept_and_failed(db, committed, client, case):
    esp, data = malformed_form(case)

    response = committed(client.post, reverse(f"anymail:{esp}_inbound_webhook"), data=data, **AUTH)

    assert response.status_code == 200
    assert_kept_and_failed()


def test_a_failed_post_shows_in_the_admin_as_kept(db, committed, client, admin_client):
    committed(post_json, client, "postmark", b"[1, 2, 3]", AUTH)
    stored = assert_kept_and_failed(b"[1, 2, 3]")

    page = admin_client.get(reverse("admin:mailflow_inboundemail_change", args=[stored.pk]))

    assert page.status_code == 200
    assert b"Not parsed: the provider&#x27;s post is kept as it came" in page.content
    assert b"The provider&#x27;s post could not be read (" in page.content


def test_a_failure_after_reading_keeps_the_post_and_leaves_no_file(asked, client, monkeypatch):
    request = asked("failed-login")
    PROVIDERS["postmark-raw"](client, reply_mime(request, "No"), "event-1", AUTH)
    stored = InboundEmail.objects.get()
    before = stored_files()
    monkeypatch.setattr(process, "_process", lambda *args: 1 / 0)

    inbound_process(stored.pk)

    # Rolled back whole: still the post, waiting for its retry; the message file this
    # attempt wrote is gone.
    stored.refresh_from_db()
    assert (stored.status, stored.attempts, bool(stored.post), bool(stored.raw)) == (
        InboundEmail.Status.RECEIVED, 1, True, False
    )  # fmt: skip
    assert stored.reason.startswith("ZeroDivisionError")
    assert stored_files() == before


# --- Mailgun's signature, read from the streamed form -----------------------------------


def _signed_mailgun_form(request) -> dict[str, str]:
    return {
        "recipient": reply_address(request),
        "body-mime": reply_mime(request, "No").decode(),
        **mailgun_signature("t"),
    }


@pytest.mark.parametrize("field", ["signature", "timestamp", "token"])
def test_a_large_mailgun_post_with_a_bad_signature_is_refused(asked, committed, client, field):
    data = _signed_mailgun_form(asked("failed-login"))
    before = stored_files()
    data[field] = data[field][::-1] + "0"

    response = committed(client.post, reverse("anymail:mailgun_inbound_webhook"), data=data, **AUTH)

    assert response.status_code == 400
    assert not InboundEmail.objects.exists() and stored_files() == before


def test_a_large_mailgun_post_without_credentials_is_refused(asked, committed, client):
    data = _signed_mailgun_form(asked("failed-login"))
    before = stored_files()

    response = committed(client.post, reverse("anymail:mailgun_inbound_webhook"), data=data)

    assert response.status_code == 400
    assert not InboundEmail.objects.exists() and stored_files() == before


def test_a_large_mailgun_form_that_cannot_be_read_is_refused_as_unsigned(db, committed, client):
    before = stored_files()
    response = committed(
        client.post,
        reverse("anymail:mailgun_inbound_webhook"),
        data=b"--b\r\nContent-Disposition: form-data; name=token",  # no header end
        content_type="multipart/form-data; boundary=b",
        **AUTH,
    )

    assert response.status_code == 400
    assert not InboundEmail.objects.exists() and stored_files() == before


def test_the_last_of_repeated_signature_fields_counts_as_anymail_reads_them(
    asked, committed, client
):
    request = asked("failed-login")
    data = _signed_mailgun_form(request)
    # A forged signature first, the valid one last (Django's test client posts a list as
    # repeated fields).
    data["signature"] = ["0" * 64, data["signature"]]

    response = committed(client.post, reverse("anymail:mailgun_inbound_webhook"), data=data, **AUTH)

    assert response.status_code == 200
    assert InboundEmail.objects.get().status == InboundEmail.Status.ANSWERED
    assert Answer.objects.get(request=request).option_key == "no"
