"""Response tasks and evidence through the API."""

import pytest

from core.actors import Actor
from incidents.models import Evidence, ResponseTask
from incidents.services import evidence_add, task_create, task_transition
from tests.builders.api import client_with, make_token
from tests.factories import AnalystFactory, open_incident

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def task(incident) -> ResponseTask:
    return task_create(actor=Actor.system(), incident=incident, title="Reset the password")


def post(client, url, data=None):
    return client.post(url, data or {}, format="json")


@pytest.mark.parametrize(
    ("action", "state", "kind"),
    [
        ("start", "in_progress", "task.started"),
        ("complete", "completed", "task.completed"),
        ("mark-incomplete", "incomplete", "task.marked_incomplete"),
    ],
)
def test_task_actions_move_the_task_and_write_the_timeline(siem, task, action, state, kind):
    response = post(siem, f"/api/tasks/{task.number}/{action}/", {"reason": "via SOAR"})

    assert response.status_code == 200
    assert response.json()["state"] == state
    task.refresh_from_db()
    assert task.state == state
    entry = task.incident.timeline.get(kind=kind)
    assert (entry.task, entry.body, entry.actor_kind) == (task, "via SOAR", "integration")


def test_completing_a_finished_task_gets_409(siem, task):
    task_transition(actor=Actor.system(), task=task, to_state="completed")

    response = post(siem, f"/api/tasks/{task.number}/start/")

    assert response.status_code == 409
    task.refresh_from_db()
    assert task.state == "completed"


@pytest.fixture
def tasks(db, analyst):
    one, two = open_incident(), open_incident()
    a = task_create(actor=Actor.system(), incident=one, title="A", assignee=analyst)
    b = task_create(actor=Actor.system(), incident=one, title="B")
    c = task_create(actor=Actor.system(), incident=two, title="C")
    task_transition(actor=Actor.system(), task=b, to_state="completed")
    return {"one": one.number, "two": two.number, "a": a, "b": b, "c": c}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"incident": "__one__"}, ["A", "B"]),
        ({"state": "completed"}, ["B"]),
        ({"state": ["open", "completed"]}, ["A", "B", "C"]),
        ({"assignee": "alice"}, ["A"]),
        ({"open": "true"}, ["A", "C"]),
        ({"open": "false"}, ["B"]),
    ],
)
def test_every_task_filter(siem, tasks, params, expected):
    params = {k: tasks["one"] if v == "__one__" else v for k, v in params.items()}

    response = siem.get("/api/tasks/", params)

    assert [t["title"] for t in response.json()["results"]] == expected


def test_a_task_is_read_by_number(siem, task):
    body = siem.get(f"/api/tasks/{task.number}/").json()

    assert (body["title"], body["incident"], body["state"]) == (
        "Reset the password", task.incident.number, "open"
    )  # fmt: skip


# --- evidence ----------------------------------------------------------------------------


@pytest.fixture
def evidence(incident) -> Evidence:
    return evidence_add(
        actor=Actor.system(),
        incident=incident,
        content=PNG,
        filename="screen.png",
        source=Evidence.Source.ANALYST_UPLOAD,
    )


def test_staff_with_permission_download_evidence_as_an_attachment(evidence, analyst):
    client = client_with(make_token(analyst, name="Analyst script"))

    response = client.get(f"/api/evidence/{evidence.pk}/download/")

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert 'filename="screen.png"' in response["Content-Disposition"]
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PNG


def test_a_non_staff_integration_cannot_download_evidence(siem, evidence):
    response = siem.get(f"/api/evidence/{evidence.pk}/download/")

    assert response.status_code == 403


def test_staff_without_the_permission_cannot_download_evidence(evidence, db):
    from tests.factories import UserFactory

    staff = UserFactory(username="helpdesk", is_staff=True)

    response = client_with(make_token(staff)).get(f"/api/evidence/{evidence.pk}/download/")

    assert response.status_code == 403


def test_evidence_metadata_is_listed_by_incident(siem, evidence, incident):
    other = open_incident()

    listed = siem.get("/api/evidence/", {"incident": incident.number}).json()["results"]
    empty = siem.get("/api/evidence/", {"incident": other.number}).json()["results"]

    assert [(e["filename"], e["sha256"], e["size"], e["quarantine_reason"]) for e in listed] == [
        ("screen.png", evidence.sha256, len(PNG), "")
    ]
    assert empty == []


def test_unknown_evidence_is_404(db):
    staff = AnalystFactory(username="bea")

    assert client_with(make_token(staff)).get("/api/evidence/999/download/").status_code == 404
