"""Starting runs: on a timeline entry that triggers a runbook, at an analyst's request, or
for a list of people at once. Each start writes its `runbook.started` entry and hands the
run to the engine (runbooks.services) to advance after commit."""

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.actors import Actor
from core.enqueue import enqueue_on_commit
from core.errors import DomainError
from incidents.models import Person, SecurityIncident, TimelineEntry
from incidents.timeline import timeline_record
from runbooks import timeline_kinds as kinds
from runbooks.definitions import runbook_definition
from runbooks.models import Runbook, RunbookRun
from runbooks.services import enqueue_advance, runbook_actor

State = RunbookRun.State


def runbook_matches(runbook: Runbook, incident: SecurityIncident) -> bool:
    categories = {c.pk for c in runbook.categories.all()}
    if categories and incident.category_id not in categories:
        return False
    return runbook.min_priority is None or incident.priority <= runbook.min_priority


def runs_start_for_entry(entry: TimelineEntry) -> list[RunbookRun]:
    """Start every active runbook whose trigger is this entry's kind and whose conditions
    the incident meets. Safe to call twice for the same entry."""
    incident = entry.incident
    if not incident.is_active:
        return []
    runbooks = Runbook.objects.filter(active=True, trigger=entry.kind).prefetch_related(
        "categories"
    )
    return [
        run_start(runbook=runbook, incident=incident, trigger_entry=entry)
        for runbook in runbooks
        if runbook_matches(runbook, incident)
    ]


def run_start(
    *, runbook: Runbook, incident: SecurityIncident, trigger_entry: TimelineEntry | None = None
) -> RunbookRun:
    existing = RunbookRun.objects.filter(
        runbook=runbook, incident=incident, trigger_entry=trigger_entry
    ).first()
    if existing and trigger_entry is not None:
        return existing
    try:
        with transaction.atomic():
            run = _run_create(runbook=runbook, incident=incident, trigger_entry=trigger_entry)
    except IntegrityError:
        # A concurrent delivery of the same event started it first.
        return RunbookRun.objects.get(
            runbook=runbook, incident=incident, trigger_entry=trigger_entry
        )
    return run


def _run_create(
    *,
    runbook: Runbook,
    incident: SecurityIncident,
    trigger_entry: TimelineEntry | None = None,
    actor: Actor | None = None,
) -> RunbookRun:
    """Create the run with its `runbook.started` entry (the actor: who started it, else
    the runbook itself) and advance it after commit. The caller holds the transaction."""
    run = RunbookRun.objects.create(
        runbook=runbook,
        version=runbook.version,
        definition=runbook_definition(runbook),
        incident=incident,
        trigger_entry=trigger_entry,
    )
    by = f" by {actor.name}" if actor else ""
    timeline_record(
        incident=incident,
        kind=kinds.RUNBOOK_STARTED,
        actor=actor or runbook_actor(run),
        summary=f"Runbook '{runbook.name}' (version {runbook.version}) started{by}",
        data={"run": run.pk, "runbook": runbook.name, "version": runbook.version},
    )
    enqueue_advance(run.pk)
    return run


UNFINISHED = (State.RUNNING, State.WAITING, State.FAILED)


