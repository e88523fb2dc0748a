"""What happens after an answer, as the runbook's option says it (its `next` text): kept
on the request in the person's language as they saw it, and told to them on the answer
page and in the acknowledgement of their reply."""

from typing import Any

from mailflow.models import ConfirmationRequest
from runbooks.translations import in_language


def options_with_next(
    options: list[dict[str, Any]], language: str, fallback: str = "en"
) -> list[dict[str, Any]]:
    """The options to store on the request: each `next` in the person's language (else
    the runbook's, `fallback`), so the request keeps what they were told even if the
    runbook changes later."""
    stored = []
    for option in options:
        option = dict(option)
        text = in_language(option.pop("next", None), language, fallback)
        if text:
            option["next"] = text
        stored.append(option)
    return stored


def next_text(request: ConfirmationRequest, key: str) -> str:
    """What happens next after the answer `key`; empty when the runbook says nothing."""
    option = next((o for o in request.options if o.get("key") == key), None)
    return in_language(option.get("next"), request.language) if option else ""
