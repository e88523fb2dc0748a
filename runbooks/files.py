"""Runbooks as YAML files: export a runbook, import a file, install and upgrade the
runbooks shipped with the app.

The file is the definition a person reads and reviews, so the export is canonical: the same
runbook always gives the same bytes, and export(import(text)) == text for a canonical file.
A step's `if` is written as analysts think of it (`if: no_answer`, `if: {answer_in: [..]}`)
and converted to the guard and outcomes the models store.

An import checks everything before writing anything and reports every problem at once,
each as "step N, field: message" (or "field: message" for the top level). A file is read
as hostile: YAML anchors and aliases (which let a small file stand for a huge one) and
deep nesting are refused before anything is built from it.
"""

import difflib
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction

from core.actors import Actor
from incidents.models import Category
from runbooks.actions import ACTIONS, validate_params
from runbooks.definitions import GUARDS_WITH_OUTCOMES, DefinitionError, validate_steps
from runbooks.models import Guard, Runbook, Trigger
from runbooks.translations import DEFAULT_LANGUAGE, LANGUAGES
from runbooks.versions import runbook_record_history, runbook_set_steps

SHIPPED_RUNBOOKS_DIR = Path(__file__).resolve().parent / "library"

TOP_LEVEL_KEYS = ("name", "description", "language", "active", "trigger", "conditions", "steps")
CONDITION_KEYS = ("categories", "min_priority")
STEP_KEYS = ("action", "if", "params")
# Guards with outcomes are written as a mapping ({answer_in: [..]}), the others as a string.
MAPPING_GUARDS = tuple(g.value for g in GUARDS_WITH_OUTCOMES)
STRING_GUARDS = tuple(g.value for g in Guard if g.value not in MAPPING_GUARDS)
PRIORITIES = (1, 2, 3, 4)
# PyYAML breaks a long text at the first space past this column, so a line runs to
# WIDTH plus one word (a long {placeholder} included): 76 keeps lines within ~90.
WIDTH = 76
# A runbook file is a few levels deep (steps, a step, params, options, an option); far
# deeper nesting is an attack on the parser's recursion, refused before it recurses.
MAX_DEPTH = 20


class _RunbookLoader(yaml.SafeLoader):
    """safe_load's loader, refusing aliases and deep nesting (see the module's docstring)."""

    depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None,
                None,
                "anchors and aliases (*name) are not allowed",
                self.peek_event().start_mark,
            )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _load_documents(text: str) -> list[Any]:
    """Every document of a YAML stream (a file exported from several runbooks has one
    each), read with _RunbookLoader. Raises RunbookFileError."""
    loader = _RunbookLoader(text)
    try:
        documents = []
        while loader.check_data():
            documents.append(loader.get_data())
        return documents
    except yaml.YAMLError as error:
        raise RunbookFileError([f"file: not valid YAML: {error}"]) from None
    finally:
        loader.dispose()


