"""A confirmation request's states after it is sent: delivered, and the ways it closes
without an answer (undeliverable, past its deadline, withdrawn), each moving its run on
that branch. Also what every request service shares: the row lock and how the timeline
names the person asked."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from incidents.models import SecurityIncident
from incidents.timeline import timeline_record
from mailflow import timeline_kinds as kinds
from mailflow.approval_tally import approval_tally, lock_run_of
from mailflow.models import OPEN_STATES, ConfirmationRequest
from runbooks.outcomes import NO_ANSWER as NO_ANSWER_OUTCOME
from runbooks.outcomes import UNDELIVERABLE
from runbooks.services import InlineAdvances, run_resume

State = ConfirmationRequest.State


def lock_request(request_id: int) -> ConfirmationRequest:
    return (
        ConfirmationRequest.objects.select_for_update(of=("self",))
        .select_related("incident", "run", "person", "task")
        .get(pk=request_id)
    )


def recipient_name(request: ConfirmationRequest) -> str:
    if request.person:
        return request.person.full_name
    if request.approver_user:  # an approver with an account but no directory entry
        return request.approver_user.get_full_name() or request.approver_user.get_username()
    return "the affected user"


def request_mark_delivered(
    *, request: ConfirmationRequest, actor: Actor, at: datetime | None = None
) -> bool:
    with transaction.atomic():
        request = lock_request(request.pk)
        if request.state != State.SENT:
            return False
        request.state, request.delivered_at = State.DELIVERED, at or timezone.now()
        request.save(update_fields=["state", "delivered_at"])
        timeline_record(
            incident=request.incident,
            task=request.task,
            kind=kinds.REQUEST_DELIVERED,
            actor=actor,
            summary=f"Email delivered to {recipient_name(request)}",
            data={"request": request.pk},
        )
    return True


def _close_and_resume(
    request: ConfirmationRequest, *, state: str, outcome: str, kind: str, actor: Actor,
    summary: str, reason: str, inline: InlineAdvances | None = None,
) -> bool:  # fmt: skip
    """Close an open request without an answer and move its run on that branch; an
    approver's seat instead has the tally see whether the approval can still pass."""
    with transaction.atomic():
        lock_run_of(request)
        request = lock_request(request.pk)
        if request.state not in OPEN_STATES:
            return False
        request.state, request.send_lease_until = state, None
        request.save(update_fields=["state", "send_lease_until"])
        timeline_record(
            incident=request.incident,
            task=request.task,
            kind=kind,
            actor=actor,
            summary=summary,
            body=reason,
            data={"request": request.pk},
        )
        if outcome and request.kind == ConfirmationRequest.Kind.APPROVAL:
            approval_tally(request=request, actor=actor, inline=inline)
        elif outcome:
            run_resume(
                run=request.run,
                outcome=outcome,
                actor=actor,
                inline=inline,
                step_position=request.step_position,
            )
    return True


def request_mark_undeliverable(
    *, request: ConfirmationRequest, actor: Actor, reason: str, inline: InlineAdvances | None = None
) -> bool:
    """`inline`: advance the run in this process (see runbooks.services.InlineAdvances)."""
    return _close_and_resume(
        request,
        state=State.UNDELIVERABLE,
        outcome=UNDELIVERABLE,
        kind=kinds.REQUEST_UNDELIVERABLE,
        actor=actor,
        summary=f"Email to {recipient_name(request)} could not be delivered",
        reason=reason,
        inline=inline,
    )


def request_expire(*, request: ConfirmationRequest) -> bool:
    """The deadline is also what bounds the retries of a send the provider keeps putting
    off: the question ends as unanswered, and the timeline says the email never went."""
    reason = f"Deadline was {timezone.localtime(request.deadline_at):%Y-%m-%d %H:%M %Z}."
    if request.state == State.PENDING and request.send_deferrals:
        reason += (
            f" The email was never accepted by the provider: put off {request.send_deferrals}"
            f" times ({request.last_error})"
        )
    return _close_and_resume(
        request,
        state=State.NO_ANSWER,
        outcome=NO_ANSWER_OUTCOME,
        kind=kinds.REQUEST_EXPIRED,
        actor=Actor.system("Deadline"),
        summary=f"No answer from {recipient_name(request)} by the deadline",
        reason=reason,
    )


def request_end_now(*, request: ConfirmationRequest, actor: Actor, reason: str) -> bool:
    """An analyst ends the question before its deadline: as if the deadline had passed,
    the run moves on its "no answer" branch."""
    return _close_and_resume(
        request,
        state=State.NO_ANSWER,
        outcome=NO_ANSWER_OUTCOME,
        kind=kinds.REQUEST_ENDED,
        actor=actor,
        summary=f"Question to {recipient_name(request)} ended as no answer by {actor.name}",
        reason=reason,
    )


def request_cancel(*, request: ConfirmationRequest, actor: Actor, reason: str) -> bool:
    """Close an open request without resuming anything (its links stop working)."""
    return _close_and_resume(
        request,
        state=State.CANCELLED,
        outcome="",
        kind=kinds.REQUEST_CANCELLED,
        actor=actor,
        summary=f"Question to {recipient_name(request)} withdrawn",
        reason=reason,
    )


def requests_cancel_for_incident(*, incident: SecurityIncident, actor: Actor, reason: str) -> int:
    requests = ConfirmationRequest.objects.filter(incident=incident, state__in=OPEN_STATES)
    return sum(request_cancel(request=r, actor=actor, reason=reason) for r in requests)
