"""Mailflow's figures on the dashboard (settings.DASHBOARD_FIGURES): questions waiting and
due soon, answers needing review, inbound email that failed or waits for an analyst, the
time from question to answer and the share of questions answered.

The rows a figure counts are defined once, here, and the admin's list filters use the
same definitions (mailflow.admin_list_filters), so a count and its list agree."""

import math
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from incidents.dashboard import (
    Breakdown,
    Card,
    Cell,
    Chart,
    Figure,
    Figures,
    day_start,
    list_url,
    window_days,
    window_start,
)
from incidents.dashboard_charts import Part, Series, day_label, line_chart, share_bar
from incidents.models import SecurityIncident
from mailflow.models import HELD_ANSWERS, OPEN_STATES, Answer, ConfirmationRequest, InboundEmail

DUE_SOON = timedelta(hours=4)
# The time-to-answer chart reads at most this many of the newest answers in its window:
# its cost stays bounded however large a campaign was, and the note says when it stopped.
MAX_ANSWER_TIMES = 20_000

_CLOSED_INCIDENT = [SecurityIncident.State.CLOSED, SecurityIncident.State.CANCELLED]
State = ConfirmationRequest.State

WAITING = Q(state__in=OPEN_STATES)


def due_soon(now: datetime) -> Q:
    """Questions waiting whose deadline is at most DUE_SOON away (or already past, until
    the schedule closes them)."""
    return WAITING & Q(deadline_at__lte=now + DUE_SOON)


# Answers needing an analyst, each in exactly one group: held ones may be accepted;
# revisions and late answers made a task and matter while their incident is open.
NEEDS_REVIEW: dict[str, tuple[str, Q]] = {
    "held": (
        "Held as a possible mail scanner",
        HELD_ANSWERS & Q(suspected_automated=True, sender_mismatch=False),
    ),
    "mismatch": ("Sender mismatch", HELD_ANSWERS & Q(sender_mismatch=True)),
    "revision": (
        "Changed answers",
        Q(is_revision=True) & ~Q(request__incident__state__in=_CLOSED_INCIDENT),
    ),
    "late": ("Late answers", Q(late=True) & ~Q(request__incident__state__in=_CLOSED_INCIDENT)),
}


def needs_review(group: str = "any") -> Q:
    if group in NEEDS_REVIEW:
        return NEEDS_REVIEW[group][1]
    any_group = Q(pk__in=[])
    for _label, condition in NEEDS_REVIEW.values():
        any_group |= condition
    return any_group


# Emails held for an analyst (not tied to our email, another sender) on an open incident.
FLAGGED_EMAIL = Q(status=InboundEmail.Status.FLAGGED, incident__isnull=False) & ~Q(
    incident__state__in=_CLOSED_INCIDENT
)


def mailflow_figures(user: Any, now: datetime) -> Figures:
    cards, charts = [], []
    if user.has_perm("mailflow.view_confirmationrequest"):
        cards.append(_questions(now))
        charts.extend([_time_to_answer(now), _answer_rate(now)])
    if user.has_perm("mailflow.view_answer"):
        cards.append(_answers())
    if user.has_perm("mailflow.view_inboundemail"):
        cards.append(_inbound())
    return Figures(cards=tuple(cards), charts=tuple(charts))


def _questions(now: datetime) -> Card:
    counts = ConfirmationRequest.objects.aggregate(
        waiting=Count("id", filter=WAITING), due=Count("id", filter=due_soon(now))
    )
    changelist = reverse("admin:mailflow_confirmationrequest_changelist")
    return Card(
        "Questions",
        (
            Figure("Waiting for an answer", counts["waiting"], list_url(changelist, waiting="all")),
            Figure(
                "Due within 4 h",
                counts["due"],
                list_url(changelist, waiting="due_soon"),
                attention=True,
            ),
        ),
    )


def _answers() -> Card:
    counts = Answer.objects.aggregate(
        **{group: Count("id", filter=condition) for group, (_, condition) in NEEDS_REVIEW.items()}
    )
    changelist = reverse("admin:mailflow_answer_changelist")
    parts = tuple(
        Figure(label, counts[group], list_url(changelist, review=group), attention=True)
        for group, (label, _) in NEEDS_REVIEW.items()
    )
    total = Figure(
        "Answers needing review",
        sum(counts.values()),
        list_url(changelist, review="any"),
        attention=True,
    )
    return Card("Answers", (total,), (Breakdown("Of which", parts),))


