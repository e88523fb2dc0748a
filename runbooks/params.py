"""The parameters an action declares, their validation, and the placeholders templates may
use."""

import re
from dataclasses import dataclass
from typing import Any

from incidents.details import detail_names
from runbooks.approvers import clean_approvers
from runbooks.outcomes import SPECIAL_OUTCOMES
from runbooks.placeholders import placeholder_known
from runbooks.translations import clean_translatable

PLACEHOLDERS = {
    "incident_number": "the incident's number, e.g. SIR0001001",
    "incident_short_description": "the incident's short description",
    "first_name": "the affected person's first name",
    "person_name": "the affected person's full name",
    "asked_name": "the full name of whom the last question asked (the person, their "
    "manager, a named person or a group mailbox)",
    "asked_as": "how they stand to the person, e.g. 'manager of Bob Builder' or 'the "
    "affected person'",
    "answer_key": "the answer's option key, or one of: " + ", ".join(SPECIAL_OUTCOMES),
    "answer_label": "the answer's label as the person saw it",
    "answer_channel": "how the answer came: answer page or email reply",
    "task_number": "the run's current task number",
    "runbook_name": "the runbook's name",
}
# {first_name}, and {details.source_ip}: a field of what happened (runbooks.placeholders).
PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[a-z_]+)?)\}")
_OPTION_KEY = re.compile(r"[a-z0-9_-]{1,30}")
DETAILS_HINT = "; and {details.<name>} for a field of what happened, e.g. {details.source_ip}"
_OPTION_FIELDS = {"key", "label", "next"}
MAX_NEXT = 500


@dataclass(frozen=True)
class Param:
    """One parameter of an action. The admin builds the step's form from these: the kind
    picks the field (text, template: text with placeholders, int, bool, choice, options: the
    question's key and label pairs, hours: a list of whole hours such as reminders,
    approvers: ask_approval's list), `label` names it (else its name, spelled out), `unit`
    follows a number (hours), `choice_labels` name the choices in the same order. A
    `translatable` text may be written per language ({"en": ..., "de": ...}); the options'
    labels (and their next texts) always may."""

    kind: str  # text, template, int, bool, choice, options, hours, approvers
    help: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    label: str = ""
    unit: str = ""
    choice_labels: tuple[str, ...] = ()
    translatable: bool = False

    def label_for(self, name: str) -> str:
        return self.label or name.replace("_", " ").capitalize()

    def choice_pairs(self) -> list[tuple[str, str]]:
        labels = self.choice_labels or self.choices
        return list(zip(self.choices, labels, strict=True))


def clean_param(param: Param, value: Any) -> Any:
    """The value checked and normalised; ValueError says what is wrong."""
    if param.kind in ("text", "template"):
        check = _check_placeholders if param.kind == "template" else _no_check
        if param.translatable:
            return clean_translatable(value, check)
        if not isinstance(value, str):
            raise ValueError("must be text")
        check(value)
        return value
    if param.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("must be a whole number, 0 or more")
        return value
    if param.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if param.kind == "choice":
        if value not in param.choices:
            raise ValueError(f"must be one of {', '.join(param.choices)}")
        return value
    if param.kind == "options":
        return _clean_options(value)
    if param.kind == "hours":
        return clean_hours(value)
    if param.kind == "approvers":
        return clean_approvers(value)
    raise AssertionError(f"unknown parameter kind {param.kind}")


# A step waits at most a few weeks; a list this long is a typo, not a schedule.
MAX_HOURS_LISTED = 10


def clean_hours(value: Any) -> list[int]:
    """A list of whole hours, each 1 or more, in order without repeats ([] for none). A
    single number reads as a one-item list (0 as none): the form of the older
    `reminder_after_hours`."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value] if value else []
    if not isinstance(value, list):
        raise ValueError("must be a list of whole hours, e.g. [4, 24]")
    if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in value):
        raise ValueError("each must be a whole number of hours, 1 or more")
    if len(value) > MAX_HOURS_LISTED:
        raise ValueError(f"at most {MAX_HOURS_LISTED}")
    return sorted(set(value))


def _check_placeholders(text: str) -> None:
    named = set(PLACEHOLDERS)
    unknown = {p for p in PLACEHOLDER.findall(text) if not placeholder_known(p, named)}
    first = sorted(unknown)[0] if unknown else ""
    if first.startswith("details."):
        details = ", ".join("{details." + n + "}" for n in sorted(detail_names()))
        raise ValueError(f"unknown detail {{{first}}}; known: {details}")
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{first}}}; "
            f"known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}" + DETAILS_HINT
        )


def _no_check(text: str) -> None:
    return None


def _clean_options(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError("must be a list of at least two options, each with key and label")
    seen = set()
    cleaned = []
    for option in value:
        if not isinstance(option, dict) or not {"key", "label"} <= set(option) <= _OPTION_FIELDS:
            raise ValueError("each option needs a key and a label, and may have a next text")
        key, label = option["key"], option["label"]
        if isinstance(key, bool):
            raise ValueError('an option key read as true/false: quote it, e.g. key: "yes"')
        if not isinstance(key, str) or not _OPTION_KEY.fullmatch(key):
            raise ValueError(f"option key {key!r} must be 1-30 lower-case letters, digits, - or _")
        if key in SPECIAL_OUTCOMES:
            raise ValueError(f"option key {key!r} is reserved")
        if key in seen:
            raise ValueError(f"option key {key!r} appears twice")
        if label is None or (isinstance(label, str) and not label.strip()):
            raise ValueError(f"option {key!r} needs a label")
        try:
            label = clean_translatable(label)
        except ValueError as error:
            raise ValueError(f"option {key!r}, label: {error}") from None
        next_text = _clean_next(key, option.get("next"))
        seen.add(key)
        cleaned.append({"key": key, "label": label, **({"next": next_text} if next_text else {})})
    return cleaned


def _clean_next(key: str, text: Any) -> Any:
    """An option's `next`: what happens after that answer, told to the person on the
    answer page and in the reply's acknowledgement. Text, or text per language; None when
    there is none."""
    if text is None or text == "":
        return None
    try:
        text = clean_translatable(text)
    except ValueError as error:
        raise ValueError(f"option {key!r}, next: {error}") from None
    if any(len(t) > MAX_NEXT for t in (text.values() if isinstance(text, dict) else [text])):
        raise ValueError(f"option {key!r}: next must be at most {MAX_NEXT} characters")
    return text
