"""What /metrics reports, after questions asked, answered, bounced and expired, inbound
emails stored and runs failed through the services; and that a scrape costs the same
queries whatever the tables hold."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.models import TimelineEntry
from mailflow.answers import answer_record
from mailflow.emails import reply_address
from mailflow.models import Answer, ConfirmationRequest, InboundEmail
from mailflow.page_services import request_note_scanner_visit
from mailflow.request_lifecycle import request_expire
from runbooks import actions
from runbooks import timeline_kinds as runbook_kinds
from soc.metrics import LATENCY_BUCKETS
from tests.builders.dashboard import inbound
from tests.builders.inbound import delivery_report, message
from tests.builders.metrics import samples, scrape, series, value
from tests.factories import category, open_incident

pytestmark = pytest.mark.usefixtures("metrics_on", "webhook_secret")


def sent_ago(request: ConfirmationRequest, ago: timedelta) -> None:
    """The email went out `ago` before now (the answer that follows is that late)."""
    ConfirmationRequest.objects.filter(pk=request.pk).update(sent_at=timezone.now() - ago)


def answer_on_the_page(request: ConfirmationRequest) -> Answer:
    return answer_record(
        request=request,
        option_key=request.options[0]["key"],
        channel=Answer.Channel.PAGE,
        sender="Bob Builder",
        user_agent="Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    )


def test_questions_answers_latency_and_scanner_visits(asked, deliver, committed, client):
    on_the_page, by_reply, bounced, expired, waiting = (asked("failed-login") for _ in range(5))
    sent_ago(on_the_page, timedelta(hours=3))
    committed(answer_on_the_page, on_the_page)
    sent_ago(by_reply, timedelta(days=2, hours=1))
    deliver(message(to=reply_address(by_reply), body="No", mid="reply1"))
    deliver(delivery_report(bounced))
    committed(request_expire, request=expired)
    for _ in range(2):
        request_note_scanner_visit(request=waiting, reason="A scanner.")

    parsed = samples(scrape(client))

    question = {"kind": "question"}
    assert value(parsed, "soc_questions_sent_total", **question) == 5
    assert value(parsed, "soc_questions_sent_total", kind="approval") == 0
    assert value(parsed, "soc_questions_answered_total", channel="page", **question) == 1
    assert value(parsed, "soc_questions_answered_total", channel="email_reply", **question) == 1
    assert value(parsed, "soc_questions_answered_total", channel="admin", **question) == 0
    assert value(parsed, "soc_questions_no_answer_total", **question) == 1
    assert value(parsed, "soc_questions_undeliverable_total", **question) == 1
    assert value(parsed, "soc_questions_open", **question) == 1
    assert value(parsed, "soc_scanner_visits_total") == 2
    # Three hours and two days and an hour: in the buckets from 4 h and from 3 days on.
    latency = "soc_questions_answer_latency_seconds"
    buckets = {
        bound: value(parsed, f"{latency}_bucket", le=str(float(bound)), **question)
        for bound in LATENCY_BUCKETS
    }
    assert buckets == {bound: (bound >= 4 * 3600) + (bound >= 3 * 86400) for bound in buckets}
    assert value(parsed, f"{latency}_bucket", le="+Inf", **question) == 2
    assert value(parsed, f"{latency}_count", **question) == 2
    assert value(parsed, f"{latency}_sum", **question) == pytest.approx(52 * 3600, abs=60)


def test_inbound_emails_by_classification_and_status(asked, deliver, client):
    request = asked("failed-login")
    deliver(message(to=reply_address(request), body="No", mid="reply1"))
    deliver(message(to="soc@example.com", body="Hello", mid="stray"))
    inbound(InboundEmail.Status.FAILED)

    parsed = samples(scrape(client))

    emails = {labels: n for labels, n in series(parsed, "soc_inbound_emails").items() if n}
    assert emails == {
        frozenset({("classification", "reply"), ("status", "answered")}): 1,
        frozenset({("classification", "reply"), ("status", "flagged")}): 1,
        frozenset({("classification", "unclassified"), ("status", "failed")}): 1,
    }
    assert value(parsed, "soc_inbound_emails", classification="bounce", status="failed") == 0


def test_runs_by_state_and_failed_steps(shipped, committed, bob, client, monkeypatch):
    committed(open_incident, category=category("failed-login"), affected_user=bob)

    def broken(ctx):
        raise RuntimeError("ticketing down")

    monkeypatch.setattr(actions.ACTIONS["create_task"], "executor", broken)
    committed(open_incident, category=category("policy-violation"), affected_user=bob)

    parsed = samples(scrape(client))

    runs = {dict(labels)["state"]: n for labels, n in series(parsed, "soc_runbook_runs").items()}
    assert runs == {"running": 0, "waiting": 1, "completed": 0, "failed": 1, "cancelled": 0}
    assert value(parsed, "soc_runbook_step_failures_total") == 1


def queries_of_a_scrape(client) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        scrape(client)
    return [query["sql"] for query in captured.captured_queries]


def test_a_scrape_costs_the_same_queries_with_one_row_of_each_kind_or_many(
    asked, deliver, committed, client
):
    def one_of_each(mid: str) -> None:
        answered, bounced, expired = asked("failed-login"), asked(), asked()
        committed(answer_on_the_page, answered)
        deliver(message(to=reply_address(answered), body="No", mid=mid))
        deliver(delivery_report(bounced, mid=f"bounce-{mid}"))
        committed(request_expire, request=expired)
        request_note_scanner_visit(request=bounced, reason="A scanner.")
        inbound(InboundEmail.Status.FAILED)

    one_of_each("first")
    once = queries_of_a_scrape(client)
    for n in range(4):
        one_of_each(f"more{n}")
    many = queries_of_a_scrape(client)

    assert ConfirmationRequest.objects.count() == 15 and InboundEmail.objects.count() == 15
    assert len(many) == len(once) == 5, many


def test_the_index_for_the_failed_steps_count_names_the_runbooks_kind():
    index = next(
        index
        for index in TimelineEntry._meta.indexes
        if index.name == "timeline_runbook_failed_idx"
    )

    assert index.condition == Q(kind=runbook_kinds.RUNBOOK_FAILED)
