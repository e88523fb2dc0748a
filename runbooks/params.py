"""The parameters an action declares, their validation, and the placeholders templates may
use."""

import re
from dataclasses import dataclass
from typing import Any

from runbooks.outcomes import SPECIAL_OUTCOMES
from runbooks.translations import clean_translatable

PLACEHOLDERS = {
    "incident_number": "the incident's number, e.g. SIR0001001",
    "incident_short_description": "the incident's short description",
    "first_name": "the affected person's first name",
    "person_name": "the affected person's full name",
    "answer_key": "the answer's option key, or one of: " + ", ".join(SPECIAL_OUTCOMES),
    "answer_label": "the answer's label as the person saw it",
    "answer_channel": "how the answer came: answer page or email reply",
    "task_number": "the run's current task number",
    "runbook_name": "the runbook's name",
}
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_OPTION_KEY = re.compile(r"[a-z0-9_-]{1,30}")


@dataclass(frozen=True)
class Param:
    """One parameter of an action. The admin builds the step's form from these: the kind
    picks the field (text, template: text with placeholders, int, bool, choice, options: the
    question's key and label pairs), `label` names it (else its name, spelled out),
    `unit` follows a number (hours), `choice_labels` name the choices in the same order.
    A `translatable` text may be written per language ({"en": ..., "de": ...}); the
    options' labels always may."""

    kind: str  # text, template, int, bool, choice, options
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
    raise AssertionError(f"unknown parameter kind {param.kind}")


def _check_placeholders(text: str) -> None:
    unknown = set(PLACEHOLDER.findall(text)) - PLACEHOLDERS.keys()
    if unknown:
        raise ValueError(
            f"unknown placeholder {{{sorted(unknown)[0]}}}; "
            f"known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
        )


def _no_check(text: str) -> None:
    return None


def _clean_options(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or len(value) < 2:
        raise ValueError("must be a list of at least two options, each with key and label")
    seen = set()
    cleaned = []
    for option in value:
        if not isinstance(option, dict) or set(option) != {"key", "label"}:
            raise ValueError("each option needs exactly a key and a label")
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
        seen.add(key)
        cleaned.append({"key": key, "label": label})
    return cleaned
