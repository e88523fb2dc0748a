"""Approvals: runbooks' ask_approval carried out by email, and a staff approver's vote on
the incident page.

Each approver has a seat: a confirmation request of its own (own tokens, email, answer
page and reply address), so votes come in through the same scanner-proof page and reply
handling as answers (answer_record), and mailflow.approval_tally decides.
"""

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from core.actors import Actor
from core.errors import DomainError
from incidents.models import SecurityIncident
from incidents.timeline import timeline_record
from mailflow import approval_kinds as kinds
from mailflow.answers import answer_record
from mailflow.approval_tally import VOTE_OPTIONS, seat_name, vote_options
from mailflow.approvers import Approver, approvers_resolve
from mailflow.models import Answer, ConfirmationRequest
from mailflow.sending import request_create
from runbooks import approval_action as generic
from runbooks.actions import StepContext, StepOutcome, wait_for_answer
from runbooks.outcomes import NO_TARGET
from runbooks.translations import person_language

DEFAULT_DEADLINE_HOURS = 24


def _ask_approvers(ctx: StepContext) -> StepOutcome:
    """1. Read the approvers (a group's members as of now); nobody: `no_target` at once.
    2. Check the quorum against them: more approvals needed than approvers is a mistake
       in the runbook, and the step fails with a task saying so.
    3. One request per approver (re-running the step finds them, asks nobody twice).
    """
    params, run = ctx.params, ctx.run
    approvers, missing = approvers_resolve(params["approvers"], run.asked_person)
    question = ctx.render(params["question"])
    if not approvers:
        timeline_record(
            incident=ctx.incident,
            kind=kinds.APPROVAL_ASKED,
            actor=ctx.actor,
            summary=f"Nobody to ask for approval: {question}",
            body="\n".join(missing),
            data={"run": run.pk, "position": run.position},
        )
        return StepOutcome(
            detail="No approver found",
            context={"outcome": NO_TARGET, "answer_label": "nobody to ask", "answer_channel": ""},
        )
    quorum = params.get("quorum") or len(approvers)
    if quorum > len(approvers):
        raise DomainError(
            f"The step needs {quorum} approvals but found {len(approvers)} approver(s): "
            "lower the number of approvals needed or name more approvers."
        )
    deadline = timedelta(hours=params.get("deadline_hours") or DEFAULT_DEADLINE_HOURS)
    requests = [_ask_one(ctx, approver, seat, deadline) for seat, approver in enumerate(approvers)]
    names = ", ".join(a.name for a in approvers)
    timeline_record(
        incident=ctx.incident,
        kind=kinds.APPROVAL_ASKED,
        actor=ctx.actor,
        summary=f"Approval asked of {names} ({quorum} of {len(approvers)} needed): {question}",
        body="\n".join(f"Not asked: {why}." for why in missing),
        data={
            "run": run.pk,
            "position": run.position,
            "requests": [r.pk for r in requests],
            "quorum": quorum,
        },
    )
    outcome = wait_for_answer(ctx)
    outcome.detail = f"Approval asked of {len(requests)} approver(s), {quorum} needed"
    return outcome


def _ask_one(
    ctx: StepContext, approver: Approver, seat: int, deadline: timedelta
) -> ConfirmationRequest:
    """One approver's request, its texts in their language (else the runbook's)."""
    params = ctx.params
    language = person_language(approver.language, ctx.language)
    return request_create(
        actor=ctx.actor,
        run=ctx.run,
        step_position=ctx.run.position,
        incident=ctx.incident,
        task=None,
        question=ctx.render(params["question"], language),
        options=vote_options(language),
        subject=ctx.render(params.get("subject") or params["question"], language),
        body=ctx.render(params.get("body") or "", language),
        deadline_after=deadline,
        batch=ctx.batch,
        approver=approver,
        seat=seat,
        language=language,
    )


ask_approval = generic.ask_approval.run_by(_ask_approvers)


# --- a staff approver on the incident page ----------------------------------------------


def open_approvals(incident: SecurityIncident) -> QuerySet[ConfirmationRequest]:
    return (
        ConfirmationRequest.objects.filter(
            incident=incident, kind=ConfirmationRequest.Kind.APPROVAL
        )
        .select_related("person", "approver_user", "run")
        .prefetch_related("answers")
        .order_by("run_id", "step_position", "seat")
    )


def may_vote(user: AbstractBaseUser, request: ConfirmationRequest) -> bool:
    """Only the approver of that seat, signed in with their own account, and while open."""
    return (
        request.kind == ConfirmationRequest.Kind.APPROVAL
        and request.is_open
        and request.approver_user_id is not None
        and request.approver_user_id == user.pk
        and user.is_active
    )


def approval_vote_in_admin(
    *, user: AbstractBaseUser, request: ConfirmationRequest, vote: str
) -> Answer:
    """A staff approver approves or denies on the incident page: recorded as their answer
    through the incident page channel, with them as the actor. Raises DomainError for
    anyone but the seat's approver, a settled seat or an unknown vote."""
    if vote not in {o["key"] for o in VOTE_OPTIONS}:
        raise DomainError("Approve or deny.")
    if not may_vote(user, request):
        raise DomainError("Only the approver asked may vote here, while the approval is open.")
    actor = Actor.analyst(user)
    return answer_record(
        request=request,
        option_key=vote,
        channel=Answer.Channel.ADMIN,
        sender=seat_name(request),
        voter=actor,
    )
