"""Whom a question asks: the affected person, their manager, a named person or a group
mailbox; and the no_target outcome when the directory has nobody to ask."""

import pytest

from core.actors import Actor
from incidents.models import Person, SecurityIncident
from runbooks.definitions import DefinitionError, validate_steps
from runbooks.models import Runbook, RunbookRun
from runbooks.services import run_advance, run_resume
from runbooks.versions import runbook_set_steps
from tests.builders.crashes import WorkerKilled
from tests.factories import PersonFactory
from tests.runbooks.conftest import OPTIONS

State = RunbookRun.State
USER = Actor.end_user("Someone")


def ask(**params) -> dict:
    return {
        "action": "ask_user",
        "params": {"question": "Was it {person_name}?", "options": OPTIONS, **params},
    }


def note(guard: str, text: str, outcomes: list[str] | None = None) -> dict:
    step = {"action": "add_note", "guard": guard, "params": {"text": text}}
    return step | ({"outcomes": outcomes} if outcomes else {})


WHO = "{asked_name} ({asked_as}) said {answer_label}"
# Ask the person; when they do not answer, ask someone else; note who answered.
ESCALATING = [
    ask(),
    {**ask(target="manager"), "guard": "answer_in", "outcomes": ["no_answer", "undeliverable"]},
    note("answer_in", WHO, ["yes", "no"]),
    note("no_target", "Nobody to ask: {answer_label}"),
]


@pytest.fixture
def carol(db):
    return PersonFactory(email="carol@corp.example.com", first_name="Carol", last_name="Chief")


@pytest.fixture
def escalating(db):
    def make(steps: list[dict] = ESCALATING) -> Runbook:
        runbook = Runbook.objects.create(name="Escalating")
        runbook_set_steps(runbook=runbook, steps=steps)
        return runbook

    return make


def the_run(incident) -> RunbookRun:
    return RunbookRun.objects.get(incident=incident)


def resume(committed, incident, outcome: str, step_position: int | None = None) -> bool:
    return committed(
        run_resume,
        run=the_run(incident),
        outcome=outcome,
        actor=USER,
        channel="answer page",
        step_position=step_position,
    )


def notes_of(incident) -> list[str]:
    return list(incident.timeline.filter(kind="note.added").values_list("body", flat=True))


def waiting_summaries(incident) -> list[str]:
    return list(incident.timeline.filter(kind="runbook.waiting").values_list("summary", flat=True))


# --- each target ------------------------------------------------------------------------


def test_by_default_the_question_asks_the_affected_person(escalating, open_with_runbooks):
    escalating([ask(), note("answered", WHO)])

    incident = open_with_runbooks("phishing")

    run = the_run(incident)
    assert run.state == State.WAITING
    assert run.context["asked_name"] == "Bob Builder"
    assert waiting_summaries(incident) == ["Waiting for Bob Builder to answer: Was it Bob Builder?"]


def test_the_manager_is_asked_when_the_person_does_not_answer(
    escalating, open_with_runbooks, committed, bob, carol
):
    bob.manager = carol
    bob.save()
    escalating()
    incident = open_with_runbooks("phishing")

    resume(committed, incident, "no_answer")

    run = the_run(incident)
    assert (run.state, run.position) == (State.WAITING, 2)
    assert run.context["asked_name"] == "Carol Chief"
    assert run.context["asked_as"] == "manager of Bob Builder"
    assert run.context["outcome"] is None  # the manager's answer is awaited afresh
    assert waiting_summaries(incident)[-1] == (
        "Waiting for Carol Chief (manager of Bob Builder) to answer: Was it Bob Builder?"
    )

    resume(committed, incident, "yes")

    assert notes_of(incident) == ["Carol Chief (manager of Bob Builder) said Yes, that was me"]
    assert the_run(incident).state == State.COMPLETED


def test_the_person_answering_skips_the_manager_and_the_note_names_the_person(
    escalating, open_with_runbooks, committed, bob, carol
):
    bob.manager = carol
    bob.save()
    escalating()
    incident = open_with_runbooks("phishing")

    resume(committed, incident, "no")

    assert notes_of(incident) == ["Bob Builder (the affected person) said No"]
    assert list(the_run(incident).results.values_list("status", flat=True)) == [
        "waiting", "skipped", "done", "skipped",
    ]  # fmt: skip


