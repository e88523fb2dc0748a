"""Hand a task to the background workers through one broker per process.

django-q2's `async_task` builds a new broker for every call that does not pass one; on
Redis that is a new client and a new connection per task, several times the cost of an
enqueue through one kept broker, and a reply enqueues several tasks. redis-py opens a
fresh connection pool in a forked worker by itself, so the broker may be built before
django-q2 forks its workers.
"""

from datetime import datetime
from functools import cache

from django.db import DEFAULT_DB_ALIAS, transaction
from django_q.brokers import Broker, get_broker
from django_q.conf import Conf
from django_q.tasks import async_task as django_q_async_task
from django_q.tasks import schedule

# Imported for its receivers: the worker loads this module with any task's function.
from core import task_logging  # noqa: F401


@cache
def broker() -> Broker:
    """This process's broker, as configured (settings.Q_CLUSTER)."""
    return get_broker()


def async_task(func: str, *args: object) -> str:
    """Queue `func(*args)` for the cluster (runs at once in the test settings' sync mode)."""
    return django_q_async_task(func, *args, broker=broker())


def enqueue_on_commit(func: str, *args: object, robust: bool = False) -> None:
    """Queue `func(*args)` for the workers once the current transaction commits.

    On the ORM broker the task is a row in our own database, so it is written inside the
    transaction: the workers see it at the commit and not before, as with on_commit, but
    it costs no commit of its own (a second one per webhook post, bench/webhook_ingest.py)
    and a crash between the commit and the enqueue can no longer lose it. On Redis, and in
    the tests' sync mode (where the task would run at once, inside the transaction), it
    waits for on_commit; `robust` then keeps a failed enqueue from failing the caller (the
    sweepers bring such work back)."""
    if Conf.SYNC or Conf.ORM != DEFAULT_DB_ALIAS:
        # A function, not a partial: a robust hook that fails is logged by its __qualname__.
        def enqueue() -> None:
            async_task(func, *args)

        transaction.on_commit(enqueue, robust=robust)
    elif transaction.get_connection().in_atomic_block:
        async_task(func, *args)
    else:
        # Outside a transaction the ORM broker first closes connections it thinks stale;
        # with CONN_MAX_AGE=0 that is the request's own, reopened for the next query.
        with transaction.atomic():
            async_task(func, *args)


def run_once_at(func: str, *args: object, name: str, at: datetime) -> None:
    """A one-off task at `at` (a retry with backoff), through django-q2's schedules.
    repeats=-1: django-q2 deletes a one-off schedule after its run only when negative,
    and would otherwise keep every retry's row for ever."""
    schedule(func, *args, name=name, schedule_type="O", repeats=-1, next_run=at)
