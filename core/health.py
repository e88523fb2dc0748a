"""Liveness and readiness probes for load balancers, Kubernetes and monitoring.

/healthz answers as long as the process serves requests, and touches nothing else: a
database outage must not get every web process restarted. /readyz checks what a request
or a task needs (the database, the broker, the storage folders) and that the workers keep
up: a dead `qcluster` leaves the site answering while nothing is sent or processed, and
only the age of the oldest queued task, or of an overdue schedule, shows it. Both answer
without a login, and say which part failed and nothing more (no versions, settings or
error text: the error is logged, redacted). Never a 500: a check that raises has failed.
"""

import logging
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_safe
from django_q.brokers.redis_broker import Redis
from django_q.models import Schedule

from core.enqueue import broker as configured_broker
from core.task_queue import queue_state

logger = logging.getLogger(__name__)

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"


def _answer(checks: dict[str, str]) -> JsonResponse:
    ready = all(result == OK for result in checks.values())
    body = {"status": OK if ready else FAIL, "checks": checks}
    response = JsonResponse(body, status=200 if ready else 503)
    response["Cache-Control"] = "no-store"
    return response


@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    return _answer({})


@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    return _answer(readiness())


def readiness() -> dict[str, str]:
    """Each part's state: "ok", "fail", or for the queue "unknown" while the broker fails."""
    return {
        "database": _check("database", _database_answers),
        **_broker_and_queue(),
        "schedules": _check("schedules", _schedules_on_time),
        "evidence_storage": _check("evidence_storage", _writable, settings.EVIDENCE_ROOT),
        "inbound_storage": _check("inbound_storage", _writable, settings.INBOUND_ROOT),
    }


def _check(name: str, check: Callable[..., bool], *args: object) -> str:
    try:
        return OK if check(*args) else FAIL
    except Exception:
        logger.exception("Readiness: the %s check failed", name)
        return FAIL


def _database_answers() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)


def _writable(folder: Path | str) -> bool:
    """The folder exists and this process may create files in it. A missing folder is not
    created here: it may be a volume that was not mounted, whose files would go to the
    container's own disk and be lost with it."""
    if os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK):
        return True
    logger.error("Readiness: %s is not a folder this process can write to", folder)
    return False


def _broker_and_queue() -> dict[str, str]:
    try:
        broker = configured_broker()
        if isinstance(broker, Redis):
            broker.connection.ping()
        state = queue_state(broker)
    except Exception:
        logger.exception("Readiness: the task broker failed")
        return {"broker": FAIL, "queue": UNKNOWN}
    max_age = settings.READYZ_QUEUE_MAX_AGE
    age = state.oldest_age_seconds
    if max_age and age is not None and age > max_age:
        logger.error(
            "Readiness: the oldest queued task has waited %d s (%d queued): are the "
            "workers (qcluster) running?",
            age,
            state.depth,
        )
        return {"broker": OK, "queue": FAIL}
    return {"broker": OK, "queue": OK}


def _schedules_on_time() -> bool:
    """No schedule is overdue by more than READYZ_QUEUE_MAX_AGE. The cluster's scheduler
    queues each due schedule within seconds; when no `qcluster` runs, nothing is queued
    in a quiet hour either, and the queue alone would look healthy."""
    max_age = settings.READYZ_QUEUE_MAX_AGE
    if not max_age:
        return True
    overdue_since = timezone.now() - timedelta(seconds=max_age)
    overdue = Schedule.objects.exclude(repeats=0).filter(next_run__lt=overdue_since).first()
    if overdue is None:
        return True
    logger.error(
        "Readiness: the schedule %r was due at %s and has not run: is a qcluster running?",
        overdue.name,
        overdue.next_run.isoformat(),
    )
    return False


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {"/healthz": healthz, "/readyz": readyz}


class HealthProbeMiddleware:
    """Answers the probes ahead of the rest of the stack, second in MIDDLEWARE (after the
    request id). Kubernetes and load balancers check each instance by its address, so the
    Host header is a pod or instance IP that ALLOWED_HOSTS does not list (and cannot: pod
    addresses change); CommonMiddleware would refuse it with 400, and SECURE_SSL_REDIRECT
    would send a plain-HTTP check to HTTPS. The probes read no Host, build no URL and
    answer nothing worth forging, so they skip both. The same views are routed in
    soc/urls.py, for a stack without this middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None:
            return probe(request)
        return self.get_response(request)