@pytest.mark.parametrize("kind", ["person", "group"])
def test_a_named_person_or_group_mailbox_is_asked_by_address(
    escalating, open_with_runbooks, committed, kind
):
    desk = PersonFactory(
        email="service.desk@corp.example.com",
        first_name="Service desk",
        last_name="",
        kind=Person.Kind.GROUP if kind == "group" else Person.Kind.PERSON,
    )
    escalating([ask(target=kind, target_email="Service.Desk@corp.example.com"),
                note("answered", WHO)])  # fmt: skip
    incident = open_with_runbooks("phishing")

    run = the_run(incident)
    assert run.state == State.WAITING
    assert run.context["asked_name"] == desk.full_name
    role = "group mailbox, asked about" if kind == "group" else "asked about"
    assert waiting_summaries(incident) == [
        f"Waiting for Service desk ({role} Bob Builder) to answer: Was it Bob Builder?"
    ]
    resume(committed, incident, "yes")
    assert notes_of(incident) == [f"Service desk ({role} Bob Builder) said Yes, that was me"]


# --- nobody to ask ----------------------------------------------------------------------


def test_without_a_manager_the_run_goes_on_at_once_with_no_target(
    escalating, open_with_runbooks, committed
):
    escalating()
    incident = open_with_runbooks("phishing")

    resume(committed, incident, "no_answer")

    run = the_run(incident)
    assert run.state == State.COMPLETED
    assert run.context["outcome"] == "no_target"
    assert notes_of(incident) == [
        "Nobody to ask: nobody to ask: Bob Builder has no manager in the directory"
    ]
    entry = incident.timeline.get(kind="runbook.no_target")
    assert entry.summary == "Nobody asked: Bob Builder has no manager in the directory"
    assert entry.body == "Question not sent: Was it Bob Builder?"
    assert entry.data == {"run": run.pk, "position": 1, "target": "manager"}
    assert (entry.actor_kind, entry.actor_name) == ("runbook", "Escalating")
    assert run.results.get(position=1).detail == (
        "Nobody to ask: Bob Builder has no manager in the directory"
    )
    # Nobody was asked this time: "the last question asked" is still the person.
    assert run.context["asked_name"] == "Bob Builder"


def test_a_named_person_missing_from_the_directory_gives_no_target(escalating, open_with_runbooks):
    escalating([ask(target="person", target_email="gone@corp.example.com"),
                note("no_target", "Nobody to ask: {answer_label}")])  # fmt: skip

    incident = open_with_runbooks("phishing")

    assert the_run(incident).state == State.COMPLETED
    assert notes_of(incident) == [
        "Nobody to ask: nobody to ask: no person with the address gone@corp.example.com in "
        "the directory"
    ]
    assert not incident.timeline.filter(kind="runbook.waiting").exists()


def test_a_manager_without_an_email_address_gives_no_target(
    escalating, open_with_runbooks, bob, carol
):
    Person.objects.filter(pk=carol.pk).update(email="")
    bob.manager = carol
    bob.save()
    escalating([ask(target="manager"), note("no_target", "{answer_label}")])

    incident = open_with_runbooks("phishing")

    assert notes_of(incident) == [
        "nobody to ask: Carol Chief has no email address in the directory"
    ]


def test_no_target_is_decided_when_the_step_runs_not_when_the_runbook_was_written(
    escalating, open_with_runbooks, committed, bob, carol
):
    escalating()
    incident = open_with_runbooks("phishing")
    bob.manager = carol  # the directory changed while the person was asked
    bob.save()

    resume(committed, incident, "no_answer")

    assert the_run(incident).state == State.WAITING
    assert the_run(incident).context["asked_name"] == "Carol Chief"


# --- exactly once -----------------------------------------------------------------------


