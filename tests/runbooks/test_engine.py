from datetime import timedelta

import pytest
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from incidents.models import ResponseTask, SecurityIncident, TimelineEntry
from incidents.services import incident_transition
from runbooks import actions
from runbooks.models import Runbook, RunbookRun, StepResult
from runbooks.services import MAX_STEP_ATTEMPTS, run_advance, run_resume, run_retry, runs_sweep
from runbooks.tasks import on_timeline_entry
from runbooks.versions import runbook_set_steps
from tests.builders.crashes import WorkerKilled

State = RunbookRun.State
TaskState = ResponseTask.State
OTHER_OUTCOMES = ["unrecognised", "no_answer", "undeliverable"]
USER = Actor.end_user("Bob Builder")


def the_run(incident) -> RunbookRun:
    return RunbookRun.objects.get(incident=incident)


def tasks_of(incident) -> list[tuple[str, str]]:
    return list(incident.tasks.values_list("title", "state"))


def notes_of(incident) -> list[str]:
    return list(incident.timeline.filter(kind="note.added").values_list("body", flat=True))


def resume(committed, incident, outcome: str, channel: str = "answer page") -> bool:
    return committed(
        run_resume, run=the_run(incident), outcome=outcome, actor=USER, channel=channel
    )


# --- starting ---------------------------------------------------------------------------


def test_opening_a_failed_login_incident_moves_it_to_analysis_and_waits_for_the_answer(
    shipped, open_with_runbooks
):
    incident = open_with_runbooks("failed-login")

    run = the_run(incident)
    assert run.runbook.name == "Failed sign-ins"
    assert (run.state, run.position, run.version) == (State.WAITING, 2, 1)
    assert list(run.results.values_list("action", "status")) == [
        ("set_incident_state", "done"),
        ("ask_user", "waiting"),
    ]
    incident.refresh_from_db()
    assert incident.state == SecurityIncident.State.ANALYSIS
    assert list(incident.timeline.values_list("kind", flat=True)) == [
        "incident.opened",
        "runbook.started",
        "incident.state_changed",
        "runbook.waiting",
    ]
    moved = incident.timeline.get(kind="incident.state_changed")
    assert (moved.actor_kind, moved.actor_name) == ("runbook", "Failed sign-ins")
    assert (moved.data["from"], moved.data["to"]) == ("draft", "analysis")
    waiting = incident.timeline.get(kind="runbook.waiting")
    assert waiting.summary == (
        "Waiting for Bob Builder to answer: "
        "Were the failed sign-in attempts on your account made by you?"
    )
    assert waiting.actor_kind == "runbook"


def test_an_incident_outside_the_conditions_starts_nothing(shipped, open_with_runbooks):
    shipped["Failed sign-ins"].categories.clear()
    shipped["Failed sign-ins"].min_priority = SecurityIncident.Priority.HIGH
    shipped["Failed sign-ins"].save()
    shipped["Suspicious file download"].active = False
    shipped["Suspicious file download"].save()

    low = open_with_runbooks("failed-login", priority=SecurityIncident.Priority.LOW)
    download = open_with_runbooks("policy-violation", priority=SecurityIncident.Priority.MODERATE)
    urgent = open_with_runbooks("phishing", priority=SecurityIncident.Priority.CRITICAL)

    assert not RunbookRun.objects.filter(incident__in=[low, download]).exists()
    assert the_run(urgent).runbook.name == "Failed sign-ins"  # no category condition left


def test_the_same_event_delivered_twice_starts_the_runbook_once(shipped, open_with_runbooks):
    incident = open_with_runbooks("failed-login")
    opened = incident.timeline.get(kind="incident.opened")

    on_timeline_entry(opened.pk)
    on_timeline_entry(opened.pk)

    assert RunbookRun.objects.filter(incident=incident).count() == 1


# --- scenario 1: failed sign-ins --------------------------------------------------------


def test_failed_login_answered_yes_records_the_confirmation(shipped, open_with_runbooks, committed):
    incident = open_with_runbooks("failed-login")

    assert resume(committed, incident, "yes", channel="email reply")

    assert notes_of(incident) == [
        "Bob Builder (the affected person) confirmed the failed sign-ins were made by Bob Builder "
        "(Yes, that was me, by email reply)."
    ]
    assert tasks_of(incident) == []
    assert the_run(incident).state == State.COMPLETED


