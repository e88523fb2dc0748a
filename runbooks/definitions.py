"""A runbook's definition as plain data, and its validation.

The same dict shape is used by the admin, by runbook files and for the snapshot a run keeps:
{"name": str, "version": int, "language": str, "steps": [{"action", "guard", "outcomes",
"params"}, ...]}. "language" is the runbook's default language (a snapshot taken before it
existed has none: English).
"""

from typing import Any

from runbooks.actions import ACTIONS, validate_params
from runbooks.approval_action import APPROVAL_OUTCOMES
from runbooks.models import Guard, Runbook
from runbooks.outcomes import SPECIAL_OUTCOMES

GUARDS_WITH_OUTCOMES = (Guard.ANSWER_IN, Guard.ANSWER_NOT_IN)


class DefinitionError(ValueError):
    """Problems found in a definition: {"step 2": {"params.title": "required"}, ...}."""

    def __init__(self, errors: dict[str, dict[str, str]]):
        self.errors = errors
        super().__init__(
            "; ".join(
                f"{where}, {field}: {message}"
                for where, fields in errors.items()
                for field, message in fields.items()
            )
        )


def step_label(position: int) -> str:
    return f"step {position + 1}"


# The steps that ask and wait: the guards after them branch on their outcome.
ASKING_ACTIONS = ("ask_user", "ask_approval")


def asked_options(action: str, params: dict) -> list[dict] | None:
    """The outcomes the guards after an asking step may name besides the special ones:
    a question's options, an approval's approved / denied; None for a step that asks
    nothing (or a question whose options are missing)."""
    if action == "ask_approval":
        return APPROVAL_OUTCOMES
    if action == "ask_user":
        return params.get("options") or None
    return None


def guard_matches(guard: str, outcomes: list[str], outcome: str | None) -> bool:
    """Whether a step runs, given the outcome of the last question (None: not asked yet)."""
    if guard == Guard.ALWAYS:
        return True
    if outcome is None:
        return False
    if guard == Guard.ANSWER_IN:
        return outcome in outcomes
    if guard == Guard.ANSWER_NOT_IN:
        return outcome not in outcomes
    if guard == Guard.ANSWERED:
        return outcome not in SPECIAL_OUTCOMES
    return guard == outcome  # unrecognised, no_answer, undeliverable


def validate_step(
    step: Any, *, asked: bool, option_keys: set[str] | None
) -> tuple[dict, dict[str, str]]:
    """Check one step. `asked`: an asking step (ask_user, ask_approval) comes before it
    (else only 'always' makes sense); `option_keys`: that question's keys, or None when
    its options are themselves invalid (reported there, so its guards are not checked
    against them)."""
    if not isinstance(step, dict):
        return {}, {"step": "must be a mapping with action, params and optionally if"}
    errors: dict[str, str] = {}
    action = step.get("action")
    if not action:
        return {}, {"action": "required"}
    if not isinstance(action, str):
        return {}, {"action": "must be the name of an action"}
    params, param_errors = validate_params(action, step.get("params") or {})
    errors.update({f"params.{k}" if k != "action" else k: v for k, v in param_errors.items()})

    guard = step.get("guard") or Guard.ALWAYS
    outcomes = step.get("outcomes") or []
    if guard not in Guard.values:
        errors["if"] = f"unknown guard {guard!r}; known: {', '.join(Guard.values)}"
    elif guard != Guard.ALWAYS and not asked:
        errors["if"] = f"guard {guard!r} needs an ask_user or ask_approval step before it"
    elif guard in GUARDS_WITH_OUTCOMES:
        if not outcomes or not isinstance(outcomes, list):
            errors["if"] = f"{guard} needs a list of option keys"
        elif option_keys is not None:
            unknown = [o for o in outcomes if o not in option_keys | set(SPECIAL_OUTCOMES)]
            if unknown:
                errors["if"] = (
                    f"{unknown[0]!r} is not an option of the question before it "
                    f"(options: {', '.join(sorted(option_keys or ()))})"
                )
    elif outcomes:
        errors["if"] = f"guard {guard!r} takes no list of outcomes"
    cleaned = {
        "action": action,
        "guard": guard,
        "outcomes": list(outcomes) if guard in GUARDS_WITH_OUTCOMES else [],
        "params": params,
    }
    return cleaned, errors


def validate_steps(steps: Any) -> list[dict]:
    """Check every step; raise DefinitionError naming each bad step and field."""
    if not isinstance(steps, list) or not steps:
        raise DefinitionError({"steps": {"steps": "a runbook needs at least one step"}})
    errors: dict[str, dict[str, str]] = {}
    cleaned_steps = []
    asked, option_keys = False, None
    for position, step in enumerate(steps):
        cleaned, step_errors = validate_step(step, asked=asked, option_keys=option_keys)
        if step_errors:
            errors[step_label(position)] = step_errors
        cleaned_steps.append(cleaned)
        if cleaned.get("action") in ASKING_ACTIONS:
            asked = True
            options = asked_options(cleaned["action"], cleaned["params"])
            option_keys = {o["key"] for o in options} if options else None
    if errors:
        raise DefinitionError(errors)
    return cleaned_steps


def runbook_definition(runbook: Runbook) -> dict:
    """The snapshot a run keeps of its runbook."""
    return {
        "name": runbook.name,
        "version": runbook.version,
        "language": runbook.language,
        "steps": [
            {
                "action": step.action,
                "guard": step.guard,
                "outcomes": step.guard_outcomes,
                "params": step.params,
            }
            for step in runbook.steps.order_by("position")
        ],
    }


def action_choices() -> list[tuple[str, str]]:
    return [(name, spec.label) for name, spec in ACTIONS.items()]
