"""What a log line is about: the request, the incident, the background task.

Set where the code learns it (the request id middleware, the few places that work on one
incident, the worker's task signals) and read only by core.logging, which writes them on
each line. They change what a log line says, never what any code does; that is why they
may be context variables (tests/test_wiring.py allows this module alone). Each request
(core.request_id) and each task (core.task_logging) starts from a clean context, so nothing
carries over from the one before.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str | None] = ContextVar("log_request_id", default=None)
_incident: ContextVar[str | None] = ContextVar("log_incident", default=None)
_task: ContextVar[str | None] = ContextVar("log_task", default=None)


def set_request_id(request_id: str | None) -> None:
    _request_id.set(request_id)


def set_incident(number: str | None) -> None:
    """The incident the current request or task works on, from here on."""
    _incident.set(number)


@contextmanager
def incident_scope() -> Iterator[None]:
    """An incident set inside the block is forgotten after it: for a task that works on
    several incidents one after another."""
    token = _incident.set(None)
    try:
        yield
    finally:
        _incident.reset(token)


def set_task(name: str | None) -> None:
    _task.set(name)


def clear() -> None:
    for var in (_request_id, _incident, _task):
        var.set(None)


def current() -> dict[str, str | None]:
    return {"request_id": _request_id.get(), "incident": _incident.get(), "task": _task.get()}
