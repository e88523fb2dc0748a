"""What a question email to someone other than the affected person says about them: whom
it is about, what became of the question we asked before, and why this recipient is
asked (templates/mailflow/email/about.*). Only names, dates and a state: never anything
of the earlier request's links or tokens, which belong to another recipient."""

from typing import Any

from django.utils import timezone

from incidents.models import Person
from mailflow.models import ConfirmationRequest

State = ConfirmationRequest.State
MANAGER, GROUP, PERSON = "manager", "group", "person"


def about_context(request: ConfirmationRequest) -> dict[str, Any]:
    """The template context for the "why you" block; {"about": None} when the question
    goes to the person it is about."""
    # Compared by id first: a campaign's batch builds many emails, nearly all to the
    # person a question is about, and these need no query of their own.
    run = request.run
    about_id = run.person_id or request.incident.affected_user_id
    if request.person_id is None or about_id is None or request.person_id == about_id:
        return {"about": None}
    about: Person = run.asked_person
    asked = request.person
    earlier = (
        ConfirmationRequest.objects.filter(
            run=request.run_id, person=about, step_position__lt=request.step_position
        )
        .order_by("-step_position")
        .only("state", "deadline_at", "created_at")
        .first()
    )
    return {
        "about": about.full_name,
        "asked_as": _asked_as(asked, about),
        "earlier": _earlier(earlier),
    }


def _asked_as(asked: Person, about: Person) -> str:
    if about.manager_id == asked.pk:
        return MANAGER
    return GROUP if asked.kind == Person.Kind.GROUP else PERSON


def _earlier(earlier: ConfirmationRequest | None) -> dict[str, Any] | None:
    """What became of the question the person was asked before, if any."""
    if earlier is None:
        return None
    if earlier.state == State.UNDELIVERABLE:
        what = "undeliverable"
    elif earlier.state == State.NO_ANSWER:
        what = "no_answer"
    elif earlier.state in (State.PENDING, State.SENT, State.DELIVERED):
        # Still open: they are away (an out-of-office reply moved the run on).
        what = "away"
    elif earlier.state == State.ANSWERED:
        what = "unsettled"  # unrecognised, or "this email looks suspicious"
    else:
        return None  # withdrawn: nothing worth telling
    return {
        "what": what,
        "asked_at": timezone.localtime(earlier.created_at),
        "deadline": timezone.localtime(earlier.deadline_at),
    }
