"""A shared Microsoft 365 mailbox read through Microsoft Graph (for tenants without IMAP):
each round follows the folder's delta, stores every new message as raw MIME and moves it
to the processed folder only after its row has committed. Only Graph's and Entra ID's
HTTP is replaced, at the transport (tests.builders.graph); MSAL, the store, the processing
and the runbook run for real.

Transactional: poll_graph_mailbox refuses to run inside a transaction, since a message may
be moved only once its row has committed."""

import hashlib
import logging
import tracemalloc
from datetime import UTC, datetime

import pytest
import requests

from bench.payloads import png
from bench.replies import reply_mime
from incidents.models import Evidence, ResponseTask
from mailflow.graph_client import GRAPH, GraphConfig, graph_client_for
from mailflow.graph_mailbox import poll_graph_mailbox
from mailflow.models import Answer, ConfirmationRequest, InboundEmail
from tests.builders.crashes import WorkerKilled
from tests.builders.graph import CLIENT_SECRET, CONFIG, MAILBOX, FakeGraph, certificate_pem
from tests.builders.inbound import delivery_report, message, raw_reply, tasks_of, titles

# serialized_rollback: the seeded data (categories, groups) comes back for the tests after.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

NOW = datetime(2026, 12, 6, 1, 0, tzinfo=UTC)


@pytest.fixture
def graph() -> FakeGraph:
    return FakeGraph()


@pytest.fixture
def poll(graph):
    """One round, by the same client each time (its token kept, as in production)."""
    client = graph.client()

    def round_(delta_link: str = "", config: GraphConfig = CONFIG):
        used = client if config is CONFIG else graph.client(config)
        return poll_graph_mailbox(config, delta_link, client=used, now=lambda: NOW)

    return round_


def plain(number: int) -> str:
    return message(to="someone@reply.localhost", body=f"Message {number}", mid=f"m{number}")


# --- rounds -----------------------------------------------------------------------------


def test_a_first_round_stores_each_message_once_and_moves_it(graph, poll):
    ids = [graph.deliver(plain(number)) for number in range(3)]  # two pages of delta

    result = poll()

    assert (result.stored, result.new, result.moved, result.error) == (3, 3, 3, "")
    assert result.delta_link.startswith(f"{GRAPH}/users/") and "$deltatoken=" in result.delta_link
    stored = InboundEmail.objects.order_by("message_id")
    assert [row.message_id for row in stored] == ["<m0@corp.example.com>", "<m1@corp.example.com>",
                                                  "<m2@corp.example.com>"]  # fmt: skip
    assert {row.provider for row in stored} == {"Graph Replies"}
    assert stored[0].raw.read() == plain(0).encode()
    assert graph.inbox == {} and len(graph.processed) == 3
    for message_id in ids:
        assert len(graph.requests_to("GET", f"{message_id.rstrip('=')}%3D/$value")) == 1
    # Every request, Entra ID's included, had a timeout; the token was asked for once.
    assert all(sent.timeout for sent in graph.sent)
    assert len(graph.requests_to("POST", "/oauth2/v2.0/token")) == 1


def test_a_second_round_with_the_delta_link_stores_nothing_new(graph, poll):
    graph.deliver(plain(1))
    graph.deliver(plain(2))
    first = poll()
    fetched = len(graph.requests_to("GET", "/$value"))

    second = poll(first.delta_link)

    assert (second.stored, second.new, second.moved, second.error) == (0, 0, 0, "")
    assert second.delta_link and second.delta_link != first.delta_link
    # The moved messages came back as @removed entries, and were not read again.
    assert len(graph.requests_to("GET", "/$value")) == fetched
    assert InboundEmail.objects.count() == 2
    assert len(graph.requests_to("POST", "/oauth2/v2.0/token")) == 1


def test_a_message_arriving_between_rounds_is_the_only_one_read(graph, poll):
    graph.deliver(plain(1))
    first = poll()
    late = graph.deliver(plain(2))

    second = poll(first.delta_link)

    assert (second.stored, second.new, second.moved) == (1, 1, 1)
    assert [sent.url.rsplit("/", 2)[1] for sent in graph.requests_to("GET", "/$value")][-1] == (
        late.replace("=", "%3D")
    )


