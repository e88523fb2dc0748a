"""What the incident page reads besides the form: the facts of its summary header, the open
tasks, the evidence section and the timeline. Each costs a fixed number of queries,
whatever the number of tasks, files or entries the incident has gathered."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from incidents.models import Evidence, ResponseTask, SecurityIncident
from incidents.timeline_display import (
    timeline_days,
    timeline_filter_links,
    timeline_filtered,
    timeline_group,
)

# The header lists the open tasks due first; the rest are a link away (an incident with
# many people asked can have a task per person).
OPEN_TASKS_SHOWN = 5
# The newest tasks listed below the form; beyond them, the task list of the incident (a
# campaign can have a task per person who answered).
TASKS_SHOWN = 20
# Evidence shown with thumbnails; beyond it, the evidence list of the incident.
EVIDENCE_SHOWN = 24
# The newest entries only: a busy incident gathers thousands, and rendering them all made
# its page take seconds. The rest are on the full timeline page.
TIMELINE_ON_INCIDENT_PAGE = 200

OPEN_TASK_STATES = [
    ResponseTask.State.OPEN,
    ResponseTask.State.IN_PROGRESS,
    ResponseTask.State.AWAITING_USER,
]


def incident_open_tasks(incident: SecurityIncident) -> dict[str, Any]:
    """The open tasks, due first (undated last), and a link to all of them if there are
    more than the header shows."""
    tasks = list(
        incident.tasks.filter(state__in=OPEN_TASK_STATES)
        .select_related("assignee")
        .order_by(F("due_at").asc(nulls_last=True), "created_at", "id")[: OPEN_TASKS_SHOWN + 1]
    )
    now = timezone.now()
    return {
        "tasks": [
            {"task": task, "overdue": task.due_at is not None and task.due_at < now}
            for task in tasks[:OPEN_TASKS_SHOWN]
        ],
        "more_url": (
            f"{reverse('admin:incidents_responsetask_changelist')}?q={incident.number}"
            if len(tasks) > OPEN_TASKS_SHOWN
            else ""
        ),
    }


def incident_tasks(incident: SecurityIncident) -> dict[str, Any]:
    """The newest tasks, one query, with a link to all of them if there are more."""
    rows = list(incident.tasks.select_related("assignee").order_by("-created_at", "-id")[
        : TASKS_SHOWN + 1
    ])  # fmt: skip
    return {
        "tasks": rows[:TASKS_SHOWN],
        "list_url": f"{reverse('admin:incidents_responsetask_changelist')}?q={incident.number}",
        "has_more": len(rows) > TASKS_SHOWN,
        "shown": TASKS_SHOWN,
    }


# --- evidence ---------------------------------------------------------------------------

# How provenance keys read; a key not listed reads as itself, with spaces.
PROVENANCE_LABELS = {
    "channel": "Channel",
    "uploaded_by": "Uploaded by",
    "sender": "Sender",
    "received_at": "Received",
    "message_id": "Message-ID",
    "inbound_email": "Inbound email",
    "answer": "Answer",
    "request": "Question",
    "accepted_by": "Accepted by",
    "verdicts": "Sender checks failed",
    "flags": "Flags",
    "ip_hash": "Address (hashed)",
    "user_agent": "Browser",
}
PROVENANCE_VALUE_CHARS = 120


def provenance_facts(provenance: Any) -> list[tuple[str, str]]:
    """Evidence's provenance as labelled text, never raw JSON. Whatever a sender or a
    browser put there is only text here, and the template escapes it."""
    if not isinstance(provenance, dict):
        return []
    facts = []
    for key, value in provenance.items():
        text = _provenance_value(str(key), value)
        if text:
            label = PROVENANCE_LABELS.get(str(key), str(key).replace("_", " ").capitalize())
            facts.append((label, text))
    return facts


def _provenance_value(key: str, value: Any) -> str:
    if value in (None, "", [], {}):
        return ""
    if isinstance(value, list | tuple):
        text = ", ".join(str(item).replace("_", " ") for item in value)
    elif isinstance(value, dict):
        text = ", ".join(f"{k}: {v}" for k, v in value.items())
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif key.endswith("_at") and isinstance(value, str):
        text = _local_time(value)
    elif key == "channel":
        text = str(value).replace("_", " ")
    else:
        text = str(value)
    if len(text) > PROVENANCE_VALUE_CHARS:
        text = text[: PROVENANCE_VALUE_CHARS - 1] + "…"
    return text


def _local_time(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_naive(moment):
        return value
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


@dataclass
class EvidenceItem:
    evidence: Evidence
    provenance: list[tuple[str, str]]


def incident_evidence(incident: SecurityIncident) -> dict[str, Any]:
    """The newest evidence, one query, with a link to the full list if there is more."""
    rows = list(
        incident.evidence.select_related("added_by_user").order_by("-added_at", "-id")[
            : EVIDENCE_SHOWN + 1
        ]
    )
    return {
        "items": [
            EvidenceItem(ev, provenance_facts(ev.provenance)) for ev in rows[:EVIDENCE_SHOWN]
        ],
        "list_url": f"{reverse('admin:incidents_evidence_changelist')}?q={incident.number}",
        "has_more": len(rows) > EVIDENCE_SHOWN,
        "shown": EVIDENCE_SHOWN,
    }


# --- timeline ---------------------------------------------------------------------------


def timeline_entries(incident: SecurityIncident) -> QuerySet:
    return incident.timeline.select_related("actor_user", "task", "evidence")


def incident_timeline(request: HttpRequest, incident: SecurityIncident) -> dict[str, Any]:
    """The newest entries of the chosen kind group (?group=), by day, bursts folded."""
    group = timeline_group(request.GET.get("group"))
    newest = list(
        timeline_filtered(timeline_entries(incident), group).order_by("-created_at", "-id")[
            : TIMELINE_ON_INCIDENT_PAGE + 1
        ]
    )
    shown = newest[:TIMELINE_ON_INCIDENT_PAGE]
    return {
        "timeline_days": timeline_days(shown),
        "timeline_shown": len(shown),
        "timeline_has_older": len(newest) > TIMELINE_ON_INCIDENT_PAGE,
        "timeline_group": group,
        "timeline_filter_links": timeline_filter_links(group),
        "timeline_url": reverse("admin:incidents_securityincident_timeline", args=[incident.pk]),
    }
