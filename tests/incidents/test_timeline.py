from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from incidents.models import SecurityIncident, TimelineEntry
from incidents.services import incident_add_note
from incidents.timeline import DISPATCH_ATTEMPTS, timeline_deliver, timeline_sweep
from tests.factories import open_incident

received: list[int] = []


def remember(entry_id: int) -> None:
    """A subscriber, called by dotted path from the delivery task (inline in tests)."""
    received.append(entry_id)


def explode(entry_id: int) -> None:
    raise RuntimeError("subscriber bug")


SUBSCRIBED = override_settings(
    TIMELINE_SUBSCRIBERS={"tests.incidents.test_timeline.remember": ["incident.opened"]}
)


@pytest.fixture(autouse=True)
def _clear():
    received.clear()


@SUBSCRIBED
def test_subscribers_get_each_entry_after_commit_and_it_is_marked_dispatched(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        incident = open_incident()
        assert received == []  # nothing leaves before the transaction commits
    for callback in callbacks:
        callback()

    entry = incident.timeline.get()
    assert received == [entry.pk]
    entry.refresh_from_db()
    assert entry.dispatched_at is not None


@SUBSCRIBED
def test_an_entry_written_in_a_rolled_back_transaction_is_never_dispatched(
    db, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        open_incident()
        raise RuntimeError("boom")

    assert received == []
    assert not TimelineEntry.objects.exists()


@SUBSCRIBED
def test_entries_of_kinds_nobody_subscribed_to_are_born_dispatched(db, as_analyst):
    incident = open_incident()
    note = incident_add_note(actor=as_analyst, incident=incident, text="hello")
    assert note.dispatched_at is not None


@SUBSCRIBED
def test_the_sweeper_dispatches_what_a_crash_left_behind(db):
    incident = open_incident()  # its on-commit dispatch never runs: the "crash"
    entry = incident.timeline.get()
    TimelineEntry.objects.filter(pk=entry.pk).update(
        created_at=timezone.now() - timedelta(minutes=5)
    )

    assert timeline_sweep() == 1
    assert received == [entry.pk]
    assert timeline_sweep() == 0


def _age(entry: TimelineEntry, minutes: int = 10) -> None:
    TimelineEntry.objects.filter(pk=entry.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes)
    )


@SUBSCRIBED
def test_an_entry_whose_task_the_broker_lost_stays_undispatched_and_is_swept(
    db, django_capture_on_commit_callbacks, monkeypatch
):
    # The enqueue succeeds but the task never runs (a Redis restart dropped it).
    monkeypatch.setattr("core.enqueue.async_task", lambda *args, **kwargs: None)
    with django_capture_on_commit_callbacks(execute=True):
        incident = open_incident()
    entry = incident.timeline.get()
    entry.refresh_from_db()
    assert entry.dispatched_at is None
    assert received == []

    monkeypatch.undo()
    assert timeline_sweep() == 0  # not yet: it may still be queued behind a backlog
    _age(entry)
    assert timeline_sweep() == 1
    assert received == [entry.pk]
    entry.refresh_from_db()
    assert entry.dispatched_at is not None
    assert entry.dispatch_attempts == 1


@SUBSCRIBED
def test_a_second_delivery_of_a_dispatched_entry_calls_nobody(db):
    entry = open_incident().timeline.get()
    timeline_deliver(entry.pk)
    timeline_deliver(entry.pk)
    assert received == [entry.pk]


@override_settings(
    TIMELINE_SUBSCRIBERS={
        "tests.incidents.test_timeline.explode": ["incident.opened"],
        "tests.incidents.test_timeline.remember": ["incident.opened"],
    }
)
def test_a_failing_subscriber_is_retried_by_the_sweeper_a_bounded_number_of_times(db, caplog):
    entry = open_incident().timeline.get()
    _age(entry)

    timeline_deliver(entry.pk)
    assert received == [entry.pk]  # the other subscriber still ran
    entry.refresh_from_db()
    assert entry.dispatched_at is None
    assert "subscriber tests.incidents.test_timeline.explode failed" in caplog.text

    for _ in range(DISPATCH_ATTEMPTS + 2):
        timeline_sweep()
    entry.refresh_from_db()
    assert entry.dispatch_attempts == DISPATCH_ATTEMPTS
    assert entry.dispatched_at is None
    assert len(received) == DISPATCH_ATTEMPTS
    assert "left undelivered" in caplog.text
    assert timeline_sweep() == 0  # given up on: no longer picked


def test_every_entry_moves_the_incidents_updated_at_and_nothing_else(db, as_analyst):
    incident = open_incident(short_description="Before")
    long_ago = timezone.now() - timedelta(days=3)
    SecurityIncident.objects.filter(pk=incident.pk).update(updated_at=long_ago)
    stale_copy = SecurityIncident.objects.get(pk=incident.pk)
    # Another writer changes the title after our copy was read: the bump must keep it.
    SecurityIncident.objects.filter(pk=incident.pk).update(short_description="After")

    entry = incident_add_note(actor=as_analyst, incident=stale_copy, text="Looked at it.")

    incident.refresh_from_db()
    assert incident.updated_at == entry.created_at
    assert incident.short_description == "After"


def test_an_entry_in_a_rolled_back_transaction_leaves_updated_at_alone(db, as_analyst):
    incident = open_incident()
    long_ago = timezone.now() - timedelta(days=3)
    SecurityIncident.objects.filter(pk=incident.pk).update(updated_at=long_ago)

    with pytest.raises(RuntimeError), transaction.atomic():
        incident_add_note(actor=as_analyst, incident=incident, text="Rolled back.")
        raise RuntimeError

    incident.refresh_from_db()
    assert incident.updated_at == long_ago
