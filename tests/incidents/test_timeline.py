from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from incidents.models import TimelineEntry
from incidents.services import incident_add_note
from incidents.timeline import timeline_sweep
from tests.factories import open_incident

received: list[int] = []


def remember(entry_id: int) -> None:
    """A subscriber, called by dotted path as a django-q2 task (inline in tests)."""
    received.append(entry_id)


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
