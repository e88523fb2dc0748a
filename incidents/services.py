"""Every change to the case record. Each function is keyword-only, takes the `actor` doing
it, and writes its timeline entry in the same transaction as the change."""

import hashlib
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError, IllegalTransition
from incidents import timeline_kinds as kinds
from incidents.details import DetailsError, details_clean
from incidents.filenames import display_filename
from incidents.models import (
    Category,
    ConfigurationItem,
    Evidence,
    Person,
    ResponseTask,
    SecurityIncident,
    TimelineEntry,
)
from incidents.numbering import number_next
from incidents.sniffing import SNIFF_BYTES, detect_content_type, quarantine_reason
from incidents.timeline import timeline_record

IncidentState = SecurityIncident.State
TaskState = ResponseTask.State

_ACTIVE_INCIDENT_STATES = {
    IncidentState.DRAFT,
    IncidentState.ANALYSIS,
    IncidentState.CONTAIN,
    IncidentState.ERADICATE,
    IncidentState.RECOVER,
    IncidentState.REVIEW,
}

# Which state may follow which. The response phases run forward, may step back one phase
# when new facts appear, and any active incident can be closed (false positive) or
# cancelled (opened in error). A closed incident can be reopened for analysis.
INCIDENT_TRANSITIONS: dict[str, set[str]] = {
    IncidentState.DRAFT: {IncidentState.ANALYSIS},
    IncidentState.ANALYSIS: {
        IncidentState.CONTAIN,
        IncidentState.ERADICATE,
        IncidentState.RECOVER,
        IncidentState.REVIEW,
    },
    IncidentState.CONTAIN: {
        IncidentState.ANALYSIS,
        IncidentState.ERADICATE,
        IncidentState.RECOVER,
        IncidentState.REVIEW,
    },
    IncidentState.ERADICATE: {IncidentState.CONTAIN, IncidentState.RECOVER, IncidentState.REVIEW},
    IncidentState.RECOVER: {IncidentState.ERADICATE, IncidentState.REVIEW},
    IncidentState.REVIEW: {IncidentState.ANALYSIS},
    IncidentState.CLOSED: {IncidentState.ANALYSIS},
    IncidentState.CANCELLED: set(),
}
for _state in _ACTIVE_INCIDENT_STATES:
    INCIDENT_TRANSITIONS[_state] |= {IncidentState.CLOSED, IncidentState.CANCELLED}

# Closing and cancelling need a reason, as analysts and auditors expect a close note.
_STATES_NEEDING_REASON = {IncidentState.CLOSED, IncidentState.CANCELLED}

_OPEN_TASK_STATES = {TaskState.OPEN, TaskState.IN_PROGRESS, TaskState.AWAITING_USER}

TASK_TRANSITIONS: dict[str, set[str]] = {
    TaskState.OPEN: {
        TaskState.IN_PROGRESS,
        TaskState.AWAITING_USER,
        TaskState.COMPLETED,
        TaskState.INCOMPLETE,
        TaskState.CANCELLED,
    },
    TaskState.IN_PROGRESS: {
        TaskState.AWAITING_USER,
        TaskState.COMPLETED,
        TaskState.INCOMPLETE,
        TaskState.CANCELLED,
    },
    TaskState.AWAITING_USER: {
        TaskState.IN_PROGRESS,
        TaskState.COMPLETED,
        TaskState.INCOMPLETE,
        TaskState.CANCELLED,
    },
    TaskState.COMPLETED: set(),
    TaskState.INCOMPLETE: set(),
    TaskState.CANCELLED: set(),
}

# Task transitions get their own timeline kinds so runbook triggers such as
# "task completed" match on the kind alone.
TASK_TRANSITION_KINDS = {
    TaskState.IN_PROGRESS: kinds.TASK_STARTED,
    TaskState.AWAITING_USER: kinds.TASK_AWAITING_USER,
    TaskState.COMPLETED: kinds.TASK_COMPLETED,
    TaskState.INCOMPLETE: kinds.TASK_MARKED_INCOMPLETE,
    TaskState.CANCELLED: kinds.TASK_CANCELLED,
}

INCIDENT_EDITABLE_FIELDS = (
    "short_description",
    "description",
    "category",
    "priority",
    "affected_user",
    "affected_ci",
    "external_reference",
)
TASK_EDITABLE_FIELDS = ("title", "description", "assignee", "due_at")


