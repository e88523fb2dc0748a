"""What the runbook page's form posts, built by hand: the runbook's fields and a row of
typed parameter fields per step (tests posting the rendered page use rendered_forms)."""

from django.urls import reverse

from runbooks.actions import validate_params
from runbooks.models import Runbook
from tests.factories import category


def form_data(steps: list[dict], runbook: Runbook | None = None, **fields) -> dict:
    """What the add or change form posts: the runbook's fields and one inline row a step.
    A step given with "id" is an existing one; "position" defaults to its index."""
    data = {
        "name": runbook.name if runbook else "Suspicious sign-in",
        "description": "",
        "language": runbook.language if runbook else "en",
        "active": "on",
        "trigger": "incident.opened",
        "categories": (
            [c.pk for c in runbook.categories.all()] if runbook else [category("failed-login").pk]
        ),
        "min_priority": "",
        "steps-TOTAL_FORMS": len(steps),
        "steps-INITIAL_FORMS": sum(1 for s in steps if "id" in s),
        "steps-MIN_NUM_FORMS": 0,
        "steps-MAX_NUM_FORMS": 1000,
    } | fields
    for index, step in enumerate(steps):
        prefix = f"steps-{index}-"
        data |= {
            prefix + "id": step.get("id", ""),
            prefix + "runbook": runbook.pk if runbook else "",
            prefix + "position": step.get("position", index),
            prefix + "action": step["action"],
            prefix + "guard": step.get("guard", "always"),
            prefix + "guard_outcomes": step.get("outcomes", []),
        }
        data |= param_fields(prefix, step["action"], step.get("params", {}))
        if step.get("delete"):
            data[prefix + "DELETE"] = "on"
    return data


def param_fields(prefix: str, action: str, params: dict) -> dict:
    """The typed fields a browser posts for a step's parameters (a box left unticked is
    not posted at all)."""
    data: dict = {}
    for name, value in params.items():
        field = f"{prefix}param__{action}__{name}"
        if isinstance(value, bool):
            if value:
                data[field] = "on"
        elif isinstance(value, list) and all(isinstance(v, int) for v in value):
            data[field] = ", ".join(str(hours) for hours in value)  # a list of hours
        elif isinstance(value, list):
            for index, option in enumerate(value):
                data[f"{field}-key-{index}"] = option["key"]
                data |= translated(f"{field}-label-{index}", option["label"])
                if option.get("next"):
                    data |= translated(f"{field}-next-{index}", option["next"])
        elif isinstance(value, dict):
            data |= translated(field, value)
        else:
            data[field] = str(value)
    return data


def existing(runbook: Runbook) -> list[dict]:
    """The steps as the page shows them: the parameters with their defaults filled in."""
    return [
        {
            "id": step.pk,
            "position": step.position,
            "action": step.action,
            "guard": step.guard,
            "outcomes": step.guard_outcomes,
            "params": validate_params(step.action, step.params)[0],
        }
        for step in runbook.steps.order_by("position")
    ]


def change_url(runbook: Runbook) -> str:
    return reverse("admin:runbooks_runbook_change", args=[runbook.pk])


def step_form_errors(response, index: int) -> dict:
    formset = response.context["inline_admin_formsets"][0].formset
    return formset.forms[index].errors


def translated(field: str, value: str | dict, main: str = "en") -> dict:
    """A text as the form posts it: the main language in the field itself, the others in
    `<field>-<code>` (runbooks.translated_fields)."""
    if isinstance(value, str):
        return {field: value}
    return {field: value.get(main, "")} | {
        f"{field}-{code}": text for code, text in value.items() if code != main
    }
