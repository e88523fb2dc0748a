"""Races that only a real database with concurrent connections can show (PostgreSQL)."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from incidents.actors import Actor
from incidents.models import ResponseTask, SecurityIncident
from incidents.services import task_create
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
