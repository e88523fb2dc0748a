import hashlib

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings

from core.actors import Actor, ActorKind
from core.errors import DomainError, IllegalTransition
from incidents.models import Evidence, ResponseTask, SecurityIncident, TimelineEntry
from incidents.services import (
    evidence_add,
    incident_add_note,
    incident_assign,
    incident_transition,
    incident_update,
    task_create,
    task_transition,
    task_update,
)
from tests.factories import AnalystFactory, UserFactory, category, open_incident

State = SecurityIncident.State
TaskState = ResponseTask.State

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def kinds(incident) -> list[str]:
    return list(incident.timeline.values_list("kind", flat=True))


# --- incident_open ----------------------------------------------------------------------


def test_opening_an_incident_numbers_it_and_writes_the_opened_entry(db, bob, laptop):
    incident = open_incident(affected_user=bob, affected_ci=laptop, actor=Actor.system("SIEM"))

    assert incident.number == "SIR0001001"
    assert incident.state == State.DRAFT
    assert incident.opened_at is not None
    entry = incident.timeline.get()
    assert entry.kind == "incident.opened"
    assert entry.actor_kind == ActorKind.SYSTEM
    assert entry.actor_name == "SIEM"
    assert "Bob Builder" in entry.body
    assert entry.data["category"] == "failed-login"


def test_incident_numbers_follow_each_other(db):
    numbers = [open_incident().number for _ in range(3)]
    assert numbers == ["SIR0001001", "SIR0001002", "SIR0001003"]


def test_the_same_external_reference_returns_the_existing_incident(db):
    first = open_incident(external_reference="splunk-42")
    second = open_incident(external_reference=" splunk-42 ", short_description="retry")

    assert second.pk == first.pk
    assert SecurityIncident.objects.count() == 1
    assert TimelineEntry.objects.count() == 1


def test_an_incident_without_a_short_description_is_refused(db):
    with pytest.raises(DomainError):
        open_incident(short_description="   ")
    assert not SecurityIncident.objects.exists()


# --- incident_update --------------------------------------------------------------------


def test_updating_records_each_changed_field_with_old_and_new_value(incident, as_analyst):
    incident_update(
        actor=as_analyst,
        incident=incident,
        priority=SecurityIncident.Priority.CRITICAL,
        category=category("phishing"),
        short_description=incident.short_description,  # unchanged: not reported
    )

    incident.refresh_from_db()
    assert incident.priority == 1
    entry = incident.timeline.get(kind="incident.updated")
    assert set(entry.data["changes"]) == {"priority", "category"}
    assert entry.data["changes"]["category"] == ["Failed login", "Phishing"]
    assert entry.actor_user.username == "alice"


def test_an_update_that_changes_nothing_writes_nothing(incident, as_analyst):
    incident_update(actor=as_analyst, incident=incident, priority=incident.priority)
    assert kinds(incident) == ["incident.opened"]


def test_state_cannot_be_changed_through_update(incident, as_analyst):
    with pytest.raises(DomainError):
        incident_update(actor=as_analyst, incident=incident, state=State.CLOSED)
    incident.refresh_from_db()
    assert incident.state == State.DRAFT


# --- incident_transition ----------------------------------------------------------------


def test_a_legal_transition_changes_state_and_writes_an_entry(incident, as_analyst):
    incident_transition(actor=as_analyst, incident=incident, to_state=State.ANALYSIS)

    incident.refresh_from_db()
    assert incident.state == State.ANALYSIS
    entry = incident.timeline.get(kind="incident.state_changed")
    assert entry.data == {"from": "draft", "to": "analysis"}
    assert entry.actor_kind == ActorKind.ANALYST


def test_an_illegal_transition_is_refused_and_writes_nothing(incident, as_analyst):
    with pytest.raises(IllegalTransition, match="cannot move from Draft to Recover"):
        incident_transition(actor=as_analyst, incident=incident, to_state=State.RECOVER)

    incident.refresh_from_db()
    assert incident.state == State.DRAFT
    assert kinds(incident) == ["incident.opened"]


def test_closing_needs_a_reason_and_sets_the_closed_time(incident, as_analyst):
    with pytest.raises(DomainError, match="reason"):
        incident_transition(actor=as_analyst, incident=incident, to_state=State.CLOSED)
    incident.refresh_from_db()
    assert incident.closed_at is None

    incident_transition(
        actor=as_analyst, incident=incident, to_state=State.CLOSED, reason="False positive"
    )
    incident.refresh_from_db()
    assert incident.state == State.CLOSED
    assert incident.closed_at is not None
    assert incident.timeline.get(kind="incident.state_changed").body == "False positive"


