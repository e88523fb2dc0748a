"""Races that only a real database with concurrent connections can show (PostgreSQL)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from core.actors import Actor
from incidents.models import ResponseTask, SecurityIncident
from incidents.services import incident_add_note, task_create
from tests.factories import open_incident

# serialized_rollback: a transactional test flushes the tables; this restores the seeded
# categories, groups and number sequences afterwards.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

WORKERS = 8


def in_threads(function, count: int) -> list:
    def run(i):
        try:
            return function(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return list(pool.map(run, range(count)))


def test_incident_numbers_stay_unique_under_concurrent_creation():
    numbers = in_threads(lambda i: open_incident(short_description=f"alert {i}").number, 40)

    assert len(set(numbers)) == 40
    assert sorted(numbers) == [f"SIR{n:07d}" for n in range(1001, 1041)]
    assert SecurityIncident.objects.count() == 40


def test_task_numbers_stay_unique_under_concurrent_creation():
    incident = open_incident()
    in_threads(
        lambda i: task_create(actor=Actor.system(), incident=incident, title=f"task {i}"), 30
    )

    numbers = list(ResponseTask.objects.values_list("number", flat=True))
    assert len(set(numbers)) == 30


def test_a_siem_retrying_concurrently_opens_one_incident():
    ids = in_threads(lambda i: open_incident(external_reference="elastic-7").pk, 16)

    assert len(set(ids)) == 1
    assert SecurityIncident.objects.count() == 1


def test_an_entry_never_waits_for_another_transactions_entry_on_the_same_incident():
    """Writing an entry moves the incident's "updated at" without waiting for its row: a
    run's transaction (run locked, then the incident) and an answer's (incident touched,
    then the run) would otherwise deadlock."""
    incident = open_incident()
    first_written, release = threading.Event(), threading.Event()

    def first_writer() -> None:
        try:
            with transaction.atomic():
                incident_add_note(actor=Actor.system(), incident=incident, text="First.")
                first_written.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=first_writer)
    thread.start()
    try:
        assert first_written.wait(10)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            incident_add_note(actor=Actor.system(), incident=incident, text="Second.")
    finally:
        release.set()
        thread.join()

    incident.refresh_from_db()
    notes = incident.timeline.filter(kind="note.added")
    assert sorted(notes.values_list("body", flat=True)) == ["First.", "Second."]
    assert incident.updated_at in {note.created_at for note in notes}