def test_failed_login_answered_no_records_the_denial_and_asks_for_a_reset(
    shipped, open_with_runbooks, committed
):
    incident = open_with_runbooks("failed-login")

    resume(committed, incident, "no")

    assert len(notes_of(incident)) == 1
    assert notes_of(incident)[0].startswith(
        "Bob Builder (the affected person) said the failed sign-ins were not made by Bob Builder"
    )
    assert tasks_of(incident) == [("Reset the credentials of Bob Builder", TaskState.OPEN)]
    task = incident.tasks.get()
    assert task.created_by_kind == "runbook" and task.created_by_name == "Failed sign-ins"


@pytest.mark.parametrize("outcome", OTHER_OUTCOMES)
def test_failed_login_without_a_clear_answer_asks_an_analyst_to_call(
    shipped, open_with_runbooks, committed, outcome
):
    incident = open_with_runbooks("failed-login")

    resume(committed, incident, outcome)

    assert notes_of(incident) == []
    assert tasks_of(incident) == [("Contact Bob Builder directly", TaskState.OPEN)]
    assert the_run(incident).state == State.COMPLETED
    resumed = incident.timeline.get(kind="runbook.resumed")
    assert resumed.data["outcome"] == outcome


# --- scenario 2: suspicious download ----------------------------------------------------

CONFIRM = "Confirm the download with the user"


def test_a_policy_violation_creates_the_task_moves_to_analysis_and_waits(
    shipped, open_with_runbooks
):
    incident = open_with_runbooks("policy-violation")

    incident.refresh_from_db()
    assert incident.state == SecurityIncident.State.ANALYSIS
    assert tasks_of(incident) == [(CONFIRM, TaskState.AWAITING_USER)]
    run = the_run(incident)
    assert run.state == State.WAITING
    assert run.context["task_number"] == incident.tasks.get().number
    assert list(incident.timeline.values_list("kind", flat=True)) == [
        "incident.opened",
        "runbook.started",
        "task.created",
        "incident.state_changed",
        "runbook.waiting",
        "task.awaiting_user",
    ]


@pytest.mark.parametrize(
    ("outcome", "first_task_state", "next_task"),
    [
        ("yes", TaskState.COMPLETED, "Analyse the evidence provided by the user"),
        ("no", TaskState.COMPLETED, "Obtain further information"),
        *((o, TaskState.INCOMPLETE, "Contact the affected user") for o in OTHER_OUTCOMES),
    ],
)
def test_a_policy_violation_branches_on_the_answer(
    shipped, open_with_runbooks, committed, outcome, first_task_state, next_task
):
    incident = open_with_runbooks("policy-violation")

    resume(committed, incident, outcome)

    assert tasks_of(incident) == [(CONFIRM, first_task_state), (next_task, TaskState.OPEN)]
    assert the_run(incident).state == State.COMPLETED
    kinds = list(incident.timeline.values_list("kind", flat=True))
    closing_kind = (
        "task.completed" if first_task_state == TaskState.COMPLETED else ("task.marked_incomplete")
    )
    assert kinds[-4:] == ["runbook.resumed", closing_kind, "task.created", "runbook.completed"]


def test_a_step_sees_what_the_steps_before_it_changed_on_the_incident(db, open_with_runbooks):
    # One advance: each step's executor checks the incident before calling its service,
    # so a step after a change must see it ("already ..."), or its service would refuse.
    runbook = Runbook.objects.create(name="Twice each")
    runbook_set_steps(
        runbook=runbook,
        steps=[
            {"action": "set_incident_state", "params": {"state": "analysis"}},
            {"action": "set_incident_state", "params": {"state": "analysis"}},
            {"action": "add_note", "params": {"text": "Checked {person_name}"}},
            {"action": "close_incident", "params": {"reason": "Handled"}},
            {"action": "close_incident", "params": {"reason": "Handled"}},
        ],
    )

    incident = open_with_runbooks("policy-violation")

    run = the_run(incident)
    assert run.state == State.COMPLETED
    assert list(run.results.values_list("detail", flat=True)) == [
        "Moved to analysis", "Already analysis", "Note added", "Incident closed",
        "Already closed",
    ]  # fmt: skip
    assert notes_of(incident) == ["Checked Bob Builder"]
    incident.refresh_from_db()
    assert incident.state == SecurityIncident.State.CLOSED
    assert incident.timeline.filter(kind="incident.state_changed").count() == 2


