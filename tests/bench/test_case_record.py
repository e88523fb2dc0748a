"""The benchmark's data generator builds a consistent case record: right counts, unique
numbers from the sequences, timelines that start with the opening, tasks on their incident."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, Min

from bench.case_record import Command
from incidents.models import NumberSequence, ResponseTask, SecurityIncident, TimelineEntry
from tests.factories import open_incident


@pytest.fixture
def generated(db):
    call_command(
        Command(), incidents=40, timeline=400, tasks=80, long_length=100, stdout=StringIO()
    )


def test_it_builds_exactly_the_rows_asked_for(generated):
    assert SecurityIncident.objects.count() == 40
    assert TimelineEntry.objects.count() == 400
    assert ResponseTask.objects.count() == 80


def test_numbers_are_unique_and_the_sequences_move_past_them(generated):
    numbers = list(SecurityIncident.objects.values_list("number", flat=True))
    assert len(set(numbers)) == 40
    assert NumberSequence.objects.get(prefix="SIR").last_value == int(max(numbers)[3:])
    assert len(set(ResponseTask.objects.values_list("number", flat=True))) == 80

    # The next incident opened through the service gets a fresh number.
    assert open_incident().number not in numbers


def test_every_timeline_starts_with_the_opening_and_one_is_long(generated):
    for incident in SecurityIncident.objects.all():
        first = incident.timeline.order_by("created_at", "id").first()
        assert first.kind == "incident.opened"
        assert first.created_at == incident.opened_at
    longest = (
        TimelineEntry.objects.values("incident").annotate(n=Count("id")).order_by("-n").first()
    )
    assert longest["n"] == 100
    assert not TimelineEntry.objects.filter(dispatched_at__isnull=True).exists()


def test_task_entries_belong_to_the_tasks_incident(generated):
    entries = TimelineEntry.objects.exclude(task=None).select_related("task")
    assert entries.exists()
    assert all(entry.task.incident_id == entry.incident_id for entry in entries)
    first_task = ResponseTask.objects.aggregate(m=Min("created_at"))["m"]
    assert first_task >= SecurityIncident.objects.aggregate(m=Min("opened_at"))["m"]


def test_running_it_twice_adds_a_second_batch_with_new_numbers(generated):
    call_command(Command(), incidents=10, timeline=50, tasks=5, long_length=10, stdout=StringIO())

    assert SecurityIncident.objects.count() == 50
    assert SecurityIncident.objects.values("number").distinct().count() == 50
