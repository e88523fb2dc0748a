"""django-q2 as configured: successful tasks are not stored (its pruning of stored
successes locked and read all of them on every task; bench/reply_to_branch.py), and the
app enqueues through one broker per process (soc/enqueue.py)."""

from collections.abc import Iterator

import pytest
from django_q.brokers import Broker, get_broker
from django_q.models import Success
from django_q.tasks import async_task

from soc import enqueue


def test_a_successful_task_is_not_stored(db):
    async_task("math.sqrt", 4.0)

    assert not Success.objects.exists()


@pytest.fixture
def brokers_built(monkeypatch) -> Iterator[list[Broker]]:
    built: list[Broker] = []

    def building(list_key: str | None = None) -> Broker:
        built.append(get_broker(list_key))
        return built[-1]

    enqueue._broker.cache_clear()
    monkeypatch.setattr(enqueue, "get_broker", building)
    yield built
    enqueue._broker.cache_clear()


def test_the_app_enqueues_through_one_broker(db, brokers_built):
    enqueue.async_task("math.sqrt", 4.0)
    enqueue.async_task("math.sqrt", 9.0)

    assert len(brokers_built) == 1
