"""Input that poisons a naive receiver: NUL characters (PostgreSQL refuses them in text and
JSON, SQLite keeps them). Through the real anymail webhook views and the answer page; run
on PostgreSQL as well (DATABASE_URL=postgres://...)."""

import pytest
from django.db import DataError
from django.test import override_settings

from mailflow.inbound import inbound_process
from mailflow.models import Answer, InboundEmail, TrackingEvent
from tests.mailflow.test_answer_page import (
    browser,  # noqa: F401 (fixture)
    fresh_cache,  # noqa: F401 (autouse fixture: a private cache per test)
    land,
    links,
    settle,
)
from tests.mailflow.test_inbound_providers import (
    PROVIDERS,
    deliver,
    reply_mime,
    webhook_secrets,  # noqa: F401 (autouse fixture: the webhook secrets)
)
from tests.mailflow.test_tracking import (
    POSTMARK_URL,
    assert_took_the_undeliverable_branch,
    postmark_bounce,
)
from tests.mailflow.test_tracking import post as post_tracking

pytestmark = pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")

State = InboundEmail.Status


# --- NUL in inbound email ---------------------------------------------------------------


def nul_reply(request) -> bytes:
    """A reply with NUL in its subject and in a Message-ID it refers to."""
    subject = f"Re: [{request.incident.number}] sign\x00-ins"
    raw = reply_mime(request, "No", subject=subject)
    return raw.replace(b"References: ", b"References: <forged\x00id@corp.example.com> ", 1)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_nul_in_an_inbound_subject_is_removed_and_the_reply_is_answered(
    asked, committed, client, provider
):
    request = asked("failed-login")

    response = deliver(committed, client, provider, nul_reply(request))

    assert response.status_code == 200
    stored = InboundEmail.objects.get()
    assert stored.subject == f"Re: [{request.incident.number}] sign-ins"
    assert stored.status == State.ANSWERED, stored.reason
    assert Answer.objects.get(request=request).option_key == "no"
    answered = request.incident.timeline.filter(kind="answer.received")
    assert answered.count() == 1


@pytest.mark.parametrize("provider", [name for name in PROVIDERS if name != "amazon-ses"])
def test_a_nul_in_a_post_read_by_the_worker_is_removed_and_the_reply_is_answered(
    asked, committed, client, provider
):
    request = asked("failed-login")
    with override_settings(INBOUND_DEFER_BYTES=0):
        response = deliver(committed, client, provider, nul_reply(request))
    assert response.status_code == 200

    committed(inbound_process, InboundEmail.objects.get().pk)

    stored = InboundEmail.objects.get()
    assert (stored.status, stored.attempts) == (State.ANSWERED, 1), stored.reason
    assert "\x00" not in stored.subject and stored.subject.endswith("sign-ins")
    assert Answer.objects.get(request=request).option_key == "no"


def test_a_nul_in_a_postmark_bounce_event_is_removed_and_the_bounce_counts(
    asked, client, committed
):
    request = asked("failed-login")
    bounce = postmark_bounce(
        request,
        MessageID="883953f4\x00-6105",
        Subject="Please confirm\x00",
        Description="Unknown\x00 user.",
        Details="smtp;550 5.1.1 no such user\x00",
    )

    response = post_tracking(client, committed, POSTMARK_URL, bounce)

    assert response.status_code == 200
    event = TrackingEvent.objects.get()
    assert event.description == "Unknown user.\nsmtp;550 5.1.1 no such user"
    assert (event.message_id, event.raw["Subject"]) == ("883953f4-6105", "Please confirm")
    assert_took_the_undeliverable_branch(request)


def test_a_value_the_database_refuses_is_a_400_not_a_retry(
    asked, committed, client, monkeypatch, caplog
):
    # Whatever cleaning misses: the provider must not be told to retry forever.
    request = asked("failed-login")
    monkeypatch.setattr(InboundEmail, "save", lambda *a, **k: (_ for _ in ()).throw(DataError()))

    response = deliver(committed, client, "postmark-raw", reply_mime(request, "No"))

    assert response.status_code == 400
    assert b"DataError" in response.content
    assert "Retry-After" not in response
    monkeypatch.undo()
    assert not InboundEmail.objects.exists()
    assert "malformed payload, DataError" in caplog.text


# --- NUL on the answer page -------------------------------------------------------------


def test_a_nul_in_the_answer_pages_comment_is_removed(asked, outbox, browser, committed):  # noqa: F811
    request = asked("failed-login")
    settle(request)
    land(browser, links(outbox[0])["yes"])

    response = committed(
        browser.post, "/respond/", {"choice": "yes", "comment": "It was me\x00, at home."}
    )

    assert response.status_code == 303
    answer = Answer.objects.get()
    assert (answer.option_key, answer.comment) == ("yes", "It was me, at home.")
    assert request.incident.timeline.filter(kind="answer.received").count() == 1


def test_a_nul_in_the_answer_pages_choice_is_refused(asked, outbox, browser, committed):  # noqa: F811
    request = asked("failed-login")
    settle(request)
    land(browser, links(outbox[0])["yes"])

    response = committed(browser.post, "/respond/", {"choice": "yes\x00"})

    assert response.status_code == 400
    assert "Please choose one of the answers." in response.content.decode()
    assert not Answer.objects.exists()
    assert not request.incident.timeline.filter(kind="answer.received").exists()
