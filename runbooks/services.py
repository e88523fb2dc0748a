"""The runbook engine: advance runs step by step, suspend, resume, retry and cancel them.
Runs are started in runbooks.starting, runbook versions changed in runbooks.versions.

Crash safety rests on one rule: the steps' effects, their StepResults (unique per run and
position) and the run's new position commit in one transaction, under the run's row lock.
A worker killed anywhere leaves either all of an advance or none of it, and advancing
again continues where the last commit stopped. A worker finding the row locked leaves the
run to its holder, so two workers never advance the same run at once.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core import log_context
from core.actors import Actor
from core.enqueue import async_task, enqueue_on_commit
from core.errors import DomainError
from incidents.models import SecurityIncident
from incidents.services import task_create
from incidents.timeline import timeline_record
from runbooks import timeline_kinds as kinds
from runbooks.actions import ACTIONS, Batch, StepContext
from runbooks.definitions import ASKING_ACTIONS, asked_options, guard_matches
from runbooks.models import RunbookRun, StepResult
from runbooks.outcomes import SPECIAL_OUTCOMES
from runbooks.translations import DEFAULT_LANGUAGE, in_language

logger = logging.getLogger(__name__)

State = RunbookRun.State

MAX_STEP_ATTEMPTS = 3
# A running run nobody has touched for this long was left by a crash.
STUCK_AFTER = timedelta(minutes=2)


def runbook_actor(run: RunbookRun) -> Actor:
    """Who a run's own timeline entries and changes are recorded as: the runbook."""
    return Actor.runbook(run.definition["name"])


def _locking(*, skip_locked: bool = False) -> QuerySet[RunbookRun]:
    """Runs locked until the transaction ends, their incident and the person they ask read
    along (not locked; placeholders and questions name the person)."""
    return RunbookRun.objects.select_for_update(
        of=("self",), skip_locked=skip_locked
    ).select_related("incident__affected_user", "person")


def _lock(run_id: int) -> RunbookRun:
    """The run, locked (waiting for whoever holds it)."""
    return _locking().get(pk=run_id)


def _lock_if_free(run_id: int) -> RunbookRun | None:
    """The run, locked; None if another transaction holds it (or it is gone). Whoever
    holds a running run advances it or enqueues its advance on commit, so waiting for it
    would only hold a worker."""
    return _locking(skip_locked=True).filter(pk=run_id).first()


class InlineAdvances:
    """Runs resumed by a caller already in a worker (inbound email processing), advanced by
    this process when the caller is done instead of by a queued task: the answer's branch
    runs without a second trip through the broker. The caller passes it to run_resume."""

    def __init__(self) -> None:
        self._run_ids: list[int] = []

    def add(self, run_id: int) -> None:
        self._run_ids.append(run_id)

    def advance(self) -> None:
        """A resume that rolled back left its run waiting, which advancing skips. A worker
        killed before this leaves the run running, and runs_sweep hands it out again, as
        after a lost enqueue."""
        for run_id in self._run_ids:
            if transaction.get_connection().in_atomic_block:
                # Inside the caller's own transaction the resume is not committed yet.
                enqueue_advance(run_id)
            else:
                run_advance(run_id)


@contextmanager
def advance_inline() -> Iterator[InlineAdvances]:
    """The runs resumed with the InlineAdvances this yields advance when the block ends."""
    inline = InlineAdvances()
    yield inline
    inline.advance()


def enqueue_advance(run_id: int) -> None:
    """Have a worker advance the run once the current transaction commits."""
    enqueue_on_commit("runbooks.tasks.advance_run", run_id)


# --- advancing --------------------------------------------------------------------------


def runs_advance_batch(run_ids: list[int]) -> None:
    """Advance many runs in one task. Each run is still claimed and advanced on its own,
    so a run already advanced (or being advanced elsewhere) is skipped. What the steps put
    off to the end of the batch is done after commit (at once outside a transaction)."""
    batch = Batch()
    try:
        for run_id in run_ids:
            with log_context.incident_scope():
                run_advance(run_id, batch=batch)
    finally:
        transaction.on_commit(batch.finish)


