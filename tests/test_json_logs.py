"""LOG_FORMAT=json: one JSON object per line for a SIEM, with the request id, incident
number and task name; tokens and email addresses redacted from the message and from the
traceback, in both formats."""

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from bench.common import ROOT, free_port
from core import enqueue, log_context
from tests.builders.log_lines import json_log_lines
from tests.factories import UserFactory

TOKEN = "soc_" + "A1b2C3d4" * 4
LOGGED = """
import logging
log = logging.getLogger("soc.example")
log.warning("Sign-in for %s with %s", "bob@corp.example.com", "TOKEN")
try:
    raise ValueError("bad reply+abc123@reply.example.com from bob@corp.example.com")
except ValueError:
    log.exception("Processing failed")
""".replace("TOKEN", TOKEN)


def run_logging(tmp_path, **env: str) -> str:
    """What the production logging configuration writes, from a fresh interpreter."""
    environment = {
        **os.environ,
        "DEBUG": "true",
        "ENV_FILE": os.devnull,
        "VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "soc.settings",
        **env,
    }
    result = subprocess.run(  # noqa: S603 (fixed argv)
        [sys.executable, "-c", f"import django; django.setup()\n{LOGGED}"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return result.stderr


def test_json_lines_carry_the_fields_with_secrets_redacted_in_message_and_traceback(tmp_path):
    lines = [json.loads(line) for line in run_logging(tmp_path, LOG_FORMAT="json").splitlines()]
    ours = [line for line in lines if line["logger"] == "soc.example"]

    assert [line["message"] for line in ours] == [
        "Sign-in for [email] with soc_[redacted]",
        "Processing failed",
    ]
    warning, error = ours
    assert set(warning) == {"time", "level", "logger", "message", "request_id", "incident",
                            "task"}  # fmt: skip
    assert (warning["level"], warning["request_id"], warning["incident"], warning["task"]) == (
        "WARNING",
        None,
        None,
        None,
    )
    moment = datetime.fromisoformat(warning["time"])
    assert moment.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - moment).total_seconds()) < 60
    assert error["level"] == "ERROR"
    assert error["exception"].startswith("Traceback (most recent call last):")
    assert error["exception"].endswith(
        "ValueError: bad reply+[redacted]@reply.example.com from [email]"
    )
    assert "bob@" not in json.dumps(lines) and TOKEN not in json.dumps(lines)


def test_plain_lines_stay_as_they_were_and_their_tracebacks_are_redacted_too(tmp_path):
    text = run_logging(tmp_path)

    assert " WARNING soc.example: Sign-in for [email] with soc_[redacted]\n" in text
    assert " ERROR soc.example: Processing failed\nTraceback (most recent call last):" in text
    assert "ValueError: bad reply+[redacted]@reply.example.com from [email]" in text
    assert "bob@" not in text and "abc123" not in text and TOKEN not in text


@pytest.fixture
def json_lines() -> Iterator[Callable[[], list[dict]]]:
    with json_log_lines() as lines:
        yield lines


def test_a_request_id_from_the_proxy_is_on_the_lines_and_the_response(client, db, json_lines):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="edge-7f3a.42_b")

    assert response.status_code == 404
    assert response["X-Request-ID"] == "edge-7f3a.42_b"
    assert [(line["message"], line["request_id"]) for line in json_lines()] == [
        ("Not Found: /no-such-page/", "edge-7f3a.42_b")
    ]


@pytest.mark.parametrize(
    "offered",
    ["", "two words", 'x"}\n{"level": "CRITICAL', "a" * 65, "-starts-with-a-dash", "é"],
)
def test_a_malformed_request_id_is_replaced_by_a_fresh_one(client, db, json_lines, offered):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID=offered)

    made = response["X-Request-ID"]
    assert made != offered
    assert len(made) == 32 and int(made, 16) >= 0
    assert [line["request_id"] for line in json_lines()] == [made]


def test_each_request_gets_its_own_id(client, db):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]

    assert first != second


def test_lines_about_an_incident_page_carry_its_number(client, incident, json_lines):
    """A staff user without permissions opens the incident: Django logs the refusal."""
    client.force_login(UserFactory(is_staff=True))

    response = client.get(f"/admin/incidents/securityincident/{incident.pk}/change/")

    assert response.status_code == 403
    refusals = [line for line in json_lines() if line["logger"] == "django.request"]
    assert [(line["message"], line["incident"]) for line in refusals] == [
        (f"Forbidden (Permission denied): /admin/incidents/securityincident/{incident.pk}/"
         "change/", incident.number)
    ]  # fmt: skip


def test_lines_a_task_writes_carry_its_name_and_the_next_lines_do_not(db, json_lines):
    enqueue.async_task("tests.builders.log_task.log_a_line", "sent to bob@corp.example.com")
    logging.getLogger("tests.after").warning("after the task")

    assert [(line["message"], line["task"]) for line in json_lines()] == [
        ("sent to [email]", "tests.builders.log_task.log_a_line"),
        ("after the task", None),
    ]


def test_an_incident_named_inside_a_scope_is_forgotten_after_it():
    # A batch advancing several runs names each run's incident in turn; a line written
    # after one run must not carry its incident.
    log_context.set_incident("SIR0000001")
    try:
        with log_context.incident_scope():
            assert log_context.current()["incident"] is None
            log_context.set_incident("SIR0000002")
            assert log_context.current()["incident"] == "SIR0000002"
        assert log_context.current()["incident"] == "SIR0000001"
    finally:
        log_context.clear()


def test_gunicorns_own_lines_are_json_lines_too(tmp_path):
    port = free_port()
    environment = {
        **os.environ,
        "DEBUG": "true",
        "ENV_FILE": os.devnull,
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "LOG_FORMAT": "json",
    }
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    server = subprocess.Popen(  # noqa: S603 (fixed argv)
        [sys.executable, "-m", "gunicorn", "soc.wsgi", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=environment, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        lines = []
        for line in server.stderr:
            lines.append(json.loads(line))
            if "Booting worker" in line:
                break
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert {line["logger"] for line in lines} == {"gunicorn.error"}
    assert any(line["message"].startswith("Listening at: http://127.0.0.1") for line in lines)