# --- resuming ---------------------------------------------------------------------------


def test_a_run_resumes_exactly_once(shipped, open_with_runbooks, committed):
    incident = open_with_runbooks("policy-violation")

    assert resume(committed, incident, "yes") is True
    assert resume(committed, incident, "no") is False

    assert len(tasks_of(incident)) == 2
    assert incident.timeline.filter(kind="runbook.resumed").count() == 1


def test_an_outcome_that_is_not_an_option_is_refused(shipped, open_with_runbooks, committed):
    incident = open_with_runbooks("failed-login")

    with pytest.raises(DomainError, match="not an answer"):
        resume(committed, incident, "maybe")

    assert the_run(incident).state == State.WAITING


def test_a_waiting_run_resumes_on_the_version_it_started_with(
    shipped, open_with_runbooks, committed
):
    incident = open_with_runbooks("failed-login")
    runbook = shipped["Failed sign-ins"]
    steps = [
        {"action": s.action, "guard": s.guard, "outcomes": s.guard_outcomes, "params": s.params}
        for s in runbook.steps.all()
    ]
    reset = next(s for s in steps if s["params"].get("title", "").startswith("Reset"))
    reset["params"]["title"] = "Edited title"
    runbook_set_steps(runbook=runbook, steps=steps)

    resume(committed, incident, "no")

    runbook.refresh_from_db()
    assert (runbook.version, the_run(incident).version) == (2, 1)
    assert tasks_of(incident) == [("Reset the credentials of Bob Builder", TaskState.OPEN)]
    # A new incident follows the new version.
    newer = open_with_runbooks("failed-login")
    resume(committed, newer, "no")
    assert tasks_of(newer) == [("Edited title", TaskState.OPEN)]


def test_closing_the_incident_cancels_its_waiting_run(
    shipped, open_with_runbooks, committed, as_analyst
):
    incident = open_with_runbooks("failed-login")

    committed(
        incident_transition,
        actor=as_analyst,
        incident=incident,
        to_state=SecurityIncident.State.CLOSED,
        reason="Known pen test",
    )

    assert the_run(incident).state == State.CANCELLED
    assert incident.timeline.filter(kind="runbook.cancelled").count() == 1
    assert resume(committed, incident, "no") is False
    assert tasks_of(incident) == []


# --- crashes and failures ---------------------------------------------------------------


def test_a_worker_killed_mid_run_converges_without_duplicates_when_run_again(
    shipped, open_with_runbooks, kill_at
):
    kill_at("set_incident_state")  # step 2, after step 1 (create_task) did its work

    with pytest.raises(WorkerKilled):
        incident = open_with_runbooks("policy-violation")
    incident = SecurityIncident.objects.get()
    run = the_run(incident)
    # The steps of one advance commit together: killed in step 2, step 1 is undone too.
    assert (run.state, run.position) == (State.RUNNING, 0)
    assert tasks_of(incident) == []
    assert incident.state == SecurityIncident.State.DRAFT

    run_advance(run.pk)  # the task runs again (twice, for good measure)
    run_advance(run.pk)

    incident.refresh_from_db()
    assert incident.state == SecurityIncident.State.ANALYSIS
    assert tasks_of(incident) == [(CONFIRM, TaskState.AWAITING_USER)]
    assert incident.timeline.filter(kind="incident.state_changed").count() == 1
    assert incident.timeline.filter(kind="task.created").count() == 1
    assert list(the_run(incident).results.values_list("position", flat=True)) == [0, 1, 2]


def test_a_worker_killed_after_resuming_converges_too(
    shipped, open_with_runbooks, committed, kill_at
):
    incident = open_with_runbooks("policy-violation")
    kill_at("create_task")  # "Analyse the evidence", after "complete_task" did its work

    with pytest.raises(WorkerKilled):
        resume(committed, incident, "yes")
    run = the_run(incident)
    assert (run.state, tasks_of(incident)) == (State.RUNNING, [(CONFIRM, TaskState.AWAITING_USER)])
    RunbookRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    assert runs_sweep() == 1  # the sweeper finds it and (inline in tests) finishes it

    assert tasks_of(incident) == [
        (CONFIRM, TaskState.COMPLETED),
        ("Analyse the evidence provided by the user", TaskState.OPEN),
    ]
    assert the_run(incident).state == State.COMPLETED
    assert incident.timeline.filter(kind="task.completed").count() == 1