def run_advance(run_id: int, *, batch: Batch | None = None) -> None:
    """Execute steps until the run ends or waits, in one transaction under the run's row
    lock. A failing step rolls back only itself: the steps before it commit with the
    failure counted (each executed step after the first runs in a savepoint). Exits at
    once if the run is not running or another worker holds it (that worker carries it
    on)."""
    try:
        with transaction.atomic():
            run = _lock_if_free(run_id)
            if run is None or run.state != State.RUNNING:
                return
            log_context.set_incident(run.incident.number)
            error = _execute_steps(run, batch)
            retry = error is not None and _count_failure(run, error)
            run.save(
                update_fields=["position", "attempts", "error", "updated_at", "context",
                               "state", "finished_at"]
            )  # fmt: skip
    except Exception as error:
        # The whole advance rolled back (its first executed step failed, the database
        # did, or the unique key caught a step executed twice): count the failure alone.
        logger.exception("Runbook run %s: advancing failed", run_id)
        with transaction.atomic():
            run = _lock(run_id)
            if run.state != State.RUNNING:
                return
            retry = _count_failure(run, error)
            run.save(update_fields=["attempts", "error", "updated_at", "state"])
    if retry:
        enqueue_advance(run_id)


def _execute_steps(run: RunbookRun, batch: Batch | None) -> Exception | None:
    """Execute the run's steps from its position until it waits, ends or a step fails;
    record their results and move the position past them (the caller saves the run).
    Returns the error of a failing step after the first, whose effects its savepoint
    rolled back; the first one's error propagates."""
    now = timezone.now()
    results: list[StepResult] = []
    failure: Exception | None = None
    executed = stale = False
    while run.position < len(run.steps) and run.state == State.RUNNING:
        position = run.position
        step = run.steps[position]
        if not guard_matches(step["guard"], step["outcomes"], run.context.get("outcome")):
            status, outcome = StepResult.Status.SKIPPED, None
        else:
            if stale:
                # The step before changed the incident through a service, on a copy.
                run.incident.refresh_from_db()
                stale = False
            try:
                # The first executed step needs no savepoint: nothing before it in this
                # transaction is worth keeping, so its failure rolls back the whole
                # advance and run_advance counts it (two statements fewer per advance).
                with transaction.atomic(savepoint=executed):
                    outcome = ACTIONS[step["action"]].executor(
                        StepContext(
                            run=run,
                            incident=run.incident,
                            params=step["params"],
                            actor=runbook_actor(run),
                            batch=batch,
                        )
                    )
            except Exception as error:
                if not executed:
                    raise
                logger.exception("Runbook run %s: step %s failed", run.pk, position + 1)
                run.incident.refresh_from_db()  # undo what the step changed in memory
                failure = error
                break
            executed, stale = True, outcome.incident_changed
            status = StepResult.Status.WAITING if outcome.wait else StepResult.Status.DONE
        results.append(
            StepResult(
                run=run,
                position=position,
                action=step["action"],
                status=status,
                detail=(outcome.detail if outcome else "")[:300],
            )
        )
        run.position = position + 1
        run.attempts, run.error, run.updated_at = 0, "", now
        if outcome:
            run.context.update(outcome.context)
            if outcome.wait:
                run.state = State.WAITING
    # One INSERT for every step recorded. The unique (run, position) key makes a second
    # execution of a step fail here, rolling back its effects, should two workers ever
    # get this far.
    StepResult.objects.bulk_create(results)
    if run.state == State.RUNNING and run.position >= len(run.steps):
        run.state, run.finished_at, run.updated_at = State.COMPLETED, now, now
        timeline_record(
            incident=run.incident,
            kind=kinds.RUNBOOK_COMPLETED,
            actor=runbook_actor(run),
            summary=f"Runbook '{run.definition['name']}' completed",
            data={"run": run.pk},
        )
    return failure


def _count_failure(run: RunbookRun, error: Exception) -> bool:
    """Count a failed attempt on the locked run (the caller saves it); after
    MAX_STEP_ATTEMPTS fail the run, tell the analysts and return False. Returns True when
    the step should be tried again."""
    run.attempts += 1
    run.error = f"{type(error).__name__}: {error}"[:2000]
    run.updated_at = timezone.now()
    if run.attempts < MAX_STEP_ATTEMPTS:
        return True
    run.state = State.FAILED
    actor = runbook_actor(run)
    name = run.definition["name"]
    step = run.steps[run.position]
    timeline_record(
        incident=run.incident,
        kind=kinds.RUNBOOK_FAILED,
        actor=actor,
        summary=f"Runbook '{name}' failed at step {run.position + 1} ({step['action']})",
        body=run.error,
        data={"run": run.pk, "position": run.position},
    )
    if run.incident.is_active:
        task_create(
            actor=actor,
            incident=run.incident,
            title=f"Runbook '{name}' failed at step {run.position + 1}: check and resume",
            description=f"{run.error}\n\nFix the cause, then resume the run from its page "
            "in the admin (Runbook runs).",
        )
    return False


# --- waiting, resuming, cancelling ------------------------------------------------------