class RunbookFileError(ValueError):
    """Every problem found in a runbook file, each as "step N, field: message"."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


# --- export -----------------------------------------------------------------------------


def runbook_export(runbook: Runbook) -> str:
    slugs = [category.slug for category in runbook.categories.all()]
    steps = [
        {
            "action": step.action,
            "guard": step.guard,
            "outcomes": step.guard_outcomes,
            "params": step.params,
        }
        for step in runbook.steps.order_by("position")
    ]
    return _dump(
        name=runbook.name,
        description=runbook.description,
        language=runbook.language,
        active=runbook.active,
        trigger=runbook.trigger,
        slugs=slugs,
        min_priority=runbook.min_priority,
        steps=steps,
    )


def _dump(
    *,
    name: str,
    description: str,
    language: str,
    active: bool,
    trigger: str,
    slugs: list[str],
    min_priority: int | None,
    steps: list[dict],
) -> str:
    # Plain str/int: safe_dump refuses the enum members a runbook built in code may hold.
    document = {
        "name": str(name),
        "description": str(description),
        "language": str(language),
        "active": bool(active),
        "trigger": str(trigger),
        "conditions": {
            "categories": sorted(slugs),
            "min_priority": None if min_priority is None else int(min_priority),
        },
        "steps": [_step_document(step) for step in steps],
    }
    return yaml.dump(
        document, Dumper=_RunbookDumper, sort_keys=False, allow_unicode=True, width=WIDTH
    )


class _Hours(list):
    """A list of hours, written on one line as authors type it: [4, 24]."""


class _RunbookDumper(yaml.SafeDumper):
    """Text of several lines (an email body with a line per detail) as a literal block,
    written as it reads; PyYAML quotes it instead where a block cannot hold it. Hours on
    one line."""


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_RunbookDumper.add_representer(str, _represent_text)
_RunbookDumper.add_representer(
    _Hours, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, True)
)


def _step_document(step: dict) -> dict:
    document: dict[str, Any] = {"action": str(step["action"])}
    guard = str(step["guard"])
    if guard in MAPPING_GUARDS:
        document["if"] = {guard: list(step["outcomes"])}
    elif guard != Guard.ALWAYS:
        document["if"] = guard
    params = _canonical_params(step["action"], step["params"])
    if params:
        document["params"] = params
    return document


def _canonical_params(action: str, params: dict) -> dict:
    # Cleaning again puts parameters in the action's declared order whatever order the
    # database kept them in (PostgreSQL's jsonb reorders keys). Empty text is left out:
    # validation reads a missing parameter and "" alike, so nothing is lost.
    cleaned, errors = validate_params(action, params)
    if errors:  # e.g. an action renamed since: show what is stored rather than fail
        cleaned = params
    spec = ACTIONS.get(action)
    kinds = {name: param.kind for name, param in spec.params.items()} if spec else {}
    return {
        name: _Hours(value) if kinds.get(name) == "hours" and isinstance(value, list) else value
        for name, value in cleaned.items()
        if value != ""
    }


# --- import -----------------------------------------------------------------------------


def runbook_import(text: str, *, actor: Actor, source: str) -> Runbook:
    """Create or update the runbook a file defines (matched by name), recording it in the
    runbook's History as imported from `source` (a file name). Raises RunbookFileError
    listing every problem; nothing is written unless the file is valid."""
    return _import_fields(_parse(text), actor=actor, source=source)


def runbooks_import_stream(text: str, *, actor: Actor, source: str) -> list[Runbook]:
    """Import every runbook of a YAML stream (one document each, as the admin and
    `runbooks export` write several): all of them, or, on any problem, none. Problems of
    the second runbook on read "runbook 2, step 3, params.title: required"."""
    documents = _load_documents(text)
    if not documents:
        raise RunbookFileError(["file: empty; a runbook file starts with its name"])
    several = len(documents) > 1
    parsed, problems = [], []
    for number, document in enumerate(documents, start=1):
        try:
            parsed.append(_parse_document(document))
        except RunbookFileError as error:
            where = f"runbook {number}, " if several else ""
            problems += [f"{where}{problem}" for problem in error.problems]
    if problems:
        raise RunbookFileError(problems)
    with transaction.atomic():
        return [_import_fields(fields, actor=actor, source=source) for fields in parsed]


def _import_fields(fields: dict[str, Any], *, actor: Actor, source: str) -> Runbook:
    existing = Runbook.objects.filter(name=fields["name"]).first()
    # An unchanged file is a no-op that keeps the version: importing the same file again
    # should not make the runbook look edited, nor a run's version differ from its
    # runbook's for no reason.
    if existing is not None and runbook_export(existing) == _dump(**fields):
        return existing
    categories = list(Category.objects.filter(slug__in=fields["slugs"]))
    with transaction.atomic():
        runbook = existing or Runbook(name=fields["name"], version=0)  # set_steps makes it 1
        runbook.description = fields["description"]
        runbook.language = fields["language"]
        runbook.active = fields["active"]
        runbook.trigger = fields["trigger"]
        runbook.min_priority = fields["min_priority"]
        runbook.save()
        runbook.categories.set(categories)
        runbook_set_steps(runbook=runbook, steps=fields["steps"])
        runbook_record_history(
            runbook=runbook,
            actor=actor,
            message=f"Imported from {source}",
            added=existing is None,
        )
    return runbook


def _parse(text: str) -> dict[str, Any]:
    """The file's content as keyword arguments for _dump, with validated, cleaned steps."""
    documents = _load_documents(text)
    if len(documents) > 1:
        raise RunbookFileError(["file: holds several runbooks; import them one by one"])
    return _parse_document(documents[0] if documents else None)


