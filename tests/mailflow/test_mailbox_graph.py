"""A Microsoft 365 mailbox on the Mailboxes page, polled by the same schedule as IMAP's:
poll_mailboxes enqueues it, mailbox_poll runs a Graph round under the mailbox's lease,
keeps the delta link in `cursor` and records the outcome (status, failures, backoff,
Retry-After). Only Graph's and Entra ID's HTTP is replaced, at the transport
(tests.builders.graph); the admin, the schedule, MSAL, the store and the runbook are real.

Transactional: a Graph round refuses to run inside a transaction."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from core.actors import Actor
from mailflow.graph_client import graph_client_for
from mailflow.mailbox_polling import graph_config, mailbox_save
from mailflow.models import Answer, InboundEmail, Mailbox
from mailflow.tasks import poll_mailboxes
from tests.builders.graph import (
    CLIENT_ID,
    CLIENT_SECRET,
    MAILBOX,
    TENANT,
    FakeGraph,
    certificate_pem,
)
from tests.builders.inbound import message, raw_reply, titles

# serialized_rollback: the seeded data (categories, groups) comes back for the tests after.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SECRET_ENV = "TEST_GRAPH_CLIENT_SECRET"


@pytest.fixture
def graph(monkeypatch) -> Iterator[FakeGraph]:
    fake = FakeGraph()
    fake.serve_every_client(monkeypatch)
    monkeypatch.setenv(SECRET_ENV, CLIENT_SECRET)
    yield fake
    graph_client_for.cache_clear()  # its clients talk to this fake alone


def graph_mailbox(**changes) -> Mailbox:
    mailbox = Mailbox(
        **{
            "name": "replies",
            "kind": Mailbox.Kind.GRAPH,
            "tenant_id": TENANT,
            "oauth_client_id": CLIENT_ID,
            "username": MAILBOX,
            "secret_env": SECRET_ENV,
            "processed_folder": "Processed",
            **changes,
        }
    )
    return mailbox_save(mailbox=mailbox, actor=Actor.system())


def scheduled_poll(mailbox: Mailbox) -> None:
    """The minute's schedule, with the mailbox due (as after its interval)."""
    Mailbox.objects.filter(pk=mailbox.pk).update(next_poll_at=timezone.now())
    poll_mailboxes()
    mailbox.refresh_from_db()


def test_a_mailbox_added_in_the_admin_is_polled_by_the_schedule(admin_client, asked, graph):
    request = asked("failed-login")
    graph.deliver(raw_reply(request, "No, that was not me."))
    form = {
        "name": "replies",
        "kind": "graph",
        "enabled": "on",
        "folder": "INBOX",
        "processed_folder": "Processed",
        "poll_interval": "60",
        "username": MAILBOX,
        "secret_env": SECRET_ENV,
        "oauth_client_id": CLIENT_ID,
        "tenant_id": TENANT,
        # The IMAP fields left as the form shows them, host empty.
        "host": "",
        "port": "993",
        "security": "tls",
        "auth": "password",
        "oauth_grant": "client_credentials",
    }

    added = admin_client.post(reverse("admin:mailflow_mailbox_add"), form)

    assert added.status_code == 302
    mailbox = Mailbox.objects.get()
    assert (mailbox.kind, mailbox.source, mailbox.cursor) == ("graph", "Graph replies", "")

    scheduled_poll(mailbox)

    inbound = InboundEmail.objects.get()
    assert (inbound.provider, inbound.status) == ("Graph replies", "answered")
    assert Answer.objects.get(request=request).option_key == "no"
    assert titles(request) == ["Reset the credentials of Bob Builder"]
    assert graph.inbox == {} and len(graph.processed) == 1
    assert "$deltatoken=" in mailbox.cursor
    assert (mailbox.last_error, mailbox.consecutive_failures, mailbox.lease_until) == ("", 0, None)
    assert mailbox.last_success_at and mailbox.next_poll_at > timezone.now() + timedelta(seconds=50)
    first_link = mailbox.cursor

    scheduled_poll(mailbox)

    assert InboundEmail.objects.count() == 1
    assert Answer.objects.filter(request=request).count() == 1
    # The second round started from the kept link, and moved on to Graph's next one.
    [_, second] = graph.requests_to("GET", "/messages/delta")
    assert second.url == first_link
    assert mailbox.cursor != first_link and "$deltatoken=" in mailbox.cursor
    assert len(graph.requests_to("GET", "/$value")) == 1  # the reply, read once
    page = admin_client.get(reverse("admin:mailflow_mailbox_changelist")).content.decode()
    assert "Microsoft 365 (Graph)" in page


