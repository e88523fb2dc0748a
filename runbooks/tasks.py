"""django-q2 entry points: load by id, call a service. Each is safe to run twice."""

from core import log_context
from core.actors import Actor
from incidents.models import SecurityIncident, TimelineEntry
from incidents.timeline_kinds import INCIDENT_STATE_CHANGED
from runbooks.models import Trigger
from runbooks.services import run_advance, runs_advance_batch, runs_cancel_for_incident, runs_sweep
from runbooks.starting import runs_start_for_entry

_ENDED = (SecurityIncident.State.CLOSED, SecurityIncident.State.CANCELLED)


def on_timeline_entry(entry_id: int) -> None:
    """Timeline subscriber (settings.TIMELINE_SUBSCRIBERS): start runbooks on their trigger,
    and cancel an incident's runs when it is closed or cancelled."""
    entry = TimelineEntry.objects.select_related("incident").filter(pk=entry_id).first()
    if entry is None:
        return
    log_context.set_incident(entry.incident.number)
    if entry.kind in Trigger.values:
        runs_start_for_entry(entry)
    if entry.kind == INCIDENT_STATE_CHANGED and entry.data.get("to") in _ENDED:
        runs_cancel_for_incident(
            incident=entry.incident,
            actor=Actor.system(),
            reason=f"The incident was {entry.data['to']}.",
        )


def advance_run(run_id: int) -> None:
    run_advance(run_id)


def advance_runs(run_ids: list[int]) -> None:
    runs_advance_batch(run_ids)


def sweep_runs() -> int:
    return runs_sweep()
