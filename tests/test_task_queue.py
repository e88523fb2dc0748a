"""The queue's depth and the age of its oldest waiting task, read from each broker as
django-q2 stores its tasks, at a cost that does not grow with the queue."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from core import enqueue
from core.task_queue import QueueState, queue_state


def test_an_empty_orm_queue_has_no_oldest_task(db, orm_broker):
    assert queue_state() == QueueState("orm", 0, None)


def test_a_task_queued_on_the_orm_broker_is_counted_from_when_it_was_queued(db, orm_broker):
    enqueue.async_task("math.sqrt", 4.0)
    OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=700))

    state = queue_state()

    assert (state.broker, state.depth) == ("orm", 1)
    assert 700 <= state.oldest_age_seconds < 710


def test_a_task_a_worker_holds_is_not_waiting(db, orm_broker):
    """Taking a task moves its lock to the end of the retry period; until then it is
    being worked on, not waiting."""
    enqueue.async_task("math.sqrt", 4.0)
    enqueue.async_task("math.sqrt", 9.0)
    taken = enqueue.broker().dequeue()[0][0]
    OrmQ.objects.exclude(pk=taken).update(lock=timezone.now() - timedelta(seconds=30))

    state = queue_state()

    assert state.depth == 1
    assert 30 <= state.oldest_age_seconds < 40
    assert OrmQ.objects.get(pk=taken).lock > timezone.now()


def test_another_clusters_tasks_are_not_ours(db, orm_broker):
    OrmQ.objects.create(key="another-cluster", payload="x", lock=timezone.now())

    assert queue_state().depth == 0


@pytest.mark.parametrize("queued", [1, 60])
def test_reading_the_orm_queue_is_one_query_however_long_it_is(
    db, orm_broker, django_assert_num_queries, queued
):
    now = timezone.now()
    OrmQ.objects.bulk_create(
        OrmQ(key=enqueue.broker().list_key, payload="x", lock=now - timedelta(seconds=n))
        for n in range(queued)
    )

    with django_assert_num_queries(1):
        state = queue_state()

    assert state.depth == queued
    assert queued - 1 <= state.oldest_age_seconds < queued + 5


def test_an_empty_redis_queue_has_no_oldest_task(redis_broker):
    assert queue_state() == QueueState("redis", 0, None)


def test_on_redis_the_oldest_task_is_the_head_of_the_list_and_dated_by_its_package(
    redis_broker, monkeypatch
):
    queued_at = timezone.now() - timedelta(seconds=900)
    with monkeypatch.context() as clock:
        clock.setattr(timezone, "now", lambda: queued_at)
        enqueue.async_task("math.sqrt", 4.0)
    enqueue.async_task("math.sqrt", 9.0)
    broker = enqueue.broker()

    state = queue_state()

    assert (state.broker, state.depth) == ("redis", 2)
    assert 900 <= state.oldest_age_seconds < 910
    assert broker.connection.llen(broker.list_key) == 2  # read, not taken


def test_on_redis_a_task_taken_by_a_worker_has_left_the_queue(redis_broker):
    enqueue.async_task("math.sqrt", 4.0)
    enqueue.broker().dequeue()

    assert queue_state() == QueueState("redis", 0, None)


def test_on_redis_a_package_we_cannot_read_is_counted_without_an_age(redis_broker):
    broker = enqueue.broker()
    broker.connection.rpush(broker.list_key, b"not signed by us")

    assert queue_state() == QueueState("redis", 1, None)