def test_a_round_stops_at_its_budget_and_the_next_ones_carry_on(graph):
    for number in range(3):
        graph.deliver(plain(number))
    client = graph.client()

    rounds = []
    link = ""
    while not rounds or rounds[-1].more:
        rounds.append(poll_graph_mailbox(CONFIG, link, client=client, max_messages=1))
        link = rounds[-1].delta_link
        assert len(rounds) <= 4

    assert [(r.stored, r.moved, r.more) for r in rounds] == [
        (1, 1, True), (1, 1, True), (1, 1, True), (0, 0, False)
    ]  # fmt: skip
    assert [r.delta_link for r in rounds[:3]] == ["", "", ""]  # unfinished: the old link
    assert "$deltatoken=" in rounds[-1].delta_link
    assert InboundEmail.objects.count() == 3 and graph.inbox == {}


def test_a_crash_between_store_and_move_stores_nothing_again_and_moves_it(graph, poll, asked):
    request = asked("failed-login")
    graph.deliver(raw_reply(request, "No, that was not me."))
    graph.fail("POST", "/move", raises=WorkerKilled())  # the worker dies here

    with pytest.raises(WorkerKilled):
        poll()

    # The row committed (and was processed) before the move; the message is still there.
    assert InboundEmail.objects.get().status == "answered"
    assert len(graph.inbox) == 1

    again = poll()  # no delta link was kept: the folder is read again

    assert (again.stored, again.new, again.moved, again.error) == (1, 0, 1, "")
    assert graph.inbox == {}
    assert InboundEmail.objects.count() == 1
    assert Answer.objects.filter(request=request).count() == 1
    assert titles(request) == ["Reset the credentials of Bob Builder"]


def test_a_failed_move_keeps_the_old_delta_link_and_the_next_round_moves_it(graph, poll):
    graph.deliver(plain(1))
    first = poll()
    graph.deliver(plain(2))
    graph.fail("POST", "/move", status=503, body="error-503")

    failed = poll(first.delta_link)

    assert (failed.stored, failed.new, failed.moved) == (1, 1, 0)
    assert failed.delta_link == first.delta_link
    assert "stored but not moved" in failed.error and "503 ServiceNotAvailable" in failed.error
    assert len(graph.inbox) == 1

    retried = poll(failed.delta_link)

    assert (retried.stored, retried.new, retried.moved, retried.error) == (1, 0, 1, "")
    assert retried.delta_link != first.delta_link
    assert graph.inbox == {} and InboundEmail.objects.count() == 2


def test_a_message_graph_fails_to_serve_holds_up_no_other(graph, poll):
    graph.deliver(plain(1))
    broken = graph.deliver(plain(2))
    graph.deliver(plain(3))
    graph.fail("GET", f"{broken.rstrip('=')}%3D/$value", status=500, body="error-503")

    failed = poll()

    assert (failed.stored, failed.moved, failed.delta_link) == (2, 2, "")
    assert "could not be read" in failed.error and "500" in failed.error
    assert list(graph.inbox) == [broken]

    retried = poll(failed.delta_link)

    assert (retried.stored, retried.new, retried.moved, retried.error) == (1, 1, 1, "")
    assert graph.inbox == {} and InboundEmail.objects.count() == 3


def test_a_deleted_processed_folder_is_made_again(graph, poll):
    graph.has_processed_folder = False
    graph.deliver(plain(1))

    result = poll()

    assert (result.stored, result.moved, result.error) == (1, 1, "")
    created = graph.requests_to("POST", "/mailFolders")
    assert len(created) == 1 and b'"displayName": "Processed"' in created[0].body


def test_a_message_another_client_removed_meanwhile_is_skipped(graph, poll):
    graph.deliver(plain(1))
    gone = graph.deliver(plain(2))
    # Listed by the delta, then deleted in Outlook before the reader fetched it.
    graph.fail("GET", f"{gone.rstrip('=')}%3D/$value", status=404, body="error-404")

    result = poll()

    assert (result.stored, result.moved, result.error) == (1, 1, "")
    assert result.delta_link
    assert InboundEmail.objects.get().message_id == "<m1@corp.example.com>"


def test_an_expired_delta_link_reads_the_folder_again(graph, poll):
    graph.deliver(plain(1))
    first = poll()
    graph.deliver(plain(2))
    stale = first.delta_link.replace("$deltatoken=", "$deltatoken=expired")

    result = poll(stale)

    assert (result.stored, result.new, result.moved, result.error) == (1, 1, 1, "")
    assert "$deltatoken=" in result.delta_link and result.delta_link != stale


