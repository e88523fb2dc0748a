"""The dashboard above the admin index: the case record's figures (open incidents by state
and priority, overdue tasks, incidents opened and closed per day), the lists they link to,
who sees what, the cache, and a query count that does not grow with the data."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.actors import Actor
from incidents.dashboard import Card, Figure, dashboard_for, window_days
from incidents.dashboard_charts import scale
from incidents.dashboard_figures import incident_figures
from incidents.models import ResponseTask, SecurityIncident
from incidents.services import task_create
from tests.builders.dashboard import busy_month, listed, set_state
from tests.factories import UserFactory, open_incident

State = SecurityIncident.State


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def analyst_client(client, analyst):
    client.force_login(analyst)
    return client


def card(figures, title: str) -> Card:
    return next(c for c in figures.cards if c.title == title)


def figure(card: Card, label: str) -> Figure:
    every = list(card.figures) + [f for b in card.breakdowns for f in b.figures]
    return next(f for f in every if f.label == label)


def every_figure(figures) -> list[Figure]:
    return [
        f
        for c in figures.cards
        for f in [*c.figures, *(f for b in c.breakdowns for f in b.figures)]
    ]


def test_open_incidents_are_counted_by_state_and_priority_without_closed_or_cancelled(analyst):
    for state, priority in [
        (State.DRAFT, 1),
        (State.ANALYSIS, 1),
        (State.ANALYSIS, 3),
        (State.REVIEW, 4),
        (State.CLOSED, 1),
        (State.CANCELLED, 2),
    ]:
        set_state(open_incident(priority=priority), state)

    incidents = card(incident_figures(analyst, timezone.now()), "Incidents")

    assert figure(incidents, "Open incidents").value == 4
    assert figure(incidents, "Draft").value == 1
    assert figure(incidents, "Analysis").value == 2
    assert figure(incidents, "Review").value == 1
    assert figure(incidents, "1 - Critical").value == 2
    assert figure(incidents, "2 - High").value == 0
    assert figure(incidents, "3 - Moderate").value == 1
    labels = [f.label for b in incidents.breakdowns for f in b.figures]
    assert "Closed" not in labels and "Cancelled" not in labels


def test_overdue_tasks_are_unfinished_tasks_past_their_due_time(analyst, incident):
    now = timezone.now()

    def task(due_at, state=ResponseTask.State.OPEN):
        made = task_create(actor=Actor.system(), incident=incident, title="Do it", due_at=due_at)
        ResponseTask.objects.filter(pk=made.pk).update(state=state)

    task(now - timedelta(minutes=1))
    task(now - timedelta(days=3), ResponseTask.State.IN_PROGRESS)
    task(now - timedelta(days=3), ResponseTask.State.AWAITING_USER)
    task(now - timedelta(days=3), ResponseTask.State.COMPLETED)
    task(now - timedelta(days=3), ResponseTask.State.CANCELLED)
    task(now + timedelta(minutes=1))
    task(None)

    tasks = card(incident_figures(analyst, now), "Tasks")

    assert figure(tasks, "Overdue tasks").value == 3


def test_each_figure_links_to_a_list_of_exactly_the_rows_it_counts(analyst_client, analyst):
    busy_month(timezone.now())

    figures = incident_figures(analyst, timezone.now())

    checked = 0
    for shown in every_figure(figures):
        assert listed(analyst_client, shown.url).count() == shown.value, shown.label
        checked += 1
    assert checked == 12  # the total, six states, four priorities, overdue tasks


def test_the_open_list_shows_the_open_incidents(analyst_client, analyst):
    set_state(open_incident(short_description="Still open"), State.CONTAIN)
    set_state(open_incident(short_description="Done with"), State.CLOSED)

    url = figure(card(incident_figures(analyst, timezone.now()), "Incidents"), "Open incidents")
    rows = listed(analyst_client, url.url)

    assert [i.short_description for i in rows] == ["Still open"]


def test_incidents_are_counted_per_day_in_the_configured_time_zone(analyst, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 12, 5, 12, 0, tzinfo=berlin)
    # 23:30 UTC on 3 December is 00:30 on 4 December in Berlin.
    late = open_incident()
    SecurityIncident.objects.filter(pk=late.pk).update(
        opened_at=datetime(2026, 12, 3, 23, 30, tzinfo=ZoneInfo("UTC"))
    )
    closed = open_incident()
    SecurityIncident.objects.filter(pk=closed.pk).update(
        opened_at=now - timedelta(days=40),  # before the window: not counted as opened
        state=State.CLOSED,
        closed_at=datetime(2026, 12, 5, 9, 0, tzinfo=berlin),
    )
    SecurityIncident.objects.exclude(pk__in=[late.pk, closed.pk]).delete()

    chart = incident_figures(analyst, now).charts[0]

    rows = {row[0].text: (row[1].text, row[2].text) for row in chart.rows}
    assert rows["3 Dec"] == ("0", "0")
    assert rows["4 Dec"] == ("1", "0")
    assert rows["5 Dec"] == ("0", "1")
    assert len(chart.rows) == 30 and chart.rows[0][0].text == "6 Nov"
    assert "<title>Opened, 4 Dec: 1</title>" in chart.svg
    assert "<title>Closed, 5 Dec: 1</title>" in chart.svg
    assert "1 opened, 1 closed or cancelled" in chart.svg  # the chart's <desc>


def test_a_day_of_the_chart_links_to_the_incidents_opened_that_day(analyst_client, analyst):
    today = open_incident(short_description="Today's")
    yesterday = open_incident(short_description="Yesterday's")
    SecurityIncident.objects.filter(pk=yesterday.pk).update(
        opened_at=today.opened_at - timedelta(days=1)
    )

    chart = incident_figures(analyst, timezone.now()).charts[0]

    today_link = chart.rows[-1][1]
    assert today_link.text == "1"
    assert [i.short_description for i in listed(analyst_client, today_link.url)] == ["Today's"]


def test_the_chart_is_an_accessible_svg_with_no_script(analyst):
    open_incident()

    svg = incident_figures(analyst, timezone.now()).charts[0].svg

    assert svg.startswith("<svg") and 'role="img"' in svg
    assert re.search(r'aria-labelledby="chart-incidents-t chart-incidents-d"', svg)
    assert '<title id="chart-incidents-t">Incidents opened and closed per day</title>' in svg
    assert "<script" not in svg and "javascript:" not in svg


def test_the_axis_steps_on_whole_numbers():
    assert scale(0) == (1, 1)
    assert scale(3) == (3, 3)
    assert scale(5) == (6, 3)
    assert scale(17) == (20, 4)
    assert scale(230) == (300, 3)


def test_the_window_is_thirty_days_ending_today(settings):
    settings.TIME_ZONE = "UTC"
    days = window_days(datetime(2026, 3, 1, 0, 30, tzinfo=ZoneInfo("UTC")))

    assert len(days) == 30 and str(days[-1]) == "2026-03-01" and str(days[0]) == "2026-01-31"


# --- the page, permissions and the cache --------------------------------------------------


def test_an_analyst_sees_the_dashboard_above_the_app_list(analyst_client):
    open_incident()

    page = analyst_client.get(reverse("admin:index")).content.decode()

    assert page.index('class="soc-dashboard"') < page.index('id="content-main"')
    assert re.search(r"Figures as of \d\d:\d\d, refreshed every minute\.", page)
    assert "Open incidents" in page and "Overdue tasks" in page
    assert "Waiting for an answer" in page and "Answers needing review" in page
    assert page.count('role="img"') == 3


def test_staff_without_permissions_see_no_figures(client, db):
    client.force_login(UserFactory(is_staff=True))
    open_incident()

    page = client.get(reverse("admin:index")).content.decode()

    assert 'class="soc-dashboard"' not in page


def test_a_user_sees_only_the_figures_whose_lists_they_may_open(client, db):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="view_responsetask", content_type__app_label="incidents")
    )
    client.force_login(user)

    page = client.get(reverse("admin:index")).content.decode()

    assert "Overdue tasks" in page
    assert "Open incidents" not in page and "Incidents opened and closed" not in page
    assert "Waiting for an answer" not in page and "Answers needing review" not in page


def test_figures_are_cached_per_permission_set_for_a_minute(analyst, django_assert_num_queries):
    now = timezone.now()
    open_incident()
    first = dashboard_for(analyst, now)
    open_incident()

    with django_assert_num_queries(0):
        again = dashboard_for(analyst, now)
    other = UserFactory(is_staff=True)
    other.user_permissions.add(Permission.objects.get(codename="view_responsetask"))
    theirs = dashboard_for(other, now)
    cache.clear()
    fresh = dashboard_for(analyst, now)

    def open_count(dashboard) -> int:
        return card(dashboard, "Incidents").figures[0].value

    assert open_count(first) == open_count(again) == 1
    assert again.as_of == first.as_of == now
    assert [c.title for c in theirs.cards] == ["Tasks"]
    assert open_count(fresh) == 2


def test_the_page_costs_the_same_number_of_queries_whatever_the_data(analyst_client):
    def queries(*, cold: bool = True) -> int:
        if cold:
            cache.clear()
        with CaptureQueriesContext(connection) as captured:
            assert analyst_client.get(reverse("admin:index")).status_code == 200
        return len(captured)

    open_incident()
    few = queries()
    busy_month(timezone.now())
    many = queries()
    cached = queries(cold=False)

    assert few == many
    assert cached < many  # the figures' queries are skipped while cached