def test_advancing_a_finished_run_does_nothing(shipped, open_with_runbooks, committed):
    incident = open_with_runbooks("failed-login")
    resume(committed, incident, "yes")
    entries = TimelineEntry.objects.count()

    run_advance(the_run(incident).pk)

    assert TimelineEntry.objects.count() == entries


def test_a_first_step_that_keeps_failing_rolls_back_whole_and_fails_the_run(
    shipped, open_with_runbooks, monkeypatch
):
    attempts = []
    original = actions.ACTIONS["create_task"].executor

    def broken(ctx):
        attempts.append(1)
        original(ctx)  # the task is created, then the step fails
        raise RuntimeError("ticketing down")

    monkeypatch.setattr(actions.ACTIONS["create_task"], "executor", broken)
    incident = open_with_runbooks("policy-violation")

    run = the_run(incident)
    assert len(attempts) == MAX_STEP_ATTEMPTS
    assert (run.state, run.position, run.attempts) == (State.FAILED, 0, MAX_STEP_ATTEMPTS)
    assert run.error == "RuntimeError: ticketing down"
    assert not run.results.exists()
    assert "step 1" in incident.timeline.get(kind="runbook.failed").summary
    # Only the analysts' task: every attempt's own task rolled back with it.
    assert [title for title, _ in tasks_of(incident)] == [
        "Runbook 'Suspicious file download' failed at step 1: check and resume"
    ]


def test_a_step_that_keeps_failing_fails_the_run_and_tells_an_analyst_then_resumes(
    shipped, open_with_runbooks, committed, monkeypatch, as_analyst
):
    attempts = []
    original = actions.ACTIONS["set_incident_state"].executor

    def broken(ctx):
        attempts.append(1)
        original(ctx)  # the incident moves to analysis, then the step fails
        raise RuntimeError("directory unreachable")

    monkeypatch.setattr(actions.ACTIONS["set_incident_state"], "executor", broken)
    incident = open_with_runbooks("policy-violation")

    run = the_run(incident)
    assert len(attempts) == MAX_STEP_ATTEMPTS
    assert (run.state, run.position) == (State.FAILED, 1)
    assert "RuntimeError: directory unreachable" in run.error
    failed = incident.timeline.get(kind="runbook.failed")
    assert "step 2" in failed.summary
    # Step 1 stays done; each failed attempt of step 2 rolled back only itself.
    assert list(run.results.values_list("position", "status")) == [(0, "done")]
    assert tasks_of(incident)[0] == (CONFIRM, TaskState.OPEN)
    assert tasks_of(incident)[1][0].startswith("Runbook 'Suspicious file download' failed")
    incident.refresh_from_db()
    assert incident.state == SecurityIncident.State.DRAFT
    assert not incident.timeline.filter(kind="incident.state_changed").exists()

    monkeypatch.setattr(actions.ACTIONS["set_incident_state"], "executor", original)
    committed(run_retry, run=run, actor=as_analyst)

    run.refresh_from_db()
    assert run.state == State.WAITING
    assert incident.timeline.filter(kind="runbook.retried").count() == 1
    assert StepResult.objects.filter(run=run).count() == 3


# --- the incident's "updated at" --------------------------------------------------------


def test_an_answer_resuming_the_run_moves_the_incidents_updated_at(
    shipped, open_with_runbooks, committed
):
    incident = open_with_runbooks("failed-login")
    long_ago = timezone.now() - timedelta(days=3)
    SecurityIncident.objects.filter(pk=incident.pk).update(updated_at=long_ago)
    before = timezone.now()

    resume(committed, incident, "no")

    incident.refresh_from_db()
    assert incident.updated_at >= before
    # It moved with the runbook's last entry, in the same transaction as that entry.
    newest = incident.timeline.order_by("-created_at", "-id").first()
    assert newest.kind == "runbook.completed"
    assert incident.updated_at == newest.created_at
