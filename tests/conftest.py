"""A small named world the tests share: an analyst, a person with a laptop, an incident;
and the fixtures several apps' tests use (the shipped runbooks, commit callbacks run)."""

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from bench.common import ROOT
from core.actors import Actor
from runbooks.files import import_shipped_runbooks
from runbooks.models import Runbook
from tests.builders import crashes
from tests.builders.redis_server import private_redis
from tests.factories import AnalystFactory, ConfigurationItemFactory, PersonFactory, open_incident


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://...")
    if connection.vendor != "postgresql":
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def analyst(db):
    return AnalystFactory(username="alice", first_name="Alice", last_name="Analyst")


@pytest.fixture
def as_analyst(analyst) -> Actor:
    return Actor.analyst(analyst)


@pytest.fixture
def bob(db):
    """The affected end user."""
    return PersonFactory(email="bob@corp.example.com", first_name="Bob", last_name="Builder")


@pytest.fixture
def laptop(db, bob):
    return ConfigurationItemFactory(name="LAPTOP-BOB", owner=bob)


@pytest.fixture
def incident(db, bob, laptop):
    return open_incident(affected_user=bob, affected_ci=laptop)


@pytest.fixture
def shipped(db) -> dict[str, Runbook]:
    """The runbooks the product ships, imported, by name."""
    return {runbook.name: runbook for runbook in import_shipped_runbooks()}


@pytest.fixture
def committed(django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """Run what services defer to commit (runbook starts and steps, sending) as a real
    commit would, including callbacks registered while running them."""

    def run(function, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return run


@pytest.fixture
def orm_broker(monkeypatch):
    """Production's background tasks: the ORM broker, not the tests' sync mode (django-q2
    reads both once at import, so its Conf is patched)."""
    from django_q.conf import Conf

    from core import enqueue

    monkeypatch.setattr(Conf, "SYNC", False)
    monkeypatch.setattr(Conf, "ORM", "default")
    enqueue.broker.cache_clear()
    yield
    enqueue.broker.cache_clear()


@pytest.fixture
def redis_broker(monkeypatch, tmp_path) -> Iterator[str]:
    """Production's background tasks on the Redis broker, a private redis-server's (its
    URL), not the tests' sync mode."""
    from django_q.conf import Conf

    from core import enqueue

    with private_redis(tmp_path) as url:
        monkeypatch.setattr(Conf, "SYNC", False)
        monkeypatch.setattr(Conf, "ORM", None)
        monkeypatch.setattr(Conf, "REDIS", url)
        enqueue.broker.cache_clear()
        yield url
    enqueue.broker.cache_clear()


@pytest.fixture
def shots() -> Path:
    """Where browser tests save their screenshots, to look at after a run: SCREENSHOT_DIR
    when set, else var/screenshots/ (git-ignored, as all of var/)."""
    folder = Path(
        os.environ.get("SCREENSHOT_DIR") or Path(__file__).parent.parent / "var" / "screenshots"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def chromium(monkeypatch):
    """The system Chromium, headless, driven by Playwright (its own browser download
    cannot work here). Mark the test module with tests.browsing.BROWSER_MARKS. (The
    answer-page tests' `browser` is a Django test client playing the person.)"""
    from playwright.sync_api import sync_playwright

    from tests.browsing import CHROMIUM

    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def fresh_clone(tmp_path) -> Path:
    """A copy of the files git tracks, as a fresh clone has them: nothing of this checkout
    (its `.env`, its database) helps. The checkout's Python runs in it."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("copies the files git tracks")
    listed = (
        subprocess.run(  # noqa: S603 (fixed argv)
            [git, "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    clone = tmp_path / "clone"
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    return clone


@pytest.fixture
def kill_at(monkeypatch):
    """kill_at(action_name): that runbook action's executor kills the worker the first time
    it runs (tests.builders.crashes)."""
    return partial(crashes.kill_at, monkeypatch)
