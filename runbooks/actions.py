"""The actions a runbook step can take, in a registry that validates their parameters.

Each action declares its parameters (`Param`) and an executor. Executors call the incident
services as the runbook actor, so every effect lands on the timeline; they run inside the
engine's transaction together with the step's result. The actions a runbook can use are
the ones settings.RUNBOOK_ACTIONS names by dotted path; a higher layer offers its own
version of an action under the same name (mailflow's `ask_user` emails the question) with
`Action.run_by`, keeping the parameters and validation.
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from core.actors import Actor
from incidents.models import ResponseTask, SecurityIncident
from incidents.services import (
    incident_add_note,
    incident_assign,
    incident_transition,
    task_create,
    task_transition,
)
from incidents.timeline import timeline_record
from runbooks import timeline_kinds as kinds
from runbooks.params import PLACEHOLDER, Param, clean_param
from runbooks.placeholders import render_text
from runbooks.targets import (
    AFFECTED,
    TARGET_LABELS,
    TARGETS,
    Target,
    check_target,
    record_nobody_to_ask,
    target_resolve,
)
from runbooks.translations import DEFAULT_LANGUAGE, Translatable, in_language


@dataclass
class Batch:
    """One task advancing many runs (runs_advance_batch). Executors put work off to its end
    with `defer`, so it is done once for them all: mailflow sends the questions the batch
    created through one email connection instead of one task each."""

    _deferred: dict[Callable[[list[Any]], None], list[Any]] = field(default_factory=dict)

    def defer(self, finish: Callable[[list[Any]], None], item: Any) -> None:
        """Collect `item` for `finish`, called once with all its items when the batch ends."""
        self._deferred.setdefault(finish, []).append(item)

    def finish(self) -> None:
        for finish, items in self._deferred.items():
            finish(items)


@dataclass
class StepContext:
    """What an executor gets: the run, its incident, the step's parameters and an actor;
    and the batch the run is advanced in, if any."""

    run: Any  # RunbookRun; not imported to keep this module free of model cycles
    incident: SecurityIncident
    params: dict[str, Any]
    actor: Actor
    batch: Batch | None = None

    @property
    def task(self) -> ResponseTask | None:
        task_id = self.run.context.get("task_id")
        return ResponseTask.objects.filter(pk=task_id).first() if task_id else None

    @property
    def language(self) -> str:
        """The runbook's default language (its snapshot's): texts written in several
        languages fall back to it, and texts for analysts (tasks) are taken in it."""
        return self.run.definition.get("language") or DEFAULT_LANGUAGE

    def render(self, template: Translatable, language: str | None = None) -> str:
        """Fill in placeholders as plain text (the timeline escapes it when shown); a line
        naming a detail the incident lacks is left out (runbooks.placeholders). A text
        written in several languages is taken in `language` (else the runbook's)."""
        text = in_language(template, language or self.language, self.language)
        values = placeholder_values(self.run, self.incident)
        return render_text(text, PLACEHOLDER, values, self.incident.details)

    def options_in(self, language: str) -> list[dict[str, str]]:
        """The question's options with their labels in `language` (else the runbook's)."""
        return [
            {**option, "label": in_language(option["label"], language, self.language)}
            for option in self.params["options"]
        ]


@dataclass
class StepOutcome:
    detail: str = ""
    wait: bool = False  # suspend the run until run_resume
    context: dict[str, Any] = field(default_factory=dict)  # merged into the run's context
    # The step changed the incident through a service (which saved a copy it locked): the
    # engine reads it again before the next step. Executors that do so must say it.
    incident_changed: bool = False


Executor = Callable[[StepContext], StepOutcome]


@dataclass
class Action:
    name: str
    label: str
    help: str
    params: dict[str, Param]
    executor: Executor
    # Checks the parameters together once each is valid: {param: error}.
    check: Callable[[dict[str, Any]], dict[str, str]] | None = None

    def run_by(self, executor: Executor) -> "Action":
        """The same action (name, parameters, validation) carried out by another executor.
        One that changes the incident returns StepOutcome(incident_changed=True)."""
        return replace(self, executor=executor)


def action(
    name: str,
    label: str,
    help: str,
    check: Callable[[dict[str, Any]], dict[str, str]] | None = None,
    **params: Param,
) -> Callable[[Executor], Action]:
    """Declare an action; settings.RUNBOOK_ACTIONS makes it available to runbooks."""

    def declare(executor: Executor) -> Action:
        return Action(name, label, help, params, executor, check)

    return declare


@cache
def _load(paths: tuple[str, ...]) -> dict[str, Action]:
    loaded: dict[str, Action] = {}
    for path in paths:
        spec = import_string(path)
        if not isinstance(spec, Action):
            raise ImproperlyConfigured(f"RUNBOOK_ACTIONS: {path} is not an Action")
        if spec.name in loaded:
            raise ImproperlyConfigured(f"RUNBOOK_ACTIONS names {spec.name!r} twice")
        loaded[spec.name] = spec
    return loaded


class _Registry(Mapping[str, Action]):
    """The actions of settings.RUNBOOK_ACTIONS by name, loaded on first use. Keyed on the
    setting's value, so a test overriding it sees its own list."""

    def _actions(self) -> dict[str, Action]:
        return _load(tuple(settings.RUNBOOK_ACTIONS))

    def __getitem__(self, name: str) -> Action:
        return self._actions()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._actions())

    def __len__(self) -> int:
        return len(self._actions())