def run_start_by_analyst(
    *, actor: Actor, runbook: Runbook, incident: SecurityIncident
) -> RunbookRun:
    """Start `runbook` on `incident` at an analyst's request, asking the incident's
    affected user (Ask people starts runs for a list of others): a manual runbook, or an
    automatic one whose trigger passed before the incident met its conditions.

    Refuses (DomainError) a closed incident, an inactive runbook, one whose categories or
    priority the incident does not meet, and one that asks a question when nobody is the
    affected user. A run of the runbook not yet finished for the same person refuses a
    second one, so a double submit starts one run. The incident is locked first, which
    serialises two concurrent starts.
    """
    with transaction.atomic():
        incident = SecurityIncident.objects.select_for_update().get(pk=incident.pk)
        runbook = Runbook.objects.prefetch_related("categories").get(pk=runbook.pk)
        if not incident.is_active:
            raise DomainError(f"{incident.number} is {incident.get_state_display()}.")
        if not runbook.active:
            raise DomainError(f"The runbook '{runbook.name}' is not active.")
        if not runbook_matches(runbook, incident):
            raise DomainError(
                f"The runbook '{runbook.name}' does not apply to {incident_conditions(incident)}."
            )
        if incident.affected_user_id is None and runbook_asks(runbook):
            raise DomainError(
                f"The runbook '{runbook.name}' asks the affected user, and {incident.number} "
                "has none: set the affected user first, or use Ask people."
            )
        unfinished = (
            RunbookRun.objects.filter(runbook=runbook, incident=incident, state__in=UNFINISHED)
            .filter(Q(person__isnull=True) | Q(person_id=incident.affected_user_id))
            .first()
        )
        if unfinished:
            raise DomainError(
                f"The runbook '{runbook.name}' is already on {incident.number} (run "
                f"{unfinished.pk}, {unfinished.get_state_display().lower()}); nothing was "
                "started."
            )
        return _run_create(runbook=runbook, incident=incident, actor=actor)


def runbook_asks(runbook: Runbook) -> bool:
    return runbook.steps.filter(action="ask_user").exists()


def incident_conditions(incident: SecurityIncident) -> str:
    """What runbook conditions look at, as analysts read it: "Phishing / 3 - Moderate"."""
    return f"{incident.category.name} / {incident.get_priority_display()}"


# Runs per advance task when many start at once: big enough that the broker's cost per
# task is small, small enough that one task stays far inside django-q2's timeout.
RUNS_PER_TASK = 100


def runs_start_for_people(
    *, actor: Actor, runbook: Runbook, incident: SecurityIncident, people: list[Person]
) -> list[int]:
    """Start `runbook` on `incident` once for each person, each run asking its own person
    and branching on that person's answer (a phishing email that reached many: ask each
    whether they clicked). People this runbook already asks on this incident are skipped,
    so a retried or extended list asks only the new ones. One timeline entry for the lot;
    the runs are advanced in batches after commit. Returns the new runs' ids."""
    if not runbook.active:
        raise DomainError(f"The runbook '{runbook.name}' is not active.")
    definition = runbook_definition(runbook)
    with transaction.atomic():
        # Locking the incident serialises two starts for overlapping lists.
        incident = SecurityIncident.objects.select_for_update().get(pk=incident.pk)
        if not incident.is_active:
            raise DomainError(f"{incident.number} is {incident.get_state_display()}.")
        asked = set(
            RunbookRun.objects.filter(
                runbook=runbook, incident=incident, person__isnull=False
            ).values_list("person_id", flat=True)
        )
        new_people = list({p.pk: p for p in people if p.pk not in asked}.values())
        if not new_people:
            return []
        now = timezone.now()
        runs = RunbookRun.objects.bulk_create(
            [
                RunbookRun(
                    runbook=runbook,
                    version=runbook.version,
                    definition=definition,
                    incident=incident,
                    person=person,
                    created_at=now,
                    updated_at=now,
                )
                for person in new_people
            ],
            batch_size=1000,
        )
        run_ids = [run.pk for run in runs]
        timeline_record(
            incident=incident,
            kind=kinds.RUNBOOK_STARTED,
            actor=actor,
            summary=f"Runbook '{runbook.name}' (version {runbook.version}) started for "
            f"{len(run_ids)} people",
            data={
                "runbook": runbook.name,
                "version": runbook.version,
                "people": len(run_ids),
                "runs": [run_ids[0], run_ids[-1]],
            },
        )
        for start in range(0, len(run_ids), RUNS_PER_TASK):
            enqueue_on_commit("runbooks.tasks.advance_runs", run_ids[start : start + RUNS_PER_TASK])
    return run_ids
