"""The app's figures for Prometheus (/metrics, soc.metrics_view), read from the database
at each scrape.

Why the database and not counters in memory: gunicorn runs several worker processes and
the django-q2 cluster others, each with its own memory. A counter one process increments
counts only what that process saw, and starts at zero again when it restarts; the scrape
would read whichever worker it reached. The rows already record everything counted here
(when a question was sent, its state, its counted answer, the inbound emails, the runs,
the timeline), so a custom collector reads them when Prometheus asks: every worker
answers the same figures, they survive restarts, and no multiprocess folder is needed.

A scrape costs the same few queries whatever the tables' sizes: each group of metrics is
one aggregate query (GROUP BY and conditional counts), never a query per row.

Counters (`*_total`) are counts of rows that only grow: a question sent stays sent, and
no answer or undeliverable are final states. Counts of rows that move between labels
(runs by state, inbound emails by status) are gauges.
"""

from collections.abc import Iterable, Iterator
from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from incidents.models import TimelineEntry
from mailflow import parsing
from mailflow.models import OPEN_STATES, Answer, ConfirmationRequest, InboundEmail
from runbooks import timeline_kinds as runbook_kinds
from runbooks.models import RunbookRun

State = ConfirmationRequest.State

# Upper bounds of the answer latency histogram: from a person answering at once to one
# answering after the longest wait a runbook step allows.
LATENCY_BUCKETS = tuple(
    int(bound.total_seconds())
    for bound in (
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
        timedelta(hours=2),
        timedelta(hours=4),
        timedelta(hours=8),
        timedelta(days=1),
        timedelta(days=2),
        timedelta(days=3),
        timedelta(days=7),
    )
)
# Inbound emails not parsed yet (or failed before) have no classification.
UNCLASSIFIED = "unclassified"
CLASSIFICATIONS = (
    parsing.REPLY,
    parsing.AUTO_REPLY,
    parsing.BOUNCE,
    parsing.DELAY,
    parsing.READ_RECEIPT,
    parsing.LOOP,
    UNCLASSIFIED,
)


class DatabaseCollector(Collector):
    """Every metric of the app, computed from the database when collected."""

    def collect(self) -> Iterable[Metric]:
        yield from question_metrics()
        yield from answer_channel_metrics()
        yield from inbound_metrics()
        yield from runbook_metrics()


def question_metrics() -> Iterator[Metric]:
    """Questions (and approval requests) by kind, the answer latency histogram and the
    scanner visits: one query, conditional counts grouped by kind."""
    answered = Q(state=State.ANSWERED, sent_at__isnull=False, answered_at__isnull=False)
    latency = ExpressionWrapper(F("answered_at") - F("sent_at"), output_field=DurationField())
    buckets = {
        f"le_{bound}": Count(
            "id", filter=answered & Q(answered_at__lte=F("sent_at") + timedelta(seconds=bound))
        )
        for bound in LATENCY_BUCKETS
    }
    rows = {
        row["kind"]: row
        for row in ConfirmationRequest.objects.order_by()
        .values("kind")
        .annotate(
            sent=Count("id", filter=Q(sent_at__isnull=False)),
            no_answer=Count("id", filter=Q(state=State.NO_ANSWER)),
            undeliverable=Count("id", filter=Q(state=State.UNDELIVERABLE)),
            open=Count("id", filter=Q(state__in=OPEN_STATES)),
            answered=Count("id", filter=answered),
            latency_sum=Sum(latency, filter=answered),
            scanner_visits=Sum("scanner_hits"),
            **buckets,
        )
    }
    sent = CounterMetricFamily(
        "soc_questions_sent", "Questions emailed (kind: question or approval).", labels=["kind"]
    )
    no_answer = CounterMetricFamily(
        "soc_questions_no_answer",
        "Questions that ended without an answer: the deadline passed, or an analyst ended them.",
        labels=["kind"],
    )
    undeliverable = CounterMetricFamily(
        "soc_questions_undeliverable",
        "Questions whose email bounced or was rejected for good.",
        labels=["kind"],
    )
    waiting = GaugeMetricFamily(
        "soc_questions_open",
        "Questions waiting for their answer: not yet sent, sent or delivered.",
        labels=["kind"],
    )
    histogram = HistogramMetricFamily(
        "soc_questions_answer_latency_seconds",
        "Time from sending a question to its counted answer.",
        labels=["kind"],
    )
    scanner = 0
    for kind in ConfirmationRequest.Kind.values:
        row = rows.get(kind, {})
        sent.add_metric([kind], row.get("sent", 0))
        no_answer.add_metric([kind], row.get("no_answer", 0))
        undeliverable.add_metric([kind], row.get("undeliverable", 0))
        waiting.add_metric([kind], row.get("open", 0))
        histogram.add_metric(
            [kind],
            buckets=[
                *((str(float(bound)), row.get(f"le_{bound}", 0)) for bound in LATENCY_BUCKETS),
                ("+Inf", row.get("answered", 0)),
            ],
            sum_value=(row.get("latency_sum") or timedelta()).total_seconds(),
        )
        scanner += row.get("scanner_visits") or 0
    visits = CounterMetricFamily(
        "soc_scanner_visits",
        "Answer link visits that looked like a mail scanner or a link preview, never "
        "taken as answers.",
    )
    visits.add_metric([], scanner)
    yield from (sent, no_answer, undeliverable, waiting, histogram, visits)