def test_a_closed_incident_can_be_reopened_and_a_cancelled_one_cannot(db, as_analyst):
    closed = open_incident()
    incident_transition(actor=as_analyst, incident=closed, to_state=State.CLOSED, reason="FP")
    incident_transition(actor=as_analyst, incident=closed, to_state=State.ANALYSIS)
    closed.refresh_from_db()
    assert closed.state == State.ANALYSIS
    assert closed.closed_at is None

    cancelled = open_incident()
    incident_transition(
        actor=as_analyst, incident=cancelled, to_state=State.CANCELLED, reason="Duplicate"
    )
    with pytest.raises(IllegalTransition):
        incident_transition(actor=as_analyst, incident=cancelled, to_state=State.ANALYSIS)


# --- notes and assignment ---------------------------------------------------------------


def test_a_work_note_is_a_timeline_entry_by_the_actor(incident):
    entry = incident_add_note(
        actor=Actor.runbook("Failed sign-ins"), incident=incident, text="User confirmed.\nMore."
    )

    assert entry.kind == "note.added"
    assert entry.actor_kind == ActorKind.RUNBOOK
    assert entry.actor_name == "Failed sign-ins"
    assert entry.summary == "Work note"
    assert entry.body == "User confirmed.\nMore."


def test_an_empty_note_is_refused(incident, as_analyst):
    with pytest.raises(DomainError):
        incident_add_note(actor=as_analyst, incident=incident, text="  \n ")
    assert kinds(incident) == ["incident.opened"]


def test_assigning_records_the_analyst_and_group(incident, as_analyst, analyst):
    group = Group.objects.get(name="SOC analyst")
    incident_assign(actor=as_analyst, incident=incident, analyst=analyst, group=group)

    incident.refresh_from_db()
    assert incident.assigned_to == analyst
    assert incident.assignment_group == group
    entry = incident.timeline.get(kind="incident.assigned")
    assert entry.data == {"analyst": "alice", "group": "SOC analyst"}


def test_assigning_to_the_same_analyst_again_writes_nothing(incident, as_analyst, analyst):
    incident_assign(actor=as_analyst, incident=incident, analyst=analyst)
    incident_assign(actor=as_analyst, incident=incident, analyst=analyst)
    assert kinds(incident).count("incident.assigned") == 1


def test_an_incident_cannot_be_assigned_to_a_non_staff_user(incident, as_analyst):
    with pytest.raises(DomainError, match="not an analyst"):
        incident_assign(actor=as_analyst, incident=incident, analyst=UserFactory())
    incident.refresh_from_db()
    assert incident.assigned_to is None


# --- tasks ------------------------------------------------------------------------------


def test_creating_a_task_numbers_it_and_records_who_created_it(incident):
    task = task_create(
        actor=Actor.runbook("Suspicious download"),
        incident=incident,
        title="Confirm the download with the user",
        description="See KB0012345.",
    )

    assert task.number == "SIT0001001"
    assert task.state == TaskState.OPEN
    assert task.created_by_kind == ActorKind.RUNBOOK
    assert task.created_by_name == "Suspicious download"
    entry = incident.timeline.get(kind="task.created")
    assert entry.task == task
    assert entry.body == "See KB0012345."


def test_no_task_can_be_added_to_a_closed_incident(incident, as_analyst):
    incident_transition(actor=as_analyst, incident=incident, to_state=State.CLOSED, reason="FP")
    with pytest.raises(DomainError, match="reopen"):
        task_create(actor=as_analyst, incident=incident, title="Late task")
    assert not ResponseTask.objects.exists()


@pytest.mark.parametrize(
    ("to_state", "kind"),
    [
        (TaskState.IN_PROGRESS, "task.started"),
        (TaskState.AWAITING_USER, "task.awaiting_user"),
        (TaskState.COMPLETED, "task.completed"),
        (TaskState.INCOMPLETE, "task.marked_incomplete"),
        (TaskState.CANCELLED, "task.cancelled"),
    ],
)
def test_each_task_transition_writes_its_own_kind(incident, as_analyst, to_state, kind):
    task = task_create(actor=as_analyst, incident=incident, title="Reset credentials")
    task_transition(actor=as_analyst, task=task, to_state=to_state, reason="why")

    task.refresh_from_db()
    assert task.state == to_state
    assert (task.closed_at is not None) == (not task.is_open)
    entry = incident.timeline.get(kind=kind)
    assert entry.task == task
    assert entry.body == "why"