def _inbound() -> Card:
    counts = InboundEmail.objects.aggregate(
        failed=Count("id", filter=Q(status=InboundEmail.Status.FAILED)),
        flagged=Count("id", filter=FLAGGED_EMAIL),
    )
    changelist = reverse("admin:mailflow_inboundemail_changelist")
    return Card(
        "Inbound email",
        (
            Figure(
                "Failed",
                counts["failed"],
                list_url(changelist, status__exact=InboundEmail.Status.FAILED),
                attention=True,
            ),
            Figure(
                "Flagged for an analyst",
                counts["flagged"],
                list_url(changelist, review="flagged"),
                attention=True,
            ),
        ),
    )


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks of sorted `values` (not empty)."""
    position = (len(values) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return values[low] + (values[high] - values[low]) * (position - low)


def _duration_unit(longest_seconds: float) -> tuple[str, float]:
    if longest_seconds < 2 * 3600:
        return " min", 60
    return " h", 3600


def _time_to_answer(now: datetime) -> Chart:
    """p50 and p90 of the time from sending the question to its answer, per day answered,
    from one query of at most MAX_ANSWER_TIMES rows."""
    days = window_days(now)
    start = window_start(now)
    rows = list(
        ConfirmationRequest.objects.filter(
            state=State.ANSWERED, answered_at__gte=start, sent_at__isnull=False
        )
        .order_by("-answered_at")
        .values_list("answered_at", "sent_at")[:MAX_ANSWER_TIMES]
    )
    tz = timezone.get_default_timezone()
    per_day: dict[date, list[float]] = {}
    for answered_at, sent_at in rows:
        day = timezone.localtime(answered_at, tz).date()
        per_day.setdefault(day, []).append(max((answered_at - sent_at).total_seconds(), 0))
    for values in per_day.values():
        values.sort()
    stats = {day: (percentile(v, 0.5), percentile(v, 0.9), len(v)) for day, v in per_day.items()}
    unit, scale = _duration_unit(max((p90 for _, p90, _ in stats.values()), default=0))
    changelist = reverse("admin:mailflow_confirmationrequest_changelist")
    urls = [
        list_url(
            changelist,
            state__exact=State.ANSWERED,
            answered_at__gte=day_start(d),
            answered_at__lt=day_start(d + timedelta(1)),
        )
        for d in days
    ]

    def values(index: int) -> list[float | None]:
        return [round(stats[d][index] / scale, 1) if d in stats else None for d in days]

    title = "Time from question to answer"
    svg = line_chart(
        key="chart-time-to-answer",
        title=title,
        desc=f"Median (p50) and 90th percentile (p90) per day, in{unit}, of the "
        f"{len(rows)} questions answered in the last {len(days)} days.",
        days=days,
        series=[
            Series("p50 (median)", values(0), "s-p50", "#417690", urls),
            Series("p90", values(1), "s-p90", "#e0a030", urls),
        ],
        unit=unit,
    )
    table = tuple(
        (
            Cell(day_label(d)),
            Cell(f"{stats[d][0] / scale:.1f}{unit}" if d in stats else "none"),
            Cell(f"{stats[d][1] / scale:.1f}{unit}" if d in stats else "none"),
            Cell(str(stats[d][2]) if d in stats else "0", urls[i]),
        )
        for i, d in enumerate(days)
    )
    note = f"{len(rows)} questions answered in the last {len(days)} days."
    if len(rows) == MAX_ANSWER_TIMES:
        note = f"From the newest {MAX_ANSWER_TIMES} answers of the last {len(days)} days."
    return Chart(
        title=title,
        svg=svg,
        url=list_url(changelist, state__exact=State.ANSWERED, answered_at__gte=start),
        headers=("Day", "p50", "p90", "Answered"),
        rows=table,
        note=note,
    )


def _answer_rate(now: datetime) -> Chart:
    """What became of the questions asked in the window: one query by state."""
    start = window_start(now)
    counts = dict(
        ConfirmationRequest.objects.filter(created_at__gte=start)
        .values_list("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    changelist = reverse("admin:mailflow_confirmationrequest_changelist")

    def url(state: str) -> str:
        return list_url(changelist, state__exact=state, created_at__gte=start)

    parts = [
        Part(
            "Answered", counts.get(State.ANSWERED, 0), "s-answered", "#5b9b4b", url(State.ANSWERED)
        ),
        Part(
            "No answer",
            counts.get(State.NO_ANSWER, 0),
            "s-no-answer",
            "#d08c1c",
            url(State.NO_ANSWER),
        ),
        Part(
            "Undeliverable",
            counts.get(State.UNDELIVERABLE, 0),
            "s-undeliverable",
            "#ba2121",
            url(State.UNDELIVERABLE),
        ),
    ]
    waiting = sum(counts.get(state, 0) for state in OPEN_STATES)
    withdrawn = counts.get(State.CANCELLED, 0)
    settled = sum(p.value for p in parts)
    days = len(window_days(now))
    title = "Answer rate"
    svg = share_bar(
        key="chart-answer-rate",
        title=title,
        desc=f"Of the {settled} questions asked in the last {days} days and settled: "
        + ", ".join(f"{p.label.lower()} {p.value}" for p in parts)
        + ".",
        parts=parts,
    )
    return Chart(
        title=title,
        svg=svg,
        url=list_url(changelist, created_at__gte=start),
        headers=("Outcome", "Questions"),
        rows=tuple((Cell(p.label), Cell(str(p.value), p.url)) for p in parts),
        note=f"Questions asked in the last {days} days and settled; {waiting} still "
        f"waiting and {withdrawn} withdrawn are left out.",
    )
