"""The timeline as analysts read it on the incident page and the full timeline page: newest
first, a heading per day, filtered by kind group, bursts folded into one line."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import incidents.admin.incident
from core.actors import Actor
from incidents.models import TimelineEntry
from incidents.services import incident_add_note
from incidents.timeline import timeline_record
from incidents.timeline_display import Fold, timeline_days
from incidents.timeline_kinds import (
    KIND_GROUPS,
    OTHER_GROUP,
    kind_group,
    kinds_in_group,
    kinds_registered,
)
from mailflow.timeline_kinds import (
    ANSWER_RECEIVED,
    REQUEST_DELIVERED,
    REQUEST_LINK_CHECKED,
    REQUEST_SENT,
)
from runbooks.timeline_kinds import RUNBOOK_STARTED
from tests.factories import UserFactory

SCANNER = Actor.end_user("a mail scanner")
PROVIDER = Actor.email_provider("postmark")


@pytest.fixture
def client_as_analyst(client, analyst):
    client.force_login(analyst)
    return client


def change_url(incident) -> str:
    return reverse("admin:incidents_securityincident_change", args=[incident.pk])


def record(incident, kind: str, summary: str, at: datetime, actor: Actor = SCANNER):
    entry = timeline_record(incident=incident, kind=kind, actor=actor, summary=summary)
    TimelineEntry.objects.filter(pk=entry.pk).update(created_at=at)
    return entry


def at(hour: int, minute: int, days_ago: int = 0) -> datetime:
    day = timezone.localdate() - timedelta(days=days_ago)
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute))


def timeline_of(page: str) -> str:
    return page[page.index('id="timeline"') :]


# --- groups -------------------------------------------------------------------------------


def test_every_registered_kind_belongs_to_one_of_the_filter_groups():
    ungrouped = [name for name in kinds_registered() if kind_group(name) not in KIND_GROUPS]

    assert ungrouped == []
    assert list(KIND_GROUPS) == ["people", "tasks", "runbook", "email", "evidence"]


def test_kinds_are_grouped_by_namespace_with_the_listed_exceptions():
    assert kind_group("note.added") == "people"
    assert kind_group(ANSWER_RECEIVED) == "people"
    assert kind_group("task.completed") == "tasks"
    assert kind_group(RUNBOOK_STARTED) == "runbook"
    assert kind_group(REQUEST_LINK_CHECKED) == "email"
    assert kind_group("reply.attachments_skipped") == "evidence"
    assert kind_group("gone.kind") == OTHER_GROUP
    assert "evidence.added" in kinds_in_group("evidence")


def test_the_incident_page_filters_the_timeline_by_kind_group(
    client_as_analyst, incident, as_analyst
):
    incident_add_note(actor=as_analyst, incident=incident, text="Called the user.")
    timeline_record(incident=incident, kind=REQUEST_SENT, actor=PROVIDER, summary="Email to Bob")
    timeline_record(incident=incident, kind=ANSWER_RECEIVED, actor=SCANNER, summary="Bob: yes")

    email = timeline_of(
        client_as_analyst.get(change_url(incident), {"group": "email"}).content.decode()
    )
    people = timeline_of(
        client_as_analyst.get(change_url(incident), {"group": "people"}).content.decode()
    )

    assert "Email to Bob" in email
    assert "Called the user." not in email and "Bob: yes" not in email
    assert "Called the user." in people and "Bob: yes" in people and "Incident opened" in people
    assert "Email to Bob" not in people
    assert '<a href="?group=email#timeline" class="chosen" aria-current="true">Email</a>' in email


def test_an_unknown_group_shows_every_entry(client_as_analyst, incident, as_analyst):
    incident_add_note(actor=as_analyst, incident=incident, text="Called the user.")

    response = client_as_analyst.get(change_url(incident), {"group": "<script>"})

    page = timeline_of(response.content.decode())
    assert response.status_code == 200
    assert "Called the user." in page and "Incident opened" in page
    assert "<script>" not in page


def test_a_group_with_no_entries_says_so(client_as_analyst, incident):
    page = timeline_of(
        client_as_analyst.get(change_url(incident), {"group": "evidence"}).content.decode()
    )

    assert "Nothing of this kind on the timeline." in page


# --- days and folding ----------------------------------------------------------------------


def test_entries_are_grouped_by_day_newest_day_first(client_as_analyst, incident, as_analyst):
    TimelineEntry.objects.filter(incident=incident).update(created_at=at(9, 0, days_ago=2))
    note = incident_add_note(actor=as_analyst, incident=incident, text="Called the user.")
    TimelineEntry.objects.filter(pk=note.pk).update(created_at=at(8, 30))

    page = timeline_of(client_as_analyst.get(change_url(incident)).content.decode())

    today, earlier = timezone.localdate(), timezone.localdate() - timedelta(days=2)
    assert page.index(f"Today, {today:%-d %B %Y}") < page.index("Called the user.")
    assert page.index("Called the user.") < page.index(f"{earlier:%A, %-d %B %Y}")
    assert page.index(f"{earlier:%A, %-d %B %Y}") < page.index("Incident opened")


def test_consecutive_scanner_visits_fold_into_one_line(client_as_analyst, incident):
    for minute in (2, 3, 5):
        record(incident, REQUEST_LINK_CHECKED, f"Scanner visit {minute}", at(10, minute))

    page = timeline_of(client_as_analyst.get(change_url(incident)).content.decode())

    assert "<strong>3 scanner visits, 10:02\u201310:05</strong>" in page
    # Each visit is still there, inside the folded line.
    assert page.index("3 scanner visits") < page.index("Scanner visit 5")
    assert page.index("Scanner visit 5") < page.index("Scanner visit 2")


def test_bursts_fold_only_while_they_follow_each_other(incident):
    incident.timeline.update(created_at=at(9, 0, days_ago=2))
    record(incident, REQUEST_DELIVERED, "Delivered to Ann", at(10, 1), PROVIDER)
    record(incident, REQUEST_DELIVERED, "Delivered to Bob", at(10, 2), PROVIDER)
    record(incident, ANSWER_RECEIVED, "Ann: yes", at(10, 3))
    record(incident, REQUEST_DELIVERED, "Delivered to Cem", at(10, 4), PROVIDER)
    record(incident, REQUEST_LINK_CHECKED, "One visit", at(10, 5))
    entries = incident.timeline.order_by("-created_at", "-id")

    (day,) = [d for d in timeline_days(entries) if d.day == timezone.localdate()]

    shapes = [line.text if isinstance(line, Fold) else line.summary for line in day.lines[:4]]
    assert shapes == [
        "One visit",
        "Delivered to Cem",
        "Ann: yes",
        "2 emails delivered, 10:01\u201310:02",
    ]


def test_folding_does_not_cross_days(incident):
    incident.timeline.update(created_at=at(9, 0, days_ago=2))
    record(incident, REQUEST_LINK_CHECKED, "Late visit", at(0, 1))
    record(incident, REQUEST_LINK_CHECKED, "Early visit", at(23, 59, days_ago=1))

    days = timeline_days(incident.timeline.order_by("-created_at", "-id"))

    assert [type(days[0].lines[0]), type(days[1].lines[0])] == [TimelineEntry, TimelineEntry]


# --- the full timeline page ------------------------------------------------------------------


def test_the_full_timeline_page_filters_and_keeps_the_filter_while_paging(
    client_as_analyst, incident, as_analyst, monkeypatch
):
    monkeypatch.setattr(incidents.admin.incident, "TIMELINE_PAGE_SIZE", 2)
    for n in range(3):
        incident_add_note(actor=as_analyst, incident=incident, text=f"Note {n}")
    timeline_record(incident=incident, kind=REQUEST_SENT, actor=PROVIDER, summary="Email to Bob")
    url = reverse("admin:incidents_securityincident_timeline", args=[incident.pk])

    first = client_as_analyst.get(url, {"group": "people"}).content.decode()

    assert "Note 2" in first and "Note 1" in first and "Email to Bob" not in first
    assert "?group=people&amp;page=2" in first


def test_the_full_timeline_page_costs_the_same_for_a_long_timeline(
    client_as_analyst, incident, as_analyst
):
    url = reverse("admin:incidents_securityincident_timeline", args=[incident.pk])

    def query_count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client_as_analyst.get(url).status_code == 200
        return len(queries)

    incident_add_note(actor=as_analyst, incident=incident, text="One")
    few = query_count()
    for n in range(20):
        incident_add_note(actor=as_analyst, incident=incident, text=f"Note {n}")
        record(incident, REQUEST_LINK_CHECKED, f"Visit {n}", timezone.now())
    assert query_count() == few


def test_the_full_timeline_needs_a_permission_for_every_group(client, incident):
    client.force_login(UserFactory(is_staff=True))
    url = reverse("admin:incidents_securityincident_timeline", args=[incident.pk])

    assert client.get(url, {"group": "email"}).status_code == 403
