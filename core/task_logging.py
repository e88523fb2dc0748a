"""The task name on every log line a background task writes.

django-q2 signals each task in the worker process just before and after it runs. The
receivers are connected when this module is imported, which core.enqueue does: every task
module enqueues through it, so the worker imports it while loading a task's function,
before that task runs.
"""

from collections.abc import Callable
from typing import Any

from django_q.signals import post_execute_in_worker, pre_execute

from core import log_context


def task_name(func: Callable[..., Any] | None, task: dict[str, Any]) -> str:
    """The dotted path of the function, as the task was queued with it."""
    queued = task.get("func")
    if isinstance(queued, str):
        return queued
    if func is not None:
        return f"{func.__module__}.{func.__qualname__}"
    return str(task.get("name", ""))


def task_started(sender: object, func: Callable[..., Any] | None, task: dict, **kwargs) -> None:
    log_context.set_task(task_name(func, task))
    log_context.set_incident(None)


def task_finished(sender: object, task: dict, **kwargs) -> None:
    # The request id stays: a worker has none, and a task run inline (the tests' sync mode)
    # belongs to the request that ran it.
    log_context.set_task(None)
    log_context.set_incident(None)


pre_execute.connect(task_started, dispatch_uid="core.task_logging.started")
post_execute_in_worker.connect(task_finished, dispatch_uid="core.task_logging.finished")
