"""/healthz and /readyz as a load balancer, Kubernetes and monitoring see them: no login,
a JSON body naming only the parts and their state, 503 (never 500) naming what failed."""

import json
import logging
import re
from datetime import timedelta

import pytest
from django.db import connections
from django.db.backends.sqlite3.base import DatabaseWrapper
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule

from core import enqueue

ALL_OK = {
    "database": "ok",
    "broker": "ok",
    "queue": "ok",
    "schedules": "ok",
    "evidence_storage": "ok",
    "inbound_storage": "ok",
}


@pytest.fixture
def folders(settings, tmp_path):
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    settings.INBOUND_ROOT = tmp_path / "inbound"
    settings.EVIDENCE_ROOT.mkdir()
    settings.INBOUND_ROOT.mkdir()
    return settings


@pytest.fixture
def ready(db, orm_broker, folders):
    """Everything in order, as in production with the ORM broker and a scheduler that
    keeps the schedules the migrations made on time."""
    Schedule.objects.update(next_run=timezone.now() + timedelta(minutes=5))
    return folders


def readyz(client) -> tuple[int, dict]:
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response.status_code, json.loads(response.content)


def test_liveness_answers_without_touching_the_database(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert json.loads(response.content) == {"status": "ok", "checks": {}}


def test_readiness_with_everything_in_order_is_200_and_names_each_part(client, ready):
    assert readyz(client) == (200, {"status": "ok", "checks": ALL_OK})


@pytest.fixture
def database_down(ready):
    """A real connection failure: the default connection opens a file in a folder that
    does not exist. The test's own connection is put back before its teardown."""
    real = connections["default"]
    unreachable = {**real.settings_dict, "NAME": "/nonexistent/folder/soc.sqlite3"}
    unreachable.update(ENGINE="django.db.backends.sqlite3", OPTIONS={})
    connections["default"] = DatabaseWrapper(unreachable)
    try:
        yield
    finally:
        connections["default"] = real


def test_a_database_that_cannot_be_reached_is_503_naming_the_database(
    client, database_down, caplog
):
    """With the ORM broker the queue is in that database too."""
    status, body = readyz(client)

    assert status == 503
    assert body == {
        "status": "fail",
        "checks": {
            **ALL_OK,
            "database": "fail",
            "broker": "fail",
            "queue": "unknown",
            "schedules": "fail",
        },
    }
    failures = [r for r in caplog.records if r.name == "core.health"]
    assert {r.getMessage() for r in failures} == {
        "Readiness: the database check failed",
        "Readiness: the task broker failed",
        "Readiness: the schedules check failed",
    }
    assert "unable to open database file" in failures[0].exc_text
    assert "unable to open" not in json.dumps(body)


def test_a_missing_storage_folder_is_503_naming_it(client, ready):
    ready.EVIDENCE_ROOT.rmdir()

    status, body = readyz(client)

    assert status == 503
    assert body == {"status": "fail", "checks": {**ALL_OK, "evidence_storage": "fail"}}


def test_a_file_where_the_inbound_folder_should_be_is_503_naming_it(client, ready):
    ready.INBOUND_ROOT.rmdir()
    ready.INBOUND_ROOT.write_text("not a folder")

    status, body = readyz(client)

    assert status == 503
    assert body["checks"] == {**ALL_OK, "inbound_storage": "fail"}


def test_a_task_waiting_longer_than_the_threshold_is_503_naming_the_queue(client, ready, caplog):
    """The workers are gone: the oldest queued task ages past READYZ_QUEUE_MAX_AGE."""
    ready.READYZ_QUEUE_MAX_AGE = 600
    enqueue.async_task("math.sqrt", 4.0)
    assert readyz(client) == (200, {"status": "ok", "checks": ALL_OK})

    OrmQ.objects.update(lock=timezone.now() - timedelta(seconds=601))
    status, body = readyz(client)

    assert status == 503
    assert body == {"status": "fail", "checks": {**ALL_OK, "queue": "fail"}}
    logged = [r.getMessage() for r in caplog.records if r.name == "core.health"]
    assert len(logged) == 1
    assert re.fullmatch(
        r"Readiness: the oldest queued task has waited 60\d s \(1 queued\): are the "
        r"workers \(qcluster\) running\?",
        logged[0],
    )


def test_a_schedule_overdue_past_the_threshold_is_503_naming_the_schedules(client, ready, caplog):
    """No qcluster runs its scheduler: in a quiet hour the queue stays empty, but the
    sweeps the migrations schedule every 5 minutes are not queued either."""
    ready.READYZ_QUEUE_MAX_AGE = 600
    sweep = Schedule.objects.get(func="runbooks.tasks.sweep_runs")
    Schedule.objects.filter(pk=sweep.pk).update(next_run=timezone.now() - timedelta(seconds=599))
    assert readyz(client)[0] == 200

    Schedule.objects.filter(pk=sweep.pk).update(next_run=timezone.now() - timedelta(seconds=610))
    status, body = readyz(client)

    assert status == 503
    assert body == {"status": "fail", "checks": {**ALL_OK, "schedules": "fail"}}
    logged = [r.getMessage() for r in caplog.records if r.name == "core.health"]
    assert logged[0].startswith(f"Readiness: the schedule {sweep.name!r} was due at ")


def test_a_threshold_of_zero_turns_the_queue_and_schedule_checks_off(client, ready):
    ready.READYZ_QUEUE_MAX_AGE = 0
    OrmQ.objects.create(key=enqueue.broker().list_key, payload="x",
                        lock=timezone.now() - timedelta(days=1))  # fmt: skip
    Schedule.objects.update(next_run=timezone.now() - timedelta(days=1))

    assert readyz(client)[0] == 200


def test_a_reachable_redis_broker_is_ready(client, db, folders, redis_broker):
    assert readyz(client) == (200, {"status": "ok", "checks": ALL_OK})


def test_a_redis_broker_that_cannot_be_reached_is_503_naming_the_broker(
    client, db, folders, monkeypatch
):
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:1/0")  # nothing listens there
    enqueue.broker.cache_clear()
    try:
        status, body = readyz(client)
    finally:
        enqueue.broker.cache_clear()

    assert status == 503
    assert body["checks"] == {**ALL_OK, "broker": "fail", "queue": "unknown"}


def test_the_probes_answer_a_host_not_allowed_and_a_plain_http_request(client, ready):
    """Kubernetes and load balancers ask the pod or instance address."""
    ready.DEBUG = False
    ready.ALLOWED_HOSTS = ["soc.example.com"]
    ready.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    # Only they: the rest of the site still refuses that host.
    assert client.get("/admin/login/", HTTP_HOST="10.1.2.3:8000").status_code == 400


def test_the_probes_only_read(client, ready):
    assert client.post("/readyz").status_code == 405
    assert client.head("/healthz").status_code == 200


def test_the_probe_paths_are_routed_for_a_stack_without_the_probe_middleware(client, ready):
    ready.MIDDLEWARE = [m for m in ready.MIDDLEWARE if m != "core.health.HealthProbeMiddleware"]

    assert readyz(client) == (200, {"status": "ok", "checks": ALL_OK})


def test_a_failing_check_logs_its_error_redacted(client, ready, caplog):
    """The body never carries the error; the log carries it without secrets."""
    ready.EVIDENCE_ROOT = ready.EVIDENCE_ROOT / "bob@corp.example.com"

    with caplog.at_level(logging.ERROR, logger="core.health"):
        readyz(client)

    line = next(r for r in caplog.records if r.name == "core.health")
    assert "bob@corp.example.com" not in line.getMessage()
    assert "[email]" in line.getMessage()
