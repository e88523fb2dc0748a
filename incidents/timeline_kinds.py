"""The registry of timeline entry kinds: each kind's name, its label for analysts and the
keys its `data` may carry.

Kinds are stored on entries, matched by `TIMELINE_SUBSCRIBERS` and kept as runbook
triggers, so a name is a contract: code writes it through a named constant, never a bare
string. Each app declares the kinds it writes in its own `timeline_kinds` module, and
`settings.TIMELINE_KINDS` lists those modules' `KINDS` by dotted path, the way
`TIMELINE_SUBSCRIBERS` lists subscribers: this layer reads the upper layers' kinds without
importing them.
"""

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    data_keys: frozenset[str] = frozenset()


class TimelineKindError(ValueError):
    """A programming error: a kind nobody registered, or data the kind does not declare."""


INCIDENT_OPENED = "incident.opened"
INCIDENT_UPDATED = "incident.updated"
INCIDENT_STATE_CHANGED = "incident.state_changed"
INCIDENT_ASSIGNED = "incident.assigned"
NOTE_ADDED = "note.added"
TASK_CREATED = "task.created"
TASK_UPDATED = "task.updated"
TASK_STARTED = "task.started"
TASK_AWAITING_USER = "task.awaiting_user"
TASK_COMPLETED = "task.completed"
TASK_MARKED_INCOMPLETE = "task.marked_incomplete"
TASK_CANCELLED = "task.cancelled"
EVIDENCE_ADDED = "evidence.added"

_TASK_TRANSITION = frozenset({"task", "from", "to"})

KINDS = [
    Kind(
        INCIDENT_OPENED,
        "Incident opened",
        frozenset({"category", "priority", "external_reference"}),
    ),
    Kind(INCIDENT_UPDATED, "Incident updated", frozenset({"changes"})),
    Kind(INCIDENT_STATE_CHANGED, "State changed", frozenset({"from", "to"})),
    Kind(INCIDENT_ASSIGNED, "Assigned", frozenset({"analyst", "group"})),
    Kind(NOTE_ADDED, "Work note"),
    Kind(TASK_CREATED, "Task created", frozenset({"task"})),
    Kind(TASK_UPDATED, "Task updated", frozenset({"task", "changes"})),
    Kind(TASK_STARTED, "Task started", _TASK_TRANSITION),
    Kind(TASK_AWAITING_USER, "Task awaiting the user", _TASK_TRANSITION),
    Kind(TASK_COMPLETED, "Task completed", _TASK_TRANSITION),
    Kind(TASK_MARKED_INCOMPLETE, "Task marked incomplete", _TASK_TRANSITION),
    Kind(TASK_CANCELLED, "Task cancelled", _TASK_TRANSITION),
    Kind(
        EVIDENCE_ADDED,
        "Evidence added",
        frozenset({"evidence", "sha256", "source", "quarantined"}),
    ),
]


def kinds_registered() -> dict[str, Kind]:
    """Every kind in settings.TIMELINE_KINDS, by name."""
    return _kinds_from(tuple(settings.TIMELINE_KINDS))


@lru_cache
def _kinds_from(paths: tuple[str, ...]) -> dict[str, Kind]:
    # Keyed on the paths, so a test that overrides the setting gets its own registry.
    registry: dict[str, Kind] = {}
    for path in paths:
        for kind in import_string(path):
            if kind.name in registry:
                raise TimelineKindError(f"Timeline kind {kind.name!r} is registered twice.")
            registry[kind.name] = kind
    return registry


def kind_get(name: str) -> Kind:
    try:
        return kinds_registered()[name]
    except KeyError:
        raise TimelineKindError(
            f"Unknown timeline kind {name!r}: declare it in a timeline_kinds module listed "
            "in settings.TIMELINE_KINDS."
        ) from None


def kind_label(name: str) -> str:
    """The analyst's name for a kind; an entry of a kind no longer registered (written by
    an older version) shows its raw name rather than failing the page."""
    kind = kinds_registered().get(name)
    return kind.label if kind else name


def kind_check_data(kind: Kind, data: dict) -> None:
    undeclared = set(data) - kind.data_keys
    if undeclared:
        raise TimelineKindError(
            f"Timeline kind {kind.name!r} does not declare the data keys "
            f"{', '.join(sorted(undeclared))}."
        )


def kind_choices() -> list[tuple[str, str]]:
    return [(kind.name, kind.label) for kind in kinds_registered().values()]


def kind_namespaces() -> list[str]:
    """The part before the dot ("task" of "task.created"), in registration order."""
    return list(dict.fromkeys(name.split(".", 1)[0] for name in kinds_registered()))


# --- kind groups and folding, for reading a timeline ------------------------------------

# The groups an analyst filters an incident's timeline by, in the order they are offered.
# Every registered kind belongs to one, decided here by its namespace with a few explicit
# exceptions, so the other apps' registries stay a list of what they write (a test checks
# that no registered kind is left without a group).
KIND_GROUPS: dict[str, str] = {
    "people": "People",
    "tasks": "Tasks",
    "runbook": "Runbook",
    "email": "Email",
    "evidence": "Evidence",
}
OTHER_GROUP = "other"  # a kind an older version wrote and nobody registers any more

_GROUP_OF_NAMESPACE = {
    # What people did and said: the analysts' changes and notes, the asked person's answers.
    "incident": "people",
    "note": "people",
    "answer": "people",
    "approval": "people",  # approvers asked, their votes and the decision
    "task": "tasks",
    "runbook": "runbook",
    # The question's emails going out, and the mail coming back that is not an answer.
    "request": "email",
    "campaign": "email",  # reminders to everyone asked
    "reply": "email",
    "bounce": "email",
    "evidence": "evidence",
}
_GROUP_OF_KIND = {
    # Files a reply carried that were not filed: the analyst looks for them with evidence.
    "reply.attachments_skipped": "evidence",
}

# Kinds that come in bursts (a mail scanner opening the link, one delivery report per
# recipient) and read as one line when they follow each other: kind -> (one, many).
FOLDED_KINDS: dict[str, tuple[str, str]] = {
    "request.link_checked": ("scanner visit", "scanner visits"),
    "request.delivered": ("email delivered", "emails delivered"),
    "request.delayed": ("delivery delayed", "deliveries delayed"),
    "request.deferred": ("sending put off", "sendings put off"),
}


def kind_group(name: str) -> str:
    """The group of KIND_GROUPS a kind is filtered under; OTHER_GROUP if none."""
    if name in _GROUP_OF_KIND:
        return _GROUP_OF_KIND[name]
    return _GROUP_OF_NAMESPACE.get(name.split(".", 1)[0], OTHER_GROUP)


def kinds_in_group(group: str) -> list[str]:
    """The registered kinds of a group, for filtering entries by their kind."""
    return [name for name in kinds_registered() if kind_group(name) == group]