def test_a_finished_task_cannot_be_completed_again(incident, as_analyst):
    task = task_create(actor=as_analyst, incident=incident, title="Reset credentials")
    task_transition(actor=as_analyst, task=task, to_state=TaskState.CANCELLED)

    with pytest.raises(IllegalTransition, match="Cancelled to Completed"):
        task_transition(actor=as_analyst, task=task, to_state=TaskState.COMPLETED)
    task.refresh_from_db()
    assert task.state == TaskState.CANCELLED
    assert kinds(incident).count("task.completed") == 0


def test_updating_a_task_records_the_changes(incident, as_analyst):
    other = AnalystFactory(username="carol")
    task = task_create(actor=as_analyst, incident=incident, title="Reset credentials")
    task_update(actor=as_analyst, task=task, assignee=other, title="Reset password")

    task.refresh_from_db()
    assert (task.title, task.assignee) == ("Reset password", other)
    entry = incident.timeline.get(kind="task.updated")
    assert entry.data["changes"]["title"] == ["Reset credentials", "Reset password"]


# --- evidence ---------------------------------------------------------------------------


def test_evidence_is_stored_under_a_random_name_with_hash_type_and_provenance(
    incident, as_analyst, settings
):
    evidence = evidence_add(
        actor=as_analyst,
        incident=incident,
        content=PNG,
        filename="../../etc/screen\u202egnp.exe",
        declared_content_type="application/octet-stream",
        source=Evidence.Source.ANALYST_UPLOAD,
        provenance={"channel": "admin"},
    )

    assert evidence.filename == "screengnp.exe"
    assert evidence.detected_content_type == "image/png"
    # A picture named .exe: kept, but only ever downloaded (as screengnp.exe.quarantined).
    assert evidence.quarantined and not evidence.previewable
    assert evidence.size == len(PNG)
    assert evidence.sha256 == hashlib.sha256(PNG).hexdigest()
    assert "screen" not in evidence.file.name and "." not in evidence.file.name.split("/")[-1]
    assert evidence.file.path.startswith(str(settings.EVIDENCE_ROOT))
    with evidence.file.open("rb") as stored:
        assert stored.read() == PNG
    entry = incident.timeline.get(kind="evidence.added")
    assert entry.evidence == evidence
    assert entry.data["sha256"] == evidence.sha256


def test_evidence_reads_file_objects_in_chunks(incident, as_analyst, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"line\n" * 20000)
    with path.open("rb") as handle:
        evidence = evidence_add(
            actor=as_analyst,
            incident=incident,
            content=handle,
            filename="notes.txt",
            source=Evidence.Source.ANALYST_UPLOAD,
        )
    assert evidence.size == 100000
    assert evidence.detected_content_type == "text/plain"


@pytest.mark.parametrize(
    "filename, content, reason",
    [
        ("invoice.exe", b"MZ\x90\x00" + b"\x00" * 60, "a .exe file can run code when opened"),
        ("notes.txt.js", b"WScript.Shell", "a .js file can run code when opened"),
        ("report.pdf", b"PK\x03\x04", "its content is application/zip, not an image, PDF or text"),
        ("a.png", b"<svg onload=x>", "its content is image/svg+xml, not an image, PDF or text"),
    ],
)  # fmt: skip
def test_dangerous_evidence_is_kept_but_quarantined(
    incident, as_analyst, filename, content, reason
):
    evidence = evidence_add(
        actor=as_analyst, incident=incident, content=content, filename=filename,
        source=Evidence.Source.EMAIL_REPLY,
    )  # fmt: skip

    assert (evidence.quarantine_reason, evidence.previewable) == (reason, False)
    assert evidence.download_filename == f"{filename}.quarantined"
    entry = incident.timeline.get(kind="evidence.added")
    assert entry.summary.endswith("(quarantined: download only)")
    assert entry.body == f"Quarantined: {reason}." and entry.data["quarantined"] is True


@pytest.mark.parametrize("filename, content", [("shot.png", PNG), ("log.txt", b"sign-in at 10:00")])
def test_images_pdfs_and_text_are_not_quarantined(incident, as_analyst, filename, content):
    evidence = evidence_add(
        actor=as_analyst, incident=incident, content=content, filename=filename,
        source=Evidence.Source.EMAIL_REPLY,
    )  # fmt: skip

    assert not evidence.quarantined and evidence.download_filename == filename
    assert "quarantined" not in incident.timeline.get(kind="evidence.added").summary


@override_settings(EVIDENCE_MAX_BYTES=10)
def test_oversized_and_empty_evidence_is_refused(incident, as_analyst):
    for content in (b"x" * 11, b""):
        with pytest.raises(DomainError):
            evidence_add(
                actor=as_analyst,
                incident=incident,
                content=content,
                filename="big.bin",
                source=Evidence.Source.ANALYST_UPLOAD,
            )
    assert not Evidence.objects.exists()
    assert kinds(incident) == ["incident.opened"]