def answer_channel_metrics() -> Iterator[Metric]:
    """Answered questions by the channel of the answer that counted: one GROUP BY."""
    counts = {
        (kind, channel): n
        for kind, channel, n in Answer.objects.filter(counted=True)
        .order_by()
        .values_list("request__kind", "channel")
        .annotate(n=Count("id"))
    }
    answered = CounterMetricFamily(
        "soc_questions_answered",
        "Questions answered, by the channel of the answer that counted (page: the links in "
        "the email; email_reply: a reply; admin: an approver on the incident page).",
        labels=["kind", "channel"],
    )
    for kind in ConfirmationRequest.Kind.values:
        for channel in Answer.Channel.values:
            answered.add_metric([kind, channel], counts.pop((kind, channel), 0))
    for (kind, channel), n in counts.items():  # a value no longer among the choices
        answered.add_metric([kind, channel], n)
    yield answered


def inbound_metrics() -> Iterator[Metric]:
    """Stored inbound emails by classification and status: one GROUP BY."""
    counts = {
        (classification or UNCLASSIFIED, status): n
        for classification, status, n in InboundEmail.objects.order_by()
        .values_list("classification", "status")
        .annotate(n=Count("id"))
    }
    emails = GaugeMetricFamily(
        "soc_inbound_emails",
        "Inbound emails stored (webhooks, mailboxes, SMTP), by classification and status.",
        labels=["classification", "status"],
    )
    for classification in CLASSIFICATIONS:
        for status in InboundEmail.Status.values:
            emails.add_metric([classification, status], counts.pop((classification, status), 0))
    for (classification, status), n in counts.items():
        emails.add_metric([classification, status], n)
    yield emails


def runbook_metrics() -> Iterator[Metric]:
    """Runs by state (one GROUP BY) and steps that failed for good (one count)."""
    by_state = dict(RunbookRun.objects.order_by().values_list("state").annotate(n=Count("id")))
    runs = GaugeMetricFamily("soc_runbook_runs", "Runbook runs by state.", labels=["state"])
    for state in RunbookRun.State.values:
        runs.add_metric([state], by_state.get(state, 0))
    failures = CounterMetricFamily(
        "soc_runbook_step_failures",
        "Runbook steps that failed every attempt and stopped their run (each is a "
        "'Runbook failed' timeline entry; a resumed run that fails again counts again).",
    )
    failures.add_metric([], TimelineEntry.objects.filter(kind=runbook_kinds.RUNBOOK_FAILED).count())
    yield from (runs, failures)


# Our collector alone: the default registry's process and platform figures would describe
# whichever worker answered the scrape.
REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(DatabaseCollector())