def test_a_throttled_round_waits_past_retry_after_and_keeps_the_old_link(graph):
    mailbox = graph_mailbox()
    graph.deliver(message(to="someone@reply.localhost", body="First", mid="m1"))
    scheduled_poll(mailbox)
    kept = mailbox.cursor
    graph.deliver(message(to="someone@reply.localhost", body="Second", mid="m2"))
    graph.fail("GET", "/messages/delta", status=429, body="error-429",
               headers={"Retry-After": "3600"})  # fmt: skip

    scheduled_poll(mailbox)

    assert "429 ApplicationThrottled" in mailbox.last_error
    assert mailbox.consecutive_failures == 1 and mailbox.lease_until is None
    assert mailbox.next_poll_at >= timezone.now() + timedelta(seconds=3590)
    assert mailbox.cursor == kept
    assert InboundEmail.objects.count() == 1

    poll_mailboxes()  # not due yet: nothing is asked of Graph
    assert len(graph.requests_to("GET", "/messages/delta")) == 2

    scheduled_poll(mailbox)

    assert InboundEmail.objects.count() == 2 and graph.inbox == {}
    assert (mailbox.last_error, mailbox.consecutive_failures) == ("", 0)
    assert mailbox.cursor != kept


def test_bad_credentials_are_shown_on_the_mailbox_and_back_off(graph, monkeypatch, caplog):
    monkeypatch.setenv(SECRET_ENV, "wrong-secret-value")
    mailbox = graph_mailbox(poll_interval=60)
    graph.deliver(message(to="someone@reply.localhost", body="Waiting", mid="m1"))

    scheduled_poll(mailbox)
    first_wait = mailbox.next_poll_at - timezone.now()
    scheduled_poll(mailbox)
    second_wait = mailbox.next_poll_at - timezone.now()

    assert "client secret is wrong" in mailbox.last_error
    assert "wrong-secret-value" not in mailbox.last_error
    assert mailbox.consecutive_failures == 2 and mailbox.last_success_at is None
    assert timedelta(seconds=100) < first_wait < timedelta(seconds=130)
    assert timedelta(seconds=220) < second_wait < timedelta(seconds=250)
    assert mailbox.cursor == "" and not InboundEmail.objects.exists()
    assert len(graph.inbox) == 1
    assert "wrong-secret-value" not in caplog.text and MAILBOX not in caplog.text


def test_an_unset_variable_is_shown_without_asking_entra_id(graph, monkeypatch):
    monkeypatch.delenv(SECRET_ENV)
    mailbox = graph_mailbox()

    scheduled_poll(mailbox)

    assert mailbox.last_error == f"The environment variable {SECRET_ENV} is not set."
    assert mailbox.consecutive_failures == 1 and graph.sent == []


def test_the_variable_may_hold_a_certificate_instead_of_the_secret(graph, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, certificate_pem())
    mailbox = graph_mailbox()
    graph.deliver(message(to="someone@reply.localhost", body="Signed in", mid="m1"))

    scheduled_poll(mailbox)

    assert (mailbox.last_error, InboundEmail.objects.count()) == ("", 1)
    [token_request] = graph.requests_to("POST", "/oauth2/v2.0/token")
    assert "client_assertion=" in token_request.body and "client_secret" not in token_request.body


def test_the_inbox_is_graphs_well_known_folder_and_others_pass_as_given(graph):
    assert graph_config(graph_mailbox()).folder == "inbox"
    assert graph_config(graph_mailbox(name="other", folder="AAMkAGI2THVSAAA=")).folder == (
        "AAMkAGI2THVSAAA="
    )


def test_pointing_the_mailbox_elsewhere_starts_its_delta_over(graph):
    mailbox = graph_mailbox()
    graph.deliver(message(to="someone@reply.localhost", body="First", mid="m1"))
    scheduled_poll(mailbox)
    assert mailbox.cursor

    mailbox.poll_interval = 120
    mailbox_save(mailbox=mailbox, actor=Actor.system())
    mailbox.refresh_from_db()
    assert mailbox.cursor  # the same folder: its link still holds

    mailbox.folder = "archive"
    mailbox_save(mailbox=mailbox, actor=Actor.system())
    mailbox.refresh_from_db()
    assert mailbox.cursor == ""


def test_each_kind_needs_its_own_fields():
    graph = Mailbox(name="m365", kind="graph", username=MAILBOX, secret_env=SECRET_ENV)
    with pytest.raises(ValidationError) as refused:
        graph.full_clean()
    assert set(refused.value.message_dict) == {"tenant_id", "oauth_client_id", "processed_folder"}
    assert "host" not in refused.value.message_dict  # IMAP's server is not Graph's business

    imap = Mailbox(name="imap", kind="imap", username="u", secret_env=SECRET_ENV, port=None)
    with pytest.raises(ValidationError) as refused:
        imap.full_clean()
    assert set(refused.value.message_dict) == {"host", "port"}

    Mailbox(
        name="m365", kind="graph", username=MAILBOX, secret_env=SECRET_ENV,
        tenant_id=TENANT, oauth_client_id=CLIENT_ID, processed_folder="Processed",
    ).full_clean()  # fmt: skip
