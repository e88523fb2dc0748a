"""The tally of an ask_approval step: after each vote, or a seat closing without one, decide
whether the approval is settled, and if so move the run on exactly once.

Every path to it holds the run's row lock, taken before the request's (answers.py,
request_lifecycle.py): two approvers voting at once are tallied one after the other, each
seeing the other's vote, and never wait on each other's locks in opposite order.

Decided (the vote keys are approve / deny; the run's outcome approved / denied):
- approvals >= quorum: approved;
- denials leave fewer seats than the quorum: denied;
- the seats left open cannot reach the quorum (deadline, bounces, unreadable replies):
  undeliverable when every seat that did not vote bounced, else no_answer.
Once decided, the other open seats are closed, so nobody votes on a settled question; a
vote after that is recorded as late and changes nothing.
"""

from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_noop

from core.actors import Actor
from incidents.timeline import timeline_record
from mailflow import approval_kinds as kinds
from mailflow import timeline_kinds as mail_kinds
from mailflow.models import OPEN_STATES, Answer, ConfirmationRequest
from runbooks.approval_action import APPROVED, DENIED
from runbooks.models import RunbookRun
from runbooks.outcomes import NO_ANSWER, UNDELIVERABLE
from runbooks.services import InlineAdvances, enqueue_advance, run_resume

APPROVE, DENY = "approve", "deny"
# What each approver is asked; the run's outcomes are runbooks.approval_action's.
VOTE_OPTIONS = [
    {"key": APPROVE, "label": gettext_noop("Approve")},
    {"key": DENY, "label": gettext_noop("Deny")},
]
State = ConfirmationRequest.State
Kind = ConfirmationRequest.Kind
VOTED = {APPROVE: "approved", DENY: "denied"}


def vote_options(language: str) -> list[dict[str, str]]:
    """The options as an approver reads them: labels in their language (stored so on their
    request, for its email, page and acknowledgement); the keys stay approve / deny."""
    with translation.override(language):
        return [{**option, "label": gettext(option["label"])} for option in VOTE_OPTIONS]


def lock_run_of(request: ConfirmationRequest) -> None:
    """Take the run's lock before the request's, for an approval (the order every
    approval path takes; a question needs no more than its own row). Call inside a
    transaction.

    An advance that finds a running run locked leaves it to the lock's holder
    (runbooks.services): holding it, this transaction advances it once it commits, or a
    vote arriving just after the decision would leave the decided run standing."""
    if request.kind != Kind.APPROVAL:
        return
    run = (
        RunbookRun.objects.select_for_update(of=("self",))
        .filter(pk=request.run_id)
        .only("state")
        .first()
    )
    if run is not None and run.state == RunbookRun.State.RUNNING:
        enqueue_advance(run.pk)


def seat_name(request: ConfirmationRequest) -> str:
    if request.person:
        return request.person.full_name
    if request.approver_user:
        return request.approver_user.get_full_name() or request.approver_user.get_username()
    return "an approver"


def step_quorum(run: RunbookRun, position: int, seats: int) -> int:
    """How many approvals the step needs: its quorum, or (0) every one of its seats."""
    wanted = (run.steps[position]["params"].get("quorum") or 0) if position < len(run.steps) else 0
    return min(wanted or seats, seats)


def _decision(seats: list[ConfirmationRequest], votes: dict[int, str], quorum: int) -> str | None:
    approvals = sum(1 for v in votes.values() if v == APPROVE)
    denials = sum(1 for v in votes.values() if v == DENY)
    still_open = sum(1 for s in seats if s.state in OPEN_STATES)
    if approvals >= quorum:
        return APPROVED
    if len(seats) - denials < quorum:
        return DENIED
    if approvals + still_open < quorum:
        silent = [s for s in seats if s.pk not in votes]
        bounced = all(s.state == State.UNDELIVERABLE for s in silent)
        return UNDELIVERABLE if silent and bounced else NO_ANSWER
    return None