# --- throttling and failures ------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [("30", 30), ("Sun, 06 Dec 2026 01:02:00 GMT", 120), ("", 60)],
    ids=["seconds", "http-date", "missing"],
)
def test_a_throttled_round_stops_and_says_how_long_to_wait(graph, poll, retry_after, seconds):
    graph.deliver(plain(1))
    second = graph.deliver(plain(2))
    graph.deliver(plain(3))
    headers = {"Retry-After": retry_after} if retry_after else {}
    graph.fail("GET", f"{second.rstrip('=')}%3D/$value", status=429, body="error-429",
               headers=headers)  # fmt: skip

    throttled = poll()

    assert throttled.retry_after == seconds
    assert "throttling" in throttled.error and "429 ApplicationThrottled" in throttled.error
    assert (throttled.stored, throttled.moved, throttled.delta_link) == (1, 1, "")
    assert not graph.requests_to("GET", "x0003AAA%3D/$value")  # the round stopped there

    resumed = poll(throttled.delta_link)

    assert (resumed.stored, resumed.new, resumed.moved, resumed.error) == (2, 2, 2, "")
    assert resumed.retry_after is None and resumed.delta_link
    assert InboundEmail.objects.count() == 3


def test_a_wrong_client_secret_is_a_clear_error_and_logs_no_secret(graph, poll, caplog):
    graph.deliver(plain(1))
    config = GraphConfig(
        name="Replies", tenant_id=CONFIG.tenant_id, client_id=CONFIG.client_id,
        client_secret="wrong-secret-value", mailbox=MAILBOX,
    )  # fmt: skip

    with caplog.at_level(logging.DEBUG):
        result = poll(config=config)

    assert "AADSTS7000215" in result.error and "client secret is wrong" in result.error
    assert (result.stored, result.delta_link, result.retry_after) == (0, "", None)
    assert not graph.requests_to("GET", "graph.microsoft.com")
    assert not InboundEmail.objects.exists()
    for text in (result.error, caplog.text, repr(config)):
        assert "wrong-secret-value" not in text and CLIENT_SECRET not in text
        assert MAILBOX not in text


def test_a_certificate_signs_the_app_in_instead_of_a_secret(graph, poll):
    graph.deliver(plain(1))
    config = GraphConfig(
        name="Replies", tenant_id=CONFIG.tenant_id, client_id=CONFIG.client_id,
        client_secret="", mailbox=MAILBOX, client_certificate=certificate_pem(),
    )  # fmt: skip

    result = poll(config=config)

    assert (result.stored, result.moved, result.error) == (1, 1, "")
    token_request = graph.requests_to("POST", "/oauth2/v2.0/token")[0].body
    assert "client_assertion=" in token_request and "client_secret" not in token_request
    assert "PRIVATE KEY" not in repr(config)


@pytest.mark.parametrize(
    ("secret", "certificate", "error"),
    [
        ("", "", "Neither a client secret nor a client certificate is configured."),
        ("", "-----BEGIN CERTIFICATE-----\nnot base64\n", "not an unencrypted PEM"),
    ],
    ids=["none", "not-pem"],
)
def test_a_missing_or_broken_credential_is_a_clear_error(graph, poll, secret, certificate, error):
    config = GraphConfig(
        name="Replies", tenant_id=CONFIG.tenant_id, client_id=CONFIG.client_id,
        client_secret=secret, mailbox=MAILBOX, client_certificate=certificate,
    )  # fmt: skip

    result = poll(config=config)

    assert error in result.error
    assert not graph.sent


def test_an_unknown_tenant_is_a_clear_error(graph, poll):
    config = GraphConfig(
        name="Replies", tenant_id="contoso-typo.onmicrosoft.com", client_id=CONFIG.client_id,
        client_secret=CLIENT_SECRET, mailbox=MAILBOX,
    )  # fmt: skip

    result = poll(config=config)

    assert result.error == "Microsoft Entra ID does not know this tenant id: check it."


def test_a_mailbox_outside_the_access_policy_is_a_clear_error(graph, poll, caplog):
    graph.deliver(plain(1))
    graph.fail("GET", "/mailFolders?", status=403, body="error-403")

    result = poll()

    assert "403 ErrorAccessDenied" in result.error
    assert "application access policy" in result.error and "Mail.ReadWrite" in result.error
    assert not InboundEmail.objects.exists() and len(graph.inbox) == 1
    assert MAILBOX not in caplog.text