def test_a_duplicate_answer_resumes_the_managers_question_once(
    escalating, open_with_runbooks, committed, bob, carol
):
    bob.manager = carol
    bob.save()
    escalating()
    incident = open_with_runbooks("phishing")
    # The person's question (step 0) ends twice: the second finds the run on step 1.
    assert resume(committed, incident, "no_answer", step_position=0) is True
    assert resume(committed, incident, "no_answer", step_position=0) is False

    assert resume(committed, incident, "yes", step_position=1) is True
    assert resume(committed, incident, "yes", step_position=1) is False

    assert notes_of(incident) == ["Carol Chief (manager of Bob Builder) said Yes, that was me"]
    assert incident.timeline.filter(kind="runbook.resumed").count() == 2


def test_a_worker_killed_while_finding_nobody_to_ask_converges(
    escalating,
    open_with_runbooks,
    committed,
    kill_at,
):
    escalating()
    incident = open_with_runbooks("phishing")
    kill_at("ask_user")

    with pytest.raises(WorkerKilled):
        resume(committed, incident, "no_answer")
    run = the_run(incident)
    assert (run.state, run.position) == (State.RUNNING, 1)
    assert not incident.timeline.filter(kind="runbook.no_target").exists()

    run_advance(run.pk)
    run_advance(run.pk)

    assert the_run(incident).state == State.COMPLETED
    assert incident.timeline.filter(kind="runbook.no_target").count() == 1
    assert len(notes_of(incident)) == 1


def test_a_worker_killed_while_asking_the_manager_converges(
    escalating,
    open_with_runbooks,
    committed,
    bob,
    carol,
    kill_at,
):
    bob.manager = carol
    bob.save()
    escalating()
    incident = open_with_runbooks("phishing")
    kill_at("ask_user")

    with pytest.raises(WorkerKilled):
        resume(committed, incident, "no_answer")
    run_advance(the_run(incident).pk)
    run_advance(the_run(incident).pk)

    run = the_run(incident)
    assert (run.state, run.position) == (State.WAITING, 2)
    assert len(waiting_summaries(incident)) == 2  # the person's, then the manager's once


# --- the definition ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"target": "person"}, "required when asking a person"),
        ({"target": "group"}, "required when asking a group"),
        ({"target": "person", "target_email": "not an address"}, "is not an email address"),
        ({"target": "manager", "target_email": "x@corp.example.com"}, "only for a named"),
        ({"target": "boss"}, "must be one of affected, manager, person, group"),
    ],
)
def test_the_definition_checks_the_target_and_its_address(params, problem):
    with pytest.raises(DefinitionError) as refused:
        validate_steps([ask(**params)])

    assert problem in str(refused.value)


MANAGER_OPTIONS = [{"key": "them", "label": "Them"}, {"key": "other", "label": "Someone else"}]


def managers_question() -> dict:
    step = ask(target="manager")
    step["params"]["options"] = MANAGER_OPTIONS
    return {**step, "guard": "no_answer"}


def test_guards_after_the_managers_question_take_its_options_and_no_target():
    steps = validate_steps(
        [ask(), managers_question(), note("answer_in", "x", ["them", "no_target"])]
    )

    assert steps[2]["outcomes"] == ["them", "no_target"]
    with pytest.raises(DefinitionError, match="'yes' is not an option of the question before"):
        validate_steps([ask(), managers_question(), note("answer_in", "x", ["yes"])])


def test_the_shipped_failed_sign_ins_validates_with_answer_in_no_target(shipped):
    steps = shipped["Failed sign-ins"].steps.order_by("position")
    manager = steps[2]
    assert (manager.action, manager.params["target"]) == ("ask_user", "manager")
    assert manager.guard_outcomes == ["no_answer", "undeliverable", "out_of_office"]
    assert validate_steps(
        [{"action": s.action, "guard": s.guard, "outcomes": s.guard_outcomes, "params": s.params}
         for s in steps] + [note("answer_in", "x", ["no_target"])]
    )  # fmt: skip


def test_an_incident_without_an_affected_user_has_no_manager_to_ask(escalating, committed):
    from tests.factories import category, open_incident

    escalating([ask(target="manager"), note("no_target", "{answer_label}")])

    incident = committed(open_incident, category=category("phishing"))

    assert incident.state == SecurityIncident.State.DRAFT
    assert notes_of(incident) == ["nobody to ask: the incident has no affected user, so no manager"]