ACTIONS: Mapping[str, Action] = _Registry()


def placeholder_values(run, incident: SecurityIncident) -> dict[str, str]:
    person = run.asked_person
    context = run.context
    return {
        "incident_number": incident.number,
        "incident_short_description": incident.short_description,
        "first_name": person.first_name if person else "",
        "person_name": person.full_name if person else "the affected user",
        # Whom the last question asked; before any, the person.
        "asked_name": context.get("asked_name")
        or (person.full_name if person else "the affected user"),
        "asked_as": context.get("asked_as") or "the affected person",
        "answer_key": context.get("outcome") or "",
        "answer_label": context.get("answer_label") or context.get("outcome") or "",
        "answer_channel": context.get("answer_channel") or "",
        "task_number": context.get("task_number") or "",
        "runbook_name": run.definition.get("name", ""),
    }


# --- validation -------------------------------------------------------------------------


def validate_params(action_name: str, params: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Check a step's parameters. Returns (cleaned params with defaults, {param: error})."""
    spec = ACTIONS.get(action_name)
    if spec is None:
        known = ", ".join(sorted(ACTIONS))
        return {}, {"action": f"unknown action {action_name!r}; known actions: {known}"}
    if not isinstance(params, dict):
        return {}, {"params": "parameters must be a mapping of name to value"}
    errors: dict[str, str] = {}
    for name in params.keys() - spec.params.keys():
        errors[name] = f"{action_name} has no parameter {name!r}"
    cleaned: dict[str, Any] = {}
    for name, param in spec.params.items():
        value = params.get(name, param.default)
        if value is None or value == "":
            if param.required:
                errors[name] = "required"
            elif param.default is not None:
                cleaned[name] = param.default
            continue
        try:
            cleaned[name] = clean_param(param, value)
        except ValueError as error:
            errors[name] = str(error)
    if spec.check and not errors:
        errors.update(spec.check(cleaned))
    return cleaned, errors


# --- the actions ------------------------------------------------------------------------

# A runbook closes an incident with close_incident, which asks for the close note.
_SETTABLE_STATES = [
    s
    for s in SecurityIncident.State
    if s not in (SecurityIncident.State.CLOSED, SecurityIncident.State.CANCELLED)
]


@action(
    "create_task",
    "Create a task",
    "Create a response task; it becomes the run's current task.",
    title=Param("template", "Task title.", required=True, translatable=True),
    description=Param(
        "template",
        "Task description, e.g. a knowledge article link.",
        default="",
        translatable=True,
    ),
)
def create_task(ctx: StepContext) -> StepOutcome:
    task = task_create(
        actor=ctx.actor,
        incident=ctx.incident,
        title=ctx.render(ctx.params["title"]),
        description=ctx.render(ctx.params.get("description", "")),
    )
    return StepOutcome(
        detail=f"Created {task.number}",
        context={"task_id": task.pk, "task_number": task.number},
    )


@action(
    "set_incident_state",
    "Set the incident's state",
    "Move the incident to a state (nothing happens if it is already there).",
    state=Param(
        "choice",
        "Target state.",
        required=True,
        choices=tuple(s.value for s in _SETTABLE_STATES),
        choice_labels=tuple(s.label for s in _SETTABLE_STATES),
    ),
)
def set_incident_state(ctx: StepContext) -> StepOutcome:
    state = ctx.params["state"]
    if ctx.incident.state == state:
        return StepOutcome(detail=f"Already {state}")
    incident_transition(actor=ctx.actor, incident=ctx.incident, to_state=state)
    return StepOutcome(detail=f"Moved to {state}", incident_changed=True)


@action(
    "add_note",
    "Add a work note",
    "Write a work note on the timeline; placeholders are filled in as plain text.",
    text=Param("template", "The note.", required=True),
)
def add_note(ctx: StepContext) -> StepOutcome:
    incident_add_note(
        actor=ctx.actor, incident=ctx.incident, text=ctx.render(ctx.params["text"]), task=ctx.task
    )
    return StepOutcome(detail="Note added")


@action(
    "assign",
    "Assign the incident",
    "Assign to an analyst (username) and/or a group (name).",
    analyst=Param("text", "Username of a staff user.", label="Analyst (username)"),
    group=Param("text", "Name of a group.", label="Group (name)"),
)
def assign(ctx: StepContext) -> StepOutcome:
    username, group_name = ctx.params.get("analyst"), ctx.params.get("group")
    analyst = get_user_model().objects.get(username=username) if username else None
    group = Group.objects.get(name=group_name) if group_name else None
    incident_assign(actor=ctx.actor, incident=ctx.incident, analyst=analyst, group=group)
    return StepOutcome(
        detail=f"Assigned to {username or ''} {group_name or ''}".strip(), incident_changed=True
    )


@action(
    "ask_user",
    "Ask the affected user",
    "Email the affected person (or their manager, a named person, a group mailbox) a "
    "question and wait for the answer, no answer by the deadline, or an undeliverable "
    "email. Steps after it branch on the outcome; with nobody to ask (no manager in the "
    "directory), on no_target at once.",
    check=check_target,
    question=Param("template", "The question, e.g. 'Was this sign-in you?'", required=True,
                   translatable=True),
    options=Param(
        "options",
        "At least two options, each with key and label. The key is what later steps branch "
        "on (lower-case letters, digits, - or _); the label is what the person sees.",
        required=True,
    ),
    subject=Param("template", "Email subject (the incident number is added).", default="",
                  translatable=True),
    body=Param("template", "Text before the question in the email.", default="",
               translatable=True),
    relate_to=Param(
        "choice", "Relate the request to the incident or the current task.",
        default="incident", choices=("incident", "task"),
        choice_labels=("The incident", "The run's current task"),
    ),
    request_evidence=Param("bool", "Ask for screenshots or files.", default=False,
                           label="Ask for evidence"),
    reminders_after_hours=Param(
        "hours", "Send a reminder after each of these times, e.g. 4, 24 (empty: none). "
        "Those at or after the deadline are left out.",
        default=[24], label="Reminders after", unit="hours"),
    deadline_hours=Param("int", "Give up waiting after this long.", default=72,
                         label="Deadline after", unit="hours"),
    away_max_days=Param(
        "int", "An out-of-office reply moves the deadline to the person's return, but by "
        "at most this many days past the deadline; a later return takes the "
        "'out_of_office' outcome at once (0: at once for any return after the deadline).",
        default=3, label="Wait for someone away at most", unit="days"),
    target=Param("choice", "Whom to ask. The manager is looked up in the directory when the "
                 "step runs; nobody there gives the outcome no_target.", default=AFFECTED,
                 choices=TARGETS, choice_labels=TARGET_LABELS, label="Ask whom"),
    target_email=Param("text", "For a named person or a group mailbox: their address in the "
                       "directory.", label="Their address"),
)  # fmt: skip
def ask_user(ctx: StepContext) -> StepOutcome:
    """Suspend the run until run_resume. Mailflow offers the version that emails the
    question; both start with `ask_target` and end in `wait_for_answer`."""
    target = ask_target(ctx)
    if isinstance(target, StepOutcome):
        return target
    options = ", ".join(o["label"] for o in ctx.options_in(ctx.language))
    timeline_record(
        incident=ctx.incident,
        task=ctx.task if ctx.params.get("relate_to") == "task" else None,
        kind=kinds.RUNBOOK_WAITING,
        actor=ctx.actor,
        summary=f"Waiting for {target.described} to answer: {ctx.render(ctx.params['question'])}",
        body=f"Options: {options}",
    )
    return wait_for_answer(ctx, **target.context())


def ask_target(ctx: StepContext) -> Target | StepOutcome:
    """Whom the question goes to; with nobody to ask, the outcome that moves the run on
    at once on no_target, the reason on the timeline."""
    target = target_resolve(ctx.run, ctx.params)
    if not target.missing:
        return target
    return StepOutcome(
        detail=f"Nobody to ask: {target.missing}"[:300],
        context=record_nobody_to_ask(ctx, target),
    )


def wait_for_answer(ctx: StepContext, **context: Any) -> StepOutcome:
    """The waiting half of ask_user: the related task awaits the user, the last outcome is
    cleared, and the run suspends."""
    task = ctx.task
    awaiting = ResponseTask.State.AWAITING_USER
    if ctx.params.get("relate_to") == "task" and task and task.is_open and task.state != awaiting:
        task_transition(actor=ctx.actor, task=task, to_state=awaiting)
    return StepOutcome(
        detail="Waiting for the answer",
        wait=True,
        context={"outcome": None, "answer_label": None, "answer_channel": None, **context},
    )


def _current_task_to(ctx: StepContext, state: str) -> StepOutcome:
    task = ctx.task
    if task is None:
        return StepOutcome(detail="No current task")
    if task.state == state or not task.is_open:
        return StepOutcome(detail=f"{task.number} already {task.get_state_display().lower()}")
    task_transition(actor=ctx.actor, task=task, to_state=state)
    return StepOutcome(detail=f"{task.number} {ResponseTask.State(state).label.lower()}")


@action("complete_task", "Complete the current task", "Mark the run's current task completed.")
def complete_task(ctx: StepContext) -> StepOutcome:
    return _current_task_to(ctx, ResponseTask.State.COMPLETED)


@action(
    "mark_task_incomplete",
    "Mark the current task incomplete",
    "Close the run's current task as incomplete.",
)
def mark_task_incomplete(ctx: StepContext) -> StepOutcome:
    return _current_task_to(ctx, ResponseTask.State.INCOMPLETE)


@action("cancel_task", "Cancel the current task", "Cancel the run's current task.")
def cancel_task(ctx: StepContext) -> StepOutcome:
    return _current_task_to(ctx, ResponseTask.State.CANCELLED)


@action(
    "file_evidence",
    "File the user's evidence",
    "Attach the files the user sent with the answer to the incident (and current task).",
)
def file_evidence(ctx: StepContext) -> StepOutcome:
    """Mailflow offers the real one: the files arrive with the answer, which lives there."""
    return StepOutcome(detail="No files to file")


@action(
    "close_incident",
    "Close the incident",
    "Close the incident with a reason (cancels the runbook's own waiting runs).",
    reason=Param("template", "Close note.", required=True),
)
def close_incident(ctx: StepContext) -> StepOutcome:
    if not ctx.incident.is_active:
        return StepOutcome(detail="Already closed")
    incident_transition(
        actor=ctx.actor,
        incident=ctx.incident,
        to_state=SecurityIncident.State.CLOSED,
        reason=ctx.render(ctx.params["reason"]),
    )
    return StepOutcome(detail="Incident closed", incident_changed=True)