def _options_of_pending_question(run: RunbookRun) -> list[dict]:
    for step in reversed(run.steps[: run.position]):
        if step["action"] in ASKING_ACTIONS:
            return asked_options(step["action"], step["params"]) or []
    return []


def run_resume(
    *,
    run: RunbookRun,
    outcome: str,
    actor: Actor,
    answer_label: str = "",
    channel: str = "",
    inline: InlineAdvances | None = None,
    step_position: int | None = None,
) -> bool:
    """Continue a waiting run with the outcome of its question: an option key (approved
    or denied after an approval), "unrecognised", "no_answer" or "undeliverable". Steps
    whose guard matches then run, in a queued task, or in this process when `inline` is
    given (see InlineAdvances). `step_position`: the step whose question this answers; a
    run that has moved on to a later question (the manager's, after the person's ended) is
    not resumed by it.

    Exactly once: returns False (and changes nothing) if the run is not waiting (on it).
    """
    with transaction.atomic():
        run = _lock(run.pk)
        if run.state != State.WAITING:
            return False
        if step_position is not None and run.position != step_position + 1:
            return False
        language = run.definition.get("language") or DEFAULT_LANGUAGE
        options = {
            o["key"]: in_language(o["label"], language) for o in _options_of_pending_question(run)
        }
        if outcome not in options and outcome not in SPECIAL_OUTCOMES:
            raise DomainError(
                f"{outcome!r} is not an answer to this question "
                f"(options: {', '.join(options)}; or {', '.join(SPECIAL_OUTCOMES)})."
            )
        label = answer_label or options.get(outcome) or outcome.replace("_", " ")
        run.context.update(outcome=outcome, answer_label=label, answer_channel=channel)
        run.state, run.updated_at = State.RUNNING, timezone.now()
        run.save(update_fields=["context", "state", "updated_at"])
        timeline_record(
            incident=run.incident,
            kind=kinds.RUNBOOK_RESUMED,
            actor=actor,
            summary=f"Runbook '{run.definition['name']}' continues with: {label}",
            data={"run": run.pk, "outcome": outcome, "channel": channel},
        )
        if inline is not None:
            inline.add(run.pk)
        else:
            enqueue_advance(run.pk)
    return True


def run_cancel(*, run: RunbookRun, actor: Actor, reason: str = "") -> bool:
    """Stop a run that has not finished. Returns False if it already had."""
    with transaction.atomic():
        run = _lock(run.pk)
        if run.state not in (State.RUNNING, State.WAITING, State.FAILED):
            return False
        now = timezone.now()
        run.state, run.finished_at, run.updated_at = State.CANCELLED, now, now
        run.save(update_fields=["state", "finished_at", "updated_at"])
        timeline_record(
            incident=run.incident,
            kind=kinds.RUNBOOK_CANCELLED,
            actor=actor,
            summary=f"Runbook '{run.definition['name']}' cancelled",
            body=reason,
            data={"run": run.pk},
        )
    return True


def run_retry(*, run: RunbookRun, actor: Actor) -> RunbookRun:
    """Resume a failed run at the step that failed, after the cause was fixed."""
    with transaction.atomic():
        run = _lock(run.pk)
        if run.state != State.FAILED:
            raise DomainError(f"Only a failed run can be resumed; this one is {run.state}.")
        run.state, run.attempts, run.error = State.RUNNING, 0, ""
        run.updated_at = timezone.now()
        run.save(update_fields=["state", "attempts", "error", "updated_at"])
        timeline_record(
            incident=run.incident,
            kind=kinds.RUNBOOK_RETRIED,
            actor=actor,
            summary=f"Runbook '{run.definition['name']}' resumed at step {run.position + 1}",
            data={"run": run.pk},
        )
        enqueue_advance(run.pk)
    return run


def runs_cancel_for_incident(*, incident: SecurityIncident, actor: Actor, reason: str) -> int:
    runs = RunbookRun.objects.filter(incident=incident, state__in=[State.RUNNING, State.WAITING])
    return sum(run_cancel(run=run, actor=actor, reason=reason) for run in runs)


def runs_sweep() -> int:
    """Hand out again the runs a crashed worker left running, or whose enqueue was lost.
    A run some worker is still advancing is locked, and its second advance leaves it."""
    now = timezone.now()
    stuck = RunbookRun.objects.filter(
        state=State.RUNNING, updated_at__lt=now - STUCK_AFTER
    ).values_list("pk", flat=True)
    count = 0
    for run_id in stuck:
        async_task("runbooks.tasks.advance_run", run_id)
        count += 1
    return count
