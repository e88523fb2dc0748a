"""django-q2 as configured: successful tasks are not stored (its pruning of stored
successes locked and read all of them on every task; bench/reply_to_branch.py), and the
app enqueues through one broker per process, on the ORM broker inside the transaction that
asks for the task (core/enqueue.py)."""

from collections.abc import Iterator

import pytest
from django.db import transaction
from django_q.brokers import Broker, get_broker
from django_q.models import OrmQ, Success
from django_q.tasks import async_task

from core import enqueue


def test_a_successful_task_is_not_stored(db):
    async_task("math.sqrt", 4.0)

    assert not Success.objects.exists()


@pytest.fixture
def brokers_built(monkeypatch) -> Iterator[list[Broker]]:
    built: list[Broker] = []

    def building(list_key: str | None = None) -> Broker:
        built.append(get_broker(list_key))
        return built[-1]

    enqueue.broker.cache_clear()
    monkeypatch.setattr(enqueue, "get_broker", building)
    yield built
    enqueue.broker.cache_clear()


def test_the_app_enqueues_through_one_broker(db, brokers_built):
    enqueue.async_task("math.sqrt", 4.0)
    enqueue.async_task("math.sqrt", 9.0)

    assert len(brokers_built) == 1


def test_on_the_orm_broker_a_task_is_queued_inside_the_transaction_that_asks_for_it(
    db, orm_broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as hooks, transaction.atomic():
        enqueue.enqueue_on_commit("math.sqrt", 4.0)
        queued = OrmQ.objects.count()

    assert queued == 1  # written before the commit: the workers see it at the commit
    assert hooks == []  # nothing left for after it


def test_a_rolled_back_transaction_takes_its_queued_task_with_it(db, orm_broker):
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue.enqueue_on_commit("math.sqrt", 4.0)
        raise RuntimeError

    assert not OrmQ.objects.exists()


def test_in_sync_mode_the_task_waits_for_the_commit(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as hooks, transaction.atomic():
        enqueue.enqueue_on_commit("math.sqrt", 4.0)

    assert len(hooks) == 1
    assert not OrmQ.objects.exists()
