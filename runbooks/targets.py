"""Whom an ask_user step asks: the affected person (the default), their manager from the
directory, a named person, or a group mailbox (a Person of kind group), both by address.

The definition only checks that an address looks like one; whether that someone exists is
looked up when the step runs, since the directory changes between writing a runbook and
running it. With nobody to ask, the step does not wait: it says why on the timeline and the
run goes on at once with the `no_target` outcome, which guards can name.
"""

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from incidents.models import Person
from incidents.timeline import timeline_record
from runbooks import timeline_kinds as kinds
from runbooks.outcomes import NO_TARGET

AFFECTED, MANAGER, PERSON, GROUP = "affected", "manager", "person", "group"
TARGETS = (AFFECTED, MANAGER, PERSON, GROUP)
TARGET_LABELS = (
    "The affected person",
    "Their manager (from the directory)",
    "A person, by address",
    "A group mailbox, by address",
)
# Targets named by an address in the step's target_email.
NAMED = (PERSON, GROUP)
# How the diagram and the step list name each target's question.
ASK_LABELS = {
    AFFECTED: "Ask the affected user",
    MANAGER: "Ask their manager",
    PERSON: "Ask {email}",
    GROUP: "Ask the group {email}",
}
NOBODY_LABEL = "nobody to ask"


@dataclass(frozen=True)
class Target:
    """The someone a question goes to, or why there is nobody (`missing`)."""

    kind: str
    person: Person | None
    about: Person | None  # whom the question is about: the run's person
    missing: str = ""

    @property
    def name(self) -> str:
        return self.person.full_name if self.person else "the affected user"

    @property
    def role(self) -> str:
        """How they stand to the person the question is about, for notes and the
        timeline: "manager of Bob Builder"."""
        about = self.about.full_name if self.about else "the affected user"
        return {
            AFFECTED: "the affected person",
            MANAGER: f"manager of {about}",
            PERSON: f"asked about {about}",
            GROUP: f"group mailbox, asked about {about}",
        }[self.kind]

    @property
    def described(self) -> str:
        """E.g. "Carol Chief (manager of Bob Builder)"; the affected person by name alone."""
        return self.name if self.kind == AFFECTED else f"{self.name} ({self.role})"

    def context(self) -> dict[str, Any]:
        """What the run keeps of whom its last question asked (the {asked_name} and
        {asked_as} placeholders read it)."""
        return {"asked_name": self.name, "asked_as": self.role, "asked_target": self.kind}


def check_target(params: dict[str, Any]) -> dict[str, str]:
    """The step's target and address checked together: {param: error}."""
    target = params.get("target") or AFFECTED
    email = (params.get("target_email") or "").strip()
    if target not in NAMED:
        if email:
            return {"target_email": "only for a named person or a group mailbox"}
        return {}
    if not email:
        return {"target_email": f"required when asking a {target}: their address"}
    try:
        validate_email(email)
    except ValidationError:
        return {"target_email": f"{email!r} is not an email address"}
    return {}


def target_resolve(run, params: dict[str, Any]) -> Target:
    """Whom the step asks now, looked up in the directory as it is today."""
    kind = params.get("target") or AFFECTED
    about = run.asked_person
    if kind == AFFECTED:
        # Today's behaviour: with no affected user the email is undeliverable.
        return Target(kind, about, about)
    if kind == MANAGER:
        if about is None:
            return Target(kind, None, None, "the incident has no affected user, so no manager")
        manager = about.manager
        if manager is None:
            return Target(kind, None, about, f"{about.full_name} has no manager in the directory")
        return _with_address(Target(kind, manager, about))
    email = (params.get("target_email") or "").strip().lower()
    person = Person.objects.filter(email=email).first() if email else None
    if person is None:
        what = "group mailbox" if kind == GROUP else "person"
        return Target(kind, None, about, f"no {what} with the address {email} in the directory")
    return _with_address(Target(kind, person, about))


def _with_address(target: Target) -> Target:
    if target.person is not None and not target.person.email:
        missing = f"{target.person.full_name} has no email address in the directory"
        return Target(target.kind, None, target.about, missing)
    return target


def ask_label(params: dict[str, Any]) -> str:
    """The question's heading on the diagram: whom it asks."""
    kind = params.get("target") or AFFECTED
    return ASK_LABELS.get(kind, ASK_LABELS[AFFECTED]).format(email=params.get("target_email", ""))


def record_nobody_to_ask(ctx, target: Target) -> dict[str, Any]:
    """Say on the timeline why the step asked nobody; returns the run context that moves
    the run on at once with the no_target outcome (the engine's transaction commits both,
    so a worker killed here leaves neither)."""
    timeline_record(
        incident=ctx.incident,
        kind=kinds.RUNBOOK_NO_TARGET,
        actor=ctx.actor,
        summary=f"Nobody asked: {target.missing}",
        body=f"Question not sent: {ctx.render(ctx.params['question'])}",
        data={"run": ctx.run.pk, "position": ctx.run.position, "target": target.kind},
    )
    return {
        "outcome": NO_TARGET,
        "answer_label": f"{NOBODY_LABEL}: {target.missing}",
        "answer_channel": "",
    }