def test_a_network_failure_is_a_clear_error(graph, poll):
    graph.deliver(plain(1))
    graph.fail("GET", "/messages/delta", raises=requests.ConnectTimeout("connect timed out"))

    result = poll()

    assert result.error == "Microsoft Graph did not answer in time; the next round tries again."
    assert (result.stored, result.delta_link) == (0, "")


def test_an_unexpected_failure_is_reported_without_the_exceptions_text(graph, poll, caplog):
    graph.deliver(plain(1))
    leaky = RuntimeError(f"cannot read https://graph.microsoft.com/v1.0/users/{MAILBOX}/")
    graph.fail("GET", "/messages/delta", raises=leaky)

    result = poll()

    assert result.error == "The round failed unexpectedly (RuntimeError)."
    assert result.delta_link == "" and len(graph.inbox) == 1
    assert "RuntimeError" in caplog.text and MAILBOX not in caplog.text


def test_a_stored_link_to_another_host_never_gets_the_token(graph, poll):
    result = poll("https://graph.example.net/v1.0/users/x/mailFolders/inbox/messages/delta")

    assert "does not lead to Microsoft Graph" in result.error
    assert not [sent for sent in graph.sent if "graph.example.net" in sent.url]


def test_a_poll_inside_a_transaction_does_not_start(graph, poll):
    from django.db import transaction

    graph.deliver(plain(1))
    with transaction.atomic():
        result = poll()

    assert "inside a database transaction" in result.error
    assert not graph.sent and len(graph.inbox) == 1


def test_the_client_is_kept_per_configuration():
    assert graph_client_for(CONFIG) is graph_client_for(CONFIG)
    assert "client_secret" not in repr(CONFIG) and MAILBOX not in repr(CONFIG)


# --- large messages ---------------------------------------------------------------------


def test_a_25_mb_message_costs_less_than_three_times_its_size(graph, poll, orm_broker):
    # The ORM broker, as in production: processing is a task of its own, not this round's.
    size = 25 * 1024 * 1024
    body = (b"A" * 998 + b"\r\n") * (size // 1000)
    raw = message(to="someone@reply.localhost", body="Big", mid="big").encode() + body
    graph.deliver(raw)

    tracemalloc.start()
    try:
        result = poll()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert (result.stored, result.moved, result.error) == (1, 1, "")
    stored = InboundEmail.objects.get()
    assert stored.size == len(raw)
    assert hashlib.sha256(stored.raw.read()).digest() == hashlib.sha256(raw).digest()
    # The bar is three times the message; the reader holds one copy while it is stored,
    # so joining downloaded chunks in memory (two copies) would already fail here.
    assert peak < 1.5 * len(raw), f"peak {peak / len(raw):.2f}x the message"


# --- the scenarios, through the mailbox --------------------------------------------------


def test_a_reply_with_a_screenshot_answers_the_suspicious_download_question(graph, poll, asked):
    request = asked("policy-violation")
    screenshot = png()
    graph.deliver(
        reply_mime(request, "Yes", attachments=(("screenshot.png", "image/png", screenshot),))
    )

    result = poll()

    assert (result.stored, result.moved, result.error) == (1, 1, "")
    inbound = InboundEmail.objects.get()
    assert (inbound.status, inbound.correlation) == ("answered", "reply address")
    assert Answer.objects.get(request=request).option_key == "yes"
    evidence = Evidence.objects.get(incident=request.incident)
    assert evidence.sha256 == hashlib.sha256(screenshot).hexdigest()
    assert evidence.provenance["inbound_email"] == inbound.pk
    assert tasks_of(request.incident) == [
        ("Confirm the download with the user", ResponseTask.State.COMPLETED),
        ("Analyse the evidence provided by the user", ResponseTask.State.OPEN),
    ]


def test_a_bounce_in_the_mailbox_takes_the_undeliverable_branch(graph, poll, asked):
    request = asked("failed-login")
    graph.deliver(delivery_report(request))

    result = poll()

    assert (result.stored, result.moved, result.error) == (1, 1, "")
    assert InboundEmail.objects.get().classification == "bounce"
    request.refresh_from_db()
    assert request.state == ConfirmationRequest.State.UNDELIVERABLE
    assert titles(request) == ["Contact Bob Builder directly"]
