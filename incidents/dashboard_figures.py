"""The case record's figures on the dashboard (settings.DASHBOARD_FIGURES): open incidents
by state and priority, overdue tasks, and incidents opened and closed per day.

The rows a figure counts are defined once, here, and the admin's list filters use the
same definitions (incidents.admin.list_filters), so a count and the list it links to
agree."""

from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
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
from incidents.dashboard_charts import Series, bar_chart, day_label
from incidents.models import ResponseTask, SecurityIncident

State = SecurityIncident.State
OPEN_INCIDENT = ~Q(state__in=[State.CLOSED, State.CANCELLED])
OPEN_TASK_STATES = [
    ResponseTask.State.OPEN,
    ResponseTask.State.IN_PROGRESS,
    ResponseTask.State.AWAITING_USER,
]


def overdue_tasks(now: datetime) -> Q:
    """Tasks not finished whose due time has passed."""
    return Q(state__in=OPEN_TASK_STATES, due_at__lt=now)


def incident_figures(user: Any, now: datetime) -> Figures:
    cards, charts = [], []
    if user.has_perm("incidents.view_securityincident"):
        cards.append(_open_incidents())
        charts.append(_opened_and_closed(now))
    if user.has_perm("incidents.view_responsetask"):
        overdue = ResponseTask.objects.filter(overdue_tasks(now)).count()
        url = list_url(reverse("admin:incidents_responsetask_changelist"), due="overdue")
        cards.append(Card("Tasks", (Figure("Overdue tasks", overdue, url, attention=True),)))
    return Figures(cards=tuple(cards), charts=tuple(charts))


def _open_incidents() -> Card:
    """One query: the open incidents counted by state and priority together."""
    rows = (
        SecurityIncident.objects.filter(OPEN_INCIDENT)
        .values_list("state", "priority")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_state: dict[str, int] = {}
    by_priority: dict[int, int] = {}
    for state, priority, n in rows:
        by_state[state] = by_state.get(state, 0) + n
        by_priority[priority] = by_priority.get(priority, 0) + n
    changelist = reverse("admin:incidents_securityincident_changelist")
    states = tuple(
        Figure(label, by_state.get(value, 0), list_url(changelist, state__exact=value))
        for value, label in State.choices
        if value not in (State.CLOSED, State.CANCELLED)
    )
    priorities = tuple(
        Figure(
            label,
            by_priority.get(value, 0),
            list_url(changelist, open="yes", priority__exact=value),
            attention=value == SecurityIncident.Priority.CRITICAL,
        )
        for value, label in SecurityIncident.Priority.choices
    )
    total = Figure("Open incidents", sum(by_state.values()), list_url(changelist, open="yes"))
    return Card(
        "Incidents",
        (total,),
        (Breakdown("By state", states), Breakdown("By priority", priorities)),
    )


def _per_day(field: str, start: datetime, extra: Q | None = None) -> dict[date, int]:
    tz = timezone.get_default_timezone()
    rows = (
        SecurityIncident.objects.filter(Q(**{f"{field}__gte": start}) & (extra or Q()))
        .annotate(day=TruncDate(field, tzinfo=tz))
        .values_list("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    return dict(rows)


def _opened_and_closed(now: datetime) -> Chart:
    days = window_days(now)
    start = window_start(now)
    opened = _per_day("opened_at", start)
    closed = _per_day("closed_at", start)
    changelist = reverse("admin:incidents_securityincident_changelist")

    def day_urls(field: str) -> list[str]:
        return [
            list_url(
                changelist,
                **{f"{field}__gte": day_start(d), f"{field}__lt": day_start(d + timedelta(1))},
            )
            for d in days
        ]

    opened_urls, closed_urls = day_urls("opened_at"), day_urls("closed_at")
    series = [
        Series("Opened", [opened.get(d, 0) for d in days], "s-opened", "#417690", opened_urls),
        Series("Closed", [closed.get(d, 0) for d in days], "s-closed", "#70bf2b", closed_urls),
    ]
    total_opened, total_closed = sum(opened.values()), sum(closed.values())
    title = "Incidents opened and closed per day"
    svg = bar_chart(
        key="chart-incidents",
        title=title,
        desc=f"Over the last {len(days)} days: {total_opened} opened, {total_closed} closed "
        "or cancelled.",
        days=days,
        series=series,
    )
    rows = tuple(
        (
            Cell(day_label(d)),
            Cell(str(opened.get(d, 0)), opened_urls[i]),
            Cell(str(closed.get(d, 0)), closed_urls[i]),
        )
        for i, d in enumerate(days)
    )
    return Chart(
        title=title,
        svg=svg,
        url=list_url(changelist, opened_at__gte=start),
        headers=("Day", "Opened", "Closed"),
        rows=rows,
        note=f"{total_opened} opened and {total_closed} closed or cancelled in the last "
        f"{len(days)} days.",
    )
