"""Races and a real worker, on PostgreSQL only: concurrent advances and resumes of one run,
and the whole failed-login scenario through a `qcluster` process on the ORM broker."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection, transaction
from django_q.conf import Conf

from core.actors import Actor
from incidents.models import ResponseTask
from runbooks.files import import_shipped_runbooks
from runbooks.models import RunbookRun
from runbooks.services import run_advance, run_resume
from runbooks.starting import run_start
from tests.builders.threads import together
from tests.factories import PersonFactory, category, open_incident

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def download_run(monkeypatch):
    """A Suspicious-download run created but not yet advanced by anyone."""
    runbook = next(r for r in import_shipped_runbooks() if r.name == "Suspicious file download")
    incident = open_incident(category=category("phishing"), affected_user=PersonFactory())
    # Keep the start from advancing inline, so the threads below do it.
    monkeypatch.setattr("runbooks.starting.enqueue_advance", lambda run_id: None)
    return run_start(runbook=runbook, incident=incident)


def test_concurrent_advances_of_one_run_execute_each_step_once(download_run):
    together(lambda: run_advance(download_run.pk))

    run = RunbookRun.objects.get(pk=download_run.pk)
    assert run.state == RunbookRun.State.WAITING
    assert ResponseTask.objects.filter(incident=run.incident).count() == 1
    assert run.incident.timeline.filter(kind="incident.state_changed").count() == 1


def test_a_run_another_transaction_holds_is_left_to_it_without_waiting(download_run):
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                RunbookRun.objects.select_for_update().get(pk=download_run.pk)
                locked.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        started = time.monotonic()
        run_advance(download_run.pk)  # skips the locked row instead of queueing behind it
        assert time.monotonic() - started < 5
        run = RunbookRun.objects.get(pk=download_run.pk)
        assert (run.state, run.position) == (RunbookRun.State.RUNNING, 0)
    finally:
        release.set()
        holder.join()

    run_advance(download_run.pk)
    assert RunbookRun.objects.get(pk=download_run.pk).state == RunbookRun.State.WAITING


def test_concurrent_resumes_of_one_run_resume_it_once(download_run):
    run_advance(download_run.pk)

    results = together(
        lambda: run_resume(run=download_run, outcome="yes", actor=Actor.end_user("Bob"))
    )

    assert results.count(True) == 1
    run = RunbookRun.objects.get(pk=download_run.pk)
    assert run.incident.timeline.filter(kind="runbook.resumed").count() == 1


def wait_for(predicate, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker")


def _no_other_connections() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0] == 0


def _not_in_this_process(*args) -> None:
    raise AssertionError("ran in the test process instead of the qcluster worker")


def test_a_real_qcluster_runs_the_failed_login_scenario_end_to_end(monkeypatch):
    import_shipped_runbooks()
    database = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "soc.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}"
        f"/{database['NAME']}",
        "Q_BROKER": "orm",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
    }
    # This process enqueues through the ORM broker instead of running tasks inline; the
    # task functions are booby-trapped here so the test fails if anything runs in-process.
    monkeypatch.setattr(Conf, "SYNC", False)
    for name in ("on_timeline_entry", "advance_run"):
        monkeypatch.setattr(f"runbooks.tasks.{name}", _not_in_this_process)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so no worker outlives the test
    )
    try:
        incident = open_incident(affected_user=PersonFactory(first_name="Bob", last_name="B"))
        wait_for(
            lambda: RunbookRun.objects.filter(
                incident=incident, state=RunbookRun.State.WAITING
            ).exists()
        )
        run = RunbookRun.objects.get(incident=incident)
        assert run_resume(run=run, outcome="no", actor=Actor.end_user("Bob"))
        wait_for(
            lambda: RunbookRun.objects.filter(pk=run.pk, state=RunbookRun.State.COMPLETED).exists()
        )
    finally:
        worker.terminate()  # the cluster stops its own workers
        try:
            worker.wait(timeout=20)
        finally:
            with contextlib.suppress(ProcessLookupError):  # none left: good
                os.killpg(worker.pid, signal.SIGKILL)  # stragglers of the process group
        # The test database is dropped at the end of the session: give the cluster's
        # processes a moment to close their connections to it (best effort).
        with contextlib.suppress(AssertionError):
            wait_for(_no_other_connections, timeout=10)

    assert list(incident.tasks.values_list("title", flat=True)) == [
        "Reset the credentials of Bob B"
    ]
    assert incident.timeline.filter(kind="note.added").count() == 1