def approval_tally(
    *,
    request: ConfirmationRequest,
    actor: Actor,
    vote: Answer | None = None,
    inline: InlineAdvances | None = None,
) -> str | None:
    """Count the votes of the step `request` is a seat of, after its vote (`vote`, just
    counted) or after it closed without one; settle it when decided. Call inside the
    transaction that changed the seat, with the run locked first (lock_run_of). Returns
    the decision made now, or None."""
    run = RunbookRun.objects.select_related("incident").get(pk=request.run_id)
    position = request.step_position
    seats = list(
        ConfirmationRequest.objects.filter(run=run, step_position=position, kind=Kind.APPROVAL)
        .select_related("person", "approver_user")
        .order_by("seat")
    )
    votes = dict(
        Answer.objects.filter(
            request__in=seats, counted=True, option_key__in=(APPROVE, DENY)
        ).values_list("request_id", "option_key")
    )
    quorum = step_quorum(run, position, len(seats))
    counts = {
        "approvals": sum(1 for v in votes.values() if v == APPROVE),
        "denials": sum(1 for v in votes.values() if v == DENY),
        "quorum": quorum,
    }
    # The step is undecided while its run still waits on it.
    undecided = run.state == RunbookRun.State.WAITING and run.position == position + 1
    if vote is not None:
        _record_vote(request, vote, counts, actor, late=not undecided)
    if not undecided:
        return None
    decision = _decision(seats, votes, quorum)
    if decision is None:
        return None
    _close_open_seats(seats, run, actor, decision)
    label = {APPROVED: "approved", DENIED: "denied"}.get(decision, decision.replace("_", " "))
    timeline_record(
        incident=run.incident,
        kind=kinds.APPROVAL_DECIDED,
        actor=actor,
        summary=f"Approval {label}: {request.question}",
        body=f"{counts['approvals']} approved, {counts['denials']} denied, "
        f"{quorum} of {len(seats)} needed.",
        data={"run": run.pk, "position": position, "outcome": decision, **counts},
    )
    run_resume(
        run=run,
        outcome=decision,
        actor=actor,
        channel=CHANNEL_WORDS.get(vote.channel, "") if vote else "",
        inline=inline,
    )
    return decision


CHANNEL_WORDS = {"page": "answer page", "email_reply": "email reply", "admin": "incident page"}


def _record_vote(
    request: ConfirmationRequest, vote: Answer, counts: dict, actor: Actor, *, late: bool
) -> None:
    """The vote on the timeline, "Ana approved (2 of 3 needed) by answer page". One that
    arrives after the decision (a seat the decision could not close at that moment)
    stays, not counted: late."""
    who = seat_name(request)
    via = CHANNEL_WORDS.get(vote.channel, vote.channel)
    what = VOTED.get(vote.option_key, f"answered “{request.label_of(vote.option_key)}”")
    if late:
        Answer.objects.filter(pk=vote.pk).update(counted=False, late=True)
        vote.counted, vote.late = False, True
        summary = f"{who} {what} by {via} after the approval was decided: changes nothing"
    elif vote.option_key in VOTED:
        summary = (
            f"{who} {what} ({counts['approvals']} of {counts['quorum']} approvals needed) by {via}"
        )
    else:
        summary = f"{who} {what} by {via}: not a vote"
    details = f"Received {timezone.localtime(vote.received_at):%Y-%m-%d %H:%M:%S %Z}."
    if vote.comment:
        details += f"\nComment: {vote.comment}"
    timeline_record(
        incident=request.incident,
        task=request.task,
        kind=kinds.APPROVAL_VOTED,
        actor=actor,
        summary=summary,
        body=details,
        data={
            "request": request.pk,
            "answer": vote.pk,
            "option": vote.option_key,
            "channel": vote.channel,
            "flags": vote.flags,
            **counts,
        },
    )


def _close_open_seats(
    seats: list[ConfirmationRequest], run: RunbookRun, actor: Actor, decision: str
) -> None:
    """Close the seats still open: the question is settled. A seat another transaction
    holds at this moment is left to it (it tallies after this commits and finds the
    approval decided), so this never waits on a lock held in the opposite order."""
    open_ids = [s.pk for s in seats if s.state in OPEN_STATES]
    if not open_ids:
        return
    free = list(
        ConfirmationRequest.objects.select_for_update(of=("self",), skip_locked=True)
        .filter(pk__in=open_ids, state__in=OPEN_STATES)
        .values_list("pk", flat=True)
    )
    ConfirmationRequest.objects.filter(pk__in=free).update(
        state=State.CANCELLED, send_lease_until=None
    )
    for seat in seats:
        if seat.pk in free:
            seat.state = State.CANCELLED
            timeline_record(
                incident=run.incident,
                task=seat.task,
                kind=mail_kinds.REQUEST_CANCELLED,
                actor=actor,
                summary=f"Approval request to {seat_name(seat)} closed: already {decision}",
                body="The approval was decided; their links and replies no longer count.",
                data={"request": seat.pk},
            )
