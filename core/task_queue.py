"""How many tasks wait for a worker, and since when: for the readiness check and metrics.

A constant cost whatever the queue's length: one query on the ORM broker, one round trip
of two commands on Redis.

- ORM broker: each task is a django_q OrmQ row whose `lock` is the time it may next be
  handed out: its enqueue time at first, then, once a worker takes it, that time plus
  Q_CLUSTER["retry"] (the task comes back if the worker never acknowledges it). Rows whose
  lock has passed are waiting; their oldest lock is how long the oldest has waited.
  Rows locked into the future are being worked on and do not count.
- Redis broker: the tasks are a list (`django_q:<cluster>:q`); the producer pushes on the
  right, a worker pops from the left, so the head is the oldest. A popped task leaves the
  list at once. The payload is django-q2's signed package, whose `started` is the time
  async_task built it: read from the head alone.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone
from django_q.brokers import Broker
from django_q.brokers.orm import ORM
from django_q.brokers.redis_broker import Redis
from django_q.signing import SignedPackage

from core.enqueue import broker as configured_broker


@dataclass(frozen=True)
class QueueState:
    broker: str  # "orm" or "redis"
    depth: int  # tasks waiting for a worker
    oldest_age_seconds: float | None  # how long the oldest has waited; None when empty


def queue_state(broker: Broker | None = None) -> QueueState:
    """The configured broker's queue (or `broker`'s). Raises what the broker raises when
    it cannot be reached."""
    broker = broker or configured_broker()
    if isinstance(broker, Redis):
        return _redis_state(broker)
    if isinstance(broker, ORM):
        return _orm_state(broker)
    raise TypeError(f"No queue state for the broker {type(broker).__name__}")


def _orm_state(broker: ORM) -> QueueState:
    now = timezone.now()
    waiting = broker.connection.filter(key=broker.list_key, lock__lte=now)
    found = waiting.aggregate(depth=Count("id"), oldest=Min("lock"))
    return QueueState("orm", found["depth"], _age(now, found["oldest"]))


def _redis_state(broker: Redis) -> QueueState:
    pipeline = broker.connection.pipeline(transaction=False)
    pipeline.llen(broker.list_key)
    pipeline.lindex(broker.list_key, 0)
    depth, head = pipeline.execute()
    now = timezone.now()
    return QueueState("redis", depth, _age(now, _started(head)) if head else None)


def _started(payload: bytes) -> datetime | None:
    try:
        started = SignedPackage.loads(payload).get("started")
    except Exception:  # signed with another SECRET_KEY, or not django-q2's: age unknown
        return None
    return started if isinstance(started, datetime) else None


def _age(now: datetime, since: datetime | None) -> float | None:
    if since is None:
        return None
    return max((now - since).total_seconds(), 0.0)