def _describe(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    return str(value)


def _apply_changes(obj: Any, allowed: tuple[str, ...], changes: dict[str, Any]) -> dict:
    """Set the given fields and return {field: [old, new]} for those that really changed."""
    unknown = set(changes) - set(allowed)
    if unknown:
        raise DomainError(f"These fields cannot be changed here: {', '.join(sorted(unknown))}.")
    changed = {}
    for field, new in changes.items():
        old = getattr(obj, field)
        if old != new:
            setattr(obj, field, new)
            changed[field] = [_describe(old), _describe(new)]
    return changed


def _locked(model: type, pk: int) -> Any:
    return model.objects.select_for_update().get(pk=pk)


def _locked_task(pk: int) -> ResponseTask:
    """The task, locked; its incident read along (not locked) for the timeline entry."""
    tasks = ResponseTask.objects.select_for_update(of=("self",)).select_related("incident")
    return tasks.get(pk=pk)


# --- Incidents --------------------------------------------------------------------------


def incident_open(
    *,
    actor: Actor,
    short_description: str,
    category: Category,
    priority: int = SecurityIncident.Priority.LOW,
    description: str = "",
    affected_user: Person | None = None,
    affected_ci: ConfigurationItem | None = None,
    assigned_to: AbstractBaseUser | None = None,
    external_reference: str = "",
    details: dict | None = None,
) -> tuple[SecurityIncident, bool]:
    """Open an incident in Draft and write `incident.opened`; returns it and True.
    `details`: what happened, checked against the category's schema (incidents.details).

    `external_reference` is the idempotency key: with one already seen, returns that
    incident unchanged and False, so a detection tool that retries never opens a
    duplicate (the API answers 200 instead of 201).
    """
    external_reference = external_reference.strip()
    if external_reference:
        existing = SecurityIncident.objects.filter(external_reference=external_reference).first()
        if existing:
            return existing, False
    if not short_description.strip():
        raise DomainError("An incident needs a short description.")
    try:
        details = details_clean(category.slug, details)
    except DetailsError as error:
        raise DomainError(f"{error.field}: {error.message}") from None
    try:
        with transaction.atomic():
            incident = SecurityIncident.objects.create(
                number=number_next("SIR"),
                short_description=short_description.strip(),
                description=description,
                category=category,
                priority=priority,
                affected_user=affected_user,
                affected_ci=affected_ci,
                assigned_to=assigned_to,
                external_reference=external_reference,
                details=details,
            )
            facts = [f"Category: {category.name}", f"Priority: {incident.get_priority_display()}"]
            if affected_user:
                facts.append(f"Affected user: {affected_user.full_name}")
            if affected_ci:
                facts.append(f"Affected CI: {affected_ci.name}")
            if details:
                facts.append("Details: " + ", ".join(details))
            timeline_record(
                incident=incident,
                kind=kinds.INCIDENT_OPENED,
                actor=actor,
                summary=f"Incident {incident.number} opened: {incident.short_description}",
                body="\n".join(facts),
                data={
                    "category": category.slug,
                    "priority": incident.priority,
                    "external_reference": external_reference,
                },
            )
    except IntegrityError:
        # A concurrent request with the same external reference won the race.
        if external_reference:
            existing = SecurityIncident.objects.filter(
                external_reference=external_reference
            ).first()
            if existing:
                return existing, False
        raise
    return incident, True


def incident_update(
    *, actor: Actor, incident: SecurityIncident, **changes: Any
) -> SecurityIncident:
    """Change descriptive fields (not state or assignment, which have their own services)."""
    with transaction.atomic():
        incident = _locked(SecurityIncident, incident.pk)
        changed = _apply_changes(incident, INCIDENT_EDITABLE_FIELDS, changes)
        if not changed:
            return incident
        if "short_description" in changes and not incident.short_description.strip():
            raise DomainError("An incident needs a short description.")
        incident.updated_at = timezone.now()
        incident.save()
        labels = ", ".join(str(SecurityIncident._meta.get_field(f).verbose_name) for f in changed)
        timeline_record(
            incident=incident,
            kind=kinds.INCIDENT_UPDATED,
            actor=actor,
            summary=f"Changed {labels}",
            body="\n".join(f"{field}: {old} → {new}" for field, (old, new) in changed.items()),
            data={"changes": changed},
        )
    return incident


def incident_transition(
    *, actor: Actor, incident: SecurityIncident, to_state: str, reason: str = ""
) -> SecurityIncident:
    """Move an incident to another state if the transition map allows it."""
    to_state = IncidentState(to_state)
    with transaction.atomic():
        incident = _locked(SecurityIncident, incident.pk)
        from_state = IncidentState(incident.state)
        if to_state not in INCIDENT_TRANSITIONS[from_state]:
            raise IllegalTransition(
                f"{incident.number} cannot move from {from_state.label} to {to_state.label}."
            )
        if to_state in _STATES_NEEDING_REASON and not reason.strip():
            raise DomainError(f"Give a reason to move {incident.number} to {to_state.label}.")
        now = timezone.now()
        incident.state = to_state
        incident.updated_at = now
        incident.closed_at = now if to_state in _STATES_NEEDING_REASON else None
        incident.save(update_fields=["state", "updated_at", "closed_at"])
        timeline_record(
            incident=incident,
            kind=kinds.INCIDENT_STATE_CHANGED,
            actor=actor,
            summary=f"State changed from {from_state.label} to {to_state.label}",
            body=reason.strip(),
            data={"from": from_state.value, "to": to_state.value},
        )
    return incident


def incident_add_note(
    *,
    actor: Actor,
    incident: SecurityIncident,
    text: str,
    task: ResponseTask | None = None,
) -> TimelineEntry:
    """Add a work note (free text, shown as text: never rendered as HTML)."""
    text = text.strip()
    if not text:
        raise DomainError("A work note cannot be empty.")
    with transaction.atomic():
        return timeline_record(
            incident=incident,
            task=task,
            kind=kinds.NOTE_ADDED,
            actor=actor,
            summary="Work note",
            body=text,
        )


def incident_assign(
    *,
    actor: Actor,
    incident: SecurityIncident,
    analyst: AbstractBaseUser | None = None,
    group: Group | None = None,
) -> SecurityIncident:
    """Assign to an analyst and/or a group; None clears that part of the assignment."""
    if analyst is not None and not analyst.is_staff:
        raise DomainError(f"{analyst.get_username()} is not an analyst (no admin access).")
    with transaction.atomic():
        incident = _locked(SecurityIncident, incident.pk)
        if incident.assigned_to_id == getattr(analyst, "pk", None) and (
            incident.assignment_group_id == getattr(group, "pk", None)
        ):
            return incident
        incident.assigned_to = analyst
        incident.assignment_group = group
        incident.updated_at = timezone.now()
        incident.save(update_fields=["assigned_to", "assignment_group", "updated_at"])
        who = [analyst.get_full_name() or analyst.get_username()] if analyst else []
        if group:
            who.append(f"group {group.name}")
        timeline_record(
            incident=incident,
            kind=kinds.INCIDENT_ASSIGNED,
            actor=actor,
            summary=f"Assigned to {' and '.join(who)}" if who else "Assignment cleared",
            data={
                "analyst": analyst.get_username() if analyst else None,
                "group": group.name if group else None,
            },
        )
    return incident


# --- Tasks ------------------------------------------------------------------------------


def task_create(
    *,
    actor: Actor,
    incident: SecurityIncident,
    title: str,
    description: str = "",
    assignee: AbstractBaseUser | None = None,
    due_at=None,
    topic: str = "",
) -> ResponseTask:
    if not title.strip():
        raise DomainError("A task needs a title.")
    with transaction.atomic():
        incident = _locked(SecurityIncident, incident.pk)
        if not incident.is_active:
            raise DomainError(
                f"{incident.number} is {incident.get_state_display().lower()}; "
                "reopen it before adding tasks."
            )
        task = ResponseTask.objects.create(
            number=number_next("SIT"),
            incident=incident,
            title=title.strip(),
            description=description,
            assignee=assignee,
            due_at=due_at,
            topic=topic,
            created_by_kind=actor.kind,
            created_by_name=actor.name[:200],
            created_by_user=actor.user,
        )
        timeline_record(
            incident=incident,
            task=task,
            kind=kinds.TASK_CREATED,
            actor=actor,
            summary=f"Task {task.number} created: {task.title}",
            body=description,
            data={"task": task.number},
        )
    return task


def task_open_for_topic(
    *,
    actor: Actor,
    incident: SecurityIncident,
    topic: str,
    title: str,
    description: str = "",
) -> tuple[ResponseTask, bool]:
    """The incident's open task on `topic`, or a new one when none is open; returns it and
    whether it was created. Something that happens again and again (a flood of emails to
    verify) gives an analyst one task to work through, not one task each.

    The incident is locked first, so two workers never both create the task."""
    with transaction.atomic():
        incident = _locked(SecurityIncident, incident.pk)
        task = ResponseTask.objects.filter(
            incident=incident, topic=topic, state__in=_OPEN_TASK_STATES
        ).first()
        if task is not None:
            return task, False
        task = task_create(
            actor=actor, incident=incident, title=title, description=description, topic=topic
        )
    return task, True


def task_update(*, actor: Actor, task: ResponseTask, **changes: Any) -> ResponseTask:
    with transaction.atomic():
        task = _locked_task(task.pk)
        changed = _apply_changes(task, TASK_EDITABLE_FIELDS, changes)
        if not changed:
            return task
        if not task.title.strip():
            raise DomainError("A task needs a title.")
        task.updated_at = timezone.now()
        task.save()
        labels = ", ".join(str(ResponseTask._meta.get_field(f).verbose_name) for f in changed)
        timeline_record(
            incident=task.incident,
            task=task,
            kind=kinds.TASK_UPDATED,
            actor=actor,
            summary=f"Task {task.number}: changed {labels}",
            body="\n".join(f"{field}: {old} → {new}" for field, (old, new) in changed.items()),
            data={"task": task.number, "changes": changed},
        )
    return task


def task_transition(
    *, actor: Actor, task: ResponseTask, to_state: str, reason: str = ""
) -> ResponseTask:
    """Start, complete, mark incomplete, cancel or await the user, if the map allows it."""
    to_state = TaskState(to_state)
    with transaction.atomic():
        task = _locked_task(task.pk)
        from_state = TaskState(task.state)
        if to_state not in TASK_TRANSITIONS[from_state]:
            raise IllegalTransition(
                f"{task.number} cannot move from {from_state.label} to {to_state.label}."
            )
        now = timezone.now()
        task.state = to_state
        task.updated_at = now
        task.closed_at = None if to_state in _OPEN_TASK_STATES else now
        task.save(update_fields=["state", "updated_at", "closed_at"])
        timeline_record(
            incident=task.incident,
            task=task,
            kind=TASK_TRANSITION_KINDS[to_state],
            actor=actor,
            summary=f"Task {task.number} {to_state.label.lower()}: {task.title}",
            body=reason.strip(),
            data={"task": task.number, "from": from_state.value, "to": to_state.value},
        )
    return task


# --- Evidence ---------------------------------------------------------------------------


def evidence_add(
    *,
    actor: Actor,
    incident: SecurityIncident,
    content: bytes | IO[bytes] | File,
    filename: str,
    source: str,
    declared_content_type: str = "",
    task: ResponseTask | None = None,
    provenance: dict[str, Any] | None = None,
) -> Evidence:
    """Store a file on the incident under a random name, with its hash, sniffed type and
    where it came from.

    1. Read it once in chunks: size (refused over EVIDENCE_MAX_BYTES), sha256, first bytes.
    2. Write it to the evidence storage under a random name.
    3. Create the Evidence row and its `evidence.added` entry in one transaction.
    """
    source = Evidence.Source(source)
    file = ContentFile(content) if isinstance(content, bytes) else File(content)
    digest = hashlib.sha256()
    size = 0
    head = b""
    file.seek(0)
    for chunk in file.chunks():
        size += len(chunk)
        if size > settings.EVIDENCE_MAX_BYTES:
            raise DomainError(
                f"The file is larger than the limit of "
                f"{settings.EVIDENCE_MAX_BYTES // (1024 * 1024)} MB."
            )
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
        digest.update(chunk)
    if size == 0:
        raise DomainError("The file is empty.")
    file.seek(0)

    name = display_filename(filename)
    detected = detect_content_type(head)
    evidence = Evidence(
        incident=incident,
        task=task,
        filename=name,
        declared_content_type=declared_content_type[:255],
        detected_content_type=detected,
        quarantine_reason=quarantine_reason(detected, name)[:200],
        size=size,
        sha256=digest.hexdigest(),
        source=source,
        provenance=provenance or {},
        added_by_user=actor.user,
    )
    # The file is written before the row: a rollback then leaves an orphan file (harmless,
    # unreachable) rather than a row pointing at nothing.
    evidence.file.save(name, file, save=False)
    with transaction.atomic():
        evidence.save()
        timeline_record(
            incident=incident,
            task=task,
            evidence=evidence,
            kind=kinds.EVIDENCE_ADDED,
            actor=actor,
            summary=f"Evidence added: {name} ({evidence.detected_content_type}, {size} bytes)"
            + (" (quarantined: download only)" if evidence.quarantined else ""),
            body=f"Quarantined: {evidence.quarantine_reason}." if evidence.quarantined else "",
            data={
                "evidence": evidence.pk,
                "sha256": evidence.sha256,
                "source": source.value,
                "quarantined": evidence.quarantined,
            },
        )
    return evidence