def _parse_document(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise RunbookFileError([f"file: must be a mapping with {', '.join(TOP_LEVEL_KEYS)}"])

    problems: dict[str, str] = {}
    for key in sorted(data.keys() - set(TOP_LEVEL_KEYS), key=str):
        problems[str(key)] = f"unknown key; known: {', '.join(TOP_LEVEL_KEYS)}"

    name = data.get("name")
    max_name = Runbook._meta.get_field("name").max_length
    if not isinstance(name, str) or not name.strip():
        problems["name"] = "required"
    elif len(name) > max_name:
        problems["name"] = f"at most {max_name} characters"
    description = data.get("description")
    if description is None:
        description = ""
    if not isinstance(description, str):
        problems["description"] = "must be text"
    # A file written before runbooks had a language is English, as its texts are.
    language = data.get("language", DEFAULT_LANGUAGE)
    if language not in LANGUAGES:
        problems["language"] = f"unknown language {language!r}; known: {', '.join(LANGUAGES)}"
    active = data.get("active", True)
    if not isinstance(active, bool):
        problems["active"] = "must be true or false"
    trigger = data.get("trigger", Trigger.INCIDENT_OPENED.value)
    if trigger not in Trigger.values:
        problems["trigger"] = f"unknown trigger {trigger!r}; known: {', '.join(Trigger.values)}"

    conditions = data.get("conditions") or {}
    slugs: list[str] = []
    min_priority = None
    if not isinstance(conditions, dict):
        problems["conditions"] = f"must be a mapping with {', '.join(CONDITION_KEYS)}"
    else:
        for key in sorted(conditions.keys() - set(CONDITION_KEYS), key=str):
            problems[f"conditions.{key}"] = f"unknown key; known: {', '.join(CONDITION_KEYS)}"
        slugs = conditions.get("categories") or []
        if not isinstance(slugs, list) or not all(isinstance(s, str) for s in slugs):
            problems["conditions.categories"] = "must be a list of category slugs"
            slugs = []
        else:
            known = set(Category.objects.values_list("slug", flat=True))
            unknown = [slug for slug in slugs if slug not in known]
            if unknown:
                problems["conditions.categories"] = (
                    f"unknown category {unknown[0]!r}; known: {', '.join(sorted(known))}"
                )
        min_priority = conditions.get("min_priority")
        if min_priority is not None and (
            type(min_priority) is not int or min_priority not in PRIORITIES
        ):
            problems["conditions.min_priority"] = "must be 1 (critical) to 4 (low), or null"

    step_problems, steps = _parse_steps(data.get("steps"))
    messages = [f"{field}: {message}" for field, message in problems.items()]
    messages += step_problems
    if messages:
        raise RunbookFileError(messages)
    return {
        "name": name,
        "description": description,
        "language": language,
        "active": active,
        "trigger": trigger,
        "slugs": sorted(set(slugs)),
        "min_priority": min_priority,
        "steps": steps,
    }


def _parse_steps(steps: Any) -> tuple[list[str], list[dict]]:
    """Problems as "step N, field: message", and the cleaned steps (none if any problem)."""
    if not isinstance(steps, list) or not steps:
        return ["steps: a runbook needs at least one step"], []
    file_errors: dict[str, dict[str, str]] = {}
    converted = []
    for position, step in enumerate(steps):
        where = f"step {position + 1}"  # the same label validate_steps uses
        if not isinstance(step, dict):
            converted.append(step)  # validate_steps reports it
            continue
        errors = {
            str(key): f"unknown key; known: {', '.join(STEP_KEYS)}"
            for key in sorted(step.keys() - set(STEP_KEYS), key=str)
        }
        guard, outcomes, if_error = _parse_if(step.get("if"))
        if if_error:
            errors["if"] = if_error
        if errors:
            file_errors[where] = errors
        converted.append(
            {
                "action": step.get("action"),
                "guard": guard,
                "outcomes": outcomes,
                "params": _renamed_params(step.get("action"), step.get("params")),
            }
        )
    try:
        cleaned = validate_steps(converted)
    except DefinitionError as error:
        cleaned = []
        for position in range(len(converted)):
            where = f"step {position + 1}"
            errors = dict(error.errors.get(where, {}))
            # A bad `if` went on as "always"; our message for it is the one to keep.
            errors.update(file_errors.get(where, {}))
            if errors:
                file_errors[where] = errors
    # Step by step in file order, whichever check found the problem.
    ordered = sorted(file_errors.items(), key=lambda item: int(item[0].split()[1]))
    problems = [
        f"{where}, {field}: {message}"
        for where, errors in ordered
        for field, message in errors.items()
    ]
    return problems, cleaned


# Parameters renamed since files were written: (action, old name) -> (new name, convert).
# A file exported before keeps importing, and its next export uses the new name.
RENAMED_PARAMS = {
    ("ask_user", "reminder_after_hours"): (
        "reminders_after_hours",
        # One reminder after N hours, or none for 0: the list form says the same.
        lambda hours: ([hours] if hours else []) if isinstance(hours, int) else hours,
    ),
}


def _renamed_params(action: Any, params: Any) -> Any:
    if not isinstance(params, dict):
        return params  # validate_steps reports it
    renamed = dict(params)
    for (for_action, old), (new, convert) in RENAMED_PARAMS.items():
        if action == for_action and old in renamed and new not in renamed:
            renamed[new] = convert(renamed.pop(old))
    return renamed


def _parse_if(value: Any) -> tuple[str, list[str], str]:
    """(guard, outcomes, error) for a step's `if`; on error the guard is "always"."""
    always = Guard.ALWAYS.value
    if value is None:
        return always, [], ""
    if isinstance(value, str):
        if value in STRING_GUARDS:
            return value, [], ""
        known = [*STRING_GUARDS, *(f"{{{g}: [..]}}" for g in MAPPING_GUARDS)]
        return always, [], f"unknown guard {value!r}; known: {', '.join(known)}"
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in MAPPING_GUARDS:
        mapping = " or ".join(f"{{{g}: [..]}}" for g in MAPPING_GUARDS)
        return always, [], f"must be one of {', '.join(STRING_GUARDS)}, or {mapping}"
    ((guard, outcomes),) = value.items()
    if not isinstance(outcomes, list) or not outcomes:
        return always, [], f"{guard} needs a list of option keys"
    if any(isinstance(o, bool) for o in outcomes):
        return always, [], f'{guard}: an option key read as true/false: quote it, e.g. "yes"'
    if not all(isinstance(o, str) for o in outcomes):
        return always, [], f"{guard}: option keys must be text"
    return guard, outcomes, ""


# --- the shipped library ----------------------------------------------------------------


INSTALLER = Actor.system("installed with the app")


class Shipped(StrEnum):
    """How a shipped runbook file compares with the runbook of its name in the database."""

    ABSENT = "absent"
    IDENTICAL = "identical"
    DIFFERS = "differs"


@dataclass(frozen=True)
class ShippedRunbook:
    path: Path
    text: str
    name: str
    canonical: str
    installed: Runbook | None

    @property
    def source(self) -> str:
        return str(self.path.relative_to(SHIPPED_RUNBOOKS_DIR.parent.parent))

    @property
    def version(self) -> int | None:
        return self.installed.version if self.installed is not None else None

    @cached_property
    def installed_text(self) -> str:
        return runbook_export(self.installed) if self.installed is not None else ""

    @property
    def status(self) -> Shipped:
        if self.installed is None:
            return Shipped.ABSENT
        return Shipped.IDENTICAL if self.installed_text == self.canonical else Shipped.DIFFERS

    def diff(self) -> str:
        """What replacing the installed runbook with the shipped file changes: lines the
        upgrade removes start with "-", lines it brings with "+"."""
        return "".join(
            difflib.unified_diff(
                self.installed_text.splitlines(keepends=True),
                self.canonical.splitlines(keepends=True),
                fromfile=f"installed: {self.name} (version {self.version})",
                tofile=f"shipped: {self.source}",
            )
        )


def shipped_runbooks() -> list[ShippedRunbook]:
    """Each runbook file shipped in runbooks/library, with the runbook of its name."""
    found = []
    for path in sorted(SHIPPED_RUNBOOKS_DIR.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        fields = _parse(text)
        found.append(
            ShippedRunbook(
                path=path,
                text=text,
                name=fields["name"],
                canonical=_dump(**fields),
                installed=Runbook.objects.filter(name=fields["name"]).first(),
            )
        )
    return found


def shipped_runbook_install(shipped: ShippedRunbook, *, actor: Actor) -> Runbook:
    """Install the shipped file, or replace the installed runbook with it: a new version,
    recorded in History. An author's edits to it are lost; `runbooks upgrade` shows them."""
    return runbook_import(shipped.text, actor=actor, source=shipped.source)


def import_shipped_runbooks(*, actor: Actor = INSTALLER) -> list[Runbook]:
    """Install each shipped runbook that is absent (by name), all or none, and return every
    shipped runbook. One that exists is never touched, edited or not: the author's version
    wins over the file; `manage.py runbooks upgrade` shows and applies a changed file."""
    with transaction.atomic():
        return [
            shipped.installed or shipped_runbook_install(shipped, actor=actor)
            for shipped in shipped_runbooks()
        ]
