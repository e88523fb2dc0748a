"""What an analyst does with a question still waiting for its answer: withdraw it, send it
again, extend its deadline, or end it now as "no answer". Each locks the request first and
refuses, saying why, when its state does not allow the action, so a second click (or a
click on a page that is out of date) changes nothing."""

import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.actors import Actor
from core.enqueue import enqueue_on_commit, run_once_at
from core.errors import DomainError
from incidents.timeline import timeline_record
from mailflow import timeline_kinds as kinds
from mailflow.emails import build_request_email
from mailflow.models import OPEN_STATES, ConfirmationRequest, ResentEmail
from mailflow.pacing import send_slot_wait
from mailflow.reminder_schedule import reminders_planned, reminders_replan
from mailflow.request_lifecycle import (
    State,
    lock_request,
    recipient_name,
    request_cancel,
    request_end_now,
)
from mailflow.send_errors import SendFailure, error_text, send_failure_kind
from mailflow.sending import MAILER, SEND_LEASE, new_message_id

# Between two "send again" of one question: a double click, or two analysts on the same
# incident, send one email.
RESEND_PAUSE = timedelta(minutes=2)
# Failed attempts at sending it again before giving up (the provider putting it off is
# retried until the question closes, uncounted, as for the first email).
MAX_RESEND_ATTEMPTS = 3
# A new deadline this close to the current one is the same click again.
SAME_DEADLINE = timedelta(minutes=1)
LONGEST_EXTENSION = timedelta(days=30)


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M %Z}"


def why_closed(request: ConfirmationRequest) -> str:
    """Why a question takes no more actions, in the analyst's words."""
    return {
        State.ANSWERED: f"{recipient_name(request)} already answered this question",
        State.NO_ANSWER: "This question already ended without an answer",
        State.UNDELIVERABLE: "The email could not be delivered, so this question is closed",
        State.CANCELLED: "This question was withdrawn",
        State.OUT_OF_OFFICE: f"{recipient_name(request)} is away for longer than the step "
        "waits, so this question is closed",
    }.get(request.state, f"This question is {request.get_state_display().lower()}")


def _refuse_unless_open(request: ConfirmationRequest, doing: str) -> None:
    if request.state not in OPEN_STATES:
        raise DomainError(f"{why_closed(request)}: it cannot be {doing}. Nothing changed.")


def request_withdraw(*, request: ConfirmationRequest, actor: Actor, reason: str = "") -> None:
    """Withdraw the question (request_cancel): its links stop working and the run keeps
    waiting, as when an incident closes; the analyst decides what follows."""
    reason = reason.strip()[:2000] or f"Withdrawn by {actor.name}."
    if not request_cancel(request=request, actor=actor, reason=reason):
        request.refresh_from_db(fields=["state"])
        raise DomainError(f"{why_closed(request)}: nothing changed.")


def request_end_as_no_answer(
    *, request: ConfirmationRequest, actor: Actor, reason: str = ""
) -> None:
    """End the question now, before its deadline: the run takes its "no answer" branch."""
    reason = reason.strip()[:2000] or f"Ended before the deadline by {actor.name}."
    if not request_end_now(request=request, actor=actor, reason=reason):
        request.refresh_from_db(fields=["state"])
        raise DomainError(f"{why_closed(request)}: nothing changed.")


def request_extend_deadline(
    *, request: ConfirmationRequest, actor: Actor, deadline_at: datetime
) -> ConfirmationRequest:
    """Move the deadline later. The reminders keep their lead on the deadline: those not
    yet sent move with it; when all went, the last is sent once more before the new
    deadline."""
    now = timezone.now()
    with transaction.atomic():
        request = lock_request(request.pk)
        _refuse_unless_open(request, "extended")
        previous = request.deadline_at
        if abs(deadline_at - previous) < SAME_DEADLINE:
            raise DomainError(f"The deadline is already {_local(previous)}: nothing changed.")
        if deadline_at <= now:
            raise DomainError("The new deadline must be in the future.")
        if deadline_at < previous:
            raise DomainError(
                f"The new deadline must be later than the current one, {_local(previous)}."
            )
        if deadline_at > now + LONGEST_EXTENSION:
            raise DomainError(
                f"The new deadline can be at most {LONGEST_EXTENSION.days} days from now."
            )
        fields = ["deadline_at", *_reminders_follow(request, previous, deadline_at)]
        reminder = _reminders_told(request, now)
        request.deadline_at = deadline_at
        request.save(update_fields=fields)
        timeline_record(
            incident=request.incident,
            task=request.task,
            kind=kinds.REQUEST_DEADLINE_EXTENDED,
            actor=actor,
            summary=(
                f"Deadline for {recipient_name(request)}'s answer extended to {_local(deadline_at)}"
            ),
            body=f"It was {_local(previous)}. {reminder}",
            data={
                "request": request.pk,
                "deadline": deadline_at.isoformat(),
                "previous_deadline": previous.isoformat(),
            },
        )
    return request


def _reminders_follow(
    request: ConfirmationRequest, previous: datetime, deadline_at: datetime
) -> list[str]:
    planned = reminders_planned(request)
    if not planned:
        return []
    shift = deadline_at - previous
    pending = [at + shift for at in planned[request.reminders_sent :]]
    if not pending and planned[-1] + shift > timezone.now():
        # All went: the last one's lead on the new deadline gives one more.
        pending = [planned[-1] + shift]
    return reminders_replan(request, [at for at in pending if at < deadline_at])


def _reminders_told(request: ConfirmationRequest, now: datetime) -> str:
    times = reminders_planned(request)[request.reminders_sent :]
    if not times:
        if request.reminders_sent:
            return "The reminders were sent already."
        return "No reminder is planned."
    told = ", ".join(_local(max(at, now)) for at in times)
    return f"The reminder goes at {told}." if len(times) == 1 else f"Reminders go at {told}."


def request_send_again(*, request: ConfirmationRequest, actor: Actor) -> ResentEmail:
    """Email the question again, after commit (resent_email_send): the same links and
    reply address under a new Message-ID, so an answer to either email counts."""
    now = timezone.now()
    with transaction.atomic():
        request = lock_request(request.pk)
        _refuse_unless_open(request, "sent again")
        if request.state == State.PENDING:
            raise DomainError(
                "The email has not gone out yet: it is sent as soon as the provider takes "
                "it. Nothing changed."
            )
        if not request.recipient_email:
            raise DomainError("The person asked has no email address: nothing was sent.")
        last = request.resent_emails.order_by("-created_at", "-id").first()
        if last and not last.sent_at and not last.failed:
            raise DomainError(
                f"It is already being sent again (asked at {_local(last.created_at)}): "
                "nothing changed."
            )
        if last and last.created_at > now - RESEND_PAUSE:
            raise DomainError(
                f"It was sent again at {_local(last.created_at)}; it can be sent again "
                f"from {_local(last.created_at + RESEND_PAUSE)}. Nothing changed."
            )
        resent = ResentEmail.objects.create(
            request=request,
            message_id=new_message_id(),
            requested_by=actor.user,
            created_at=now,
        )
        timeline_record(
            incident=request.incident,
            task=request.task,
            kind=kinds.REQUEST_RESENT,
            actor=actor,
            summary=f"Question to {recipient_name(request)} to be sent again",
            body="The same links and reply address, in a new email: an answer to either counts.",
            data={"request": request.pk, "message_id": resent.message_id},
        )
        enqueue_on_commit("mailflow.tasks.send_again", resent.pk)
    return resent


def resent_email_send(resent_id: int) -> bool:
    """Send the email again, once: claimed with a lease, so a task run twice (or the
    sweeper's copy) sends one email. Paced by EMAIL_SEND_RATE like every email; the
    provider putting it off, or no sending slot soon, retries later."""
    now = timezone.now()
    claimable = Q(send_lease_until__isnull=True) | Q(send_lease_until__lt=now)
    claimed = (
        ResentEmail.objects.filter(claimable, pk=resent_id, sent_at__isnull=True, failed=False)
        .update(send_lease_until=now + SEND_LEASE)
    )  # fmt: skip
    if not claimed:
        return False
    resent = ResentEmail.objects.select_related(
        "request__incident", "request__person", "request__task"
    ).get(pk=resent_id)
    request = resent.request
    if request.state not in OPEN_STATES:
        _give_up(resent, f"{why_closed(request)} before it went out again.")
        return False
    slot = send_slot_wait()
    if not slot.taken:
        _retry_later(resent, timedelta(seconds=slot.wait))
        return False
    message = build_request_email(request, message_id=resent.message_id)
    try:
        message.send()
    except Exception as error:
        failure = send_failure_kind(error)
        if failure is not SendFailure.LATER:  # put off by the provider: not an attempt
            resent.attempts += 1
        resent.last_error = f"{type(error).__name__}: {error_text(error)}"[:2000]
        resent.save(update_fields=["attempts", "last_error"])
        if failure is SendFailure.REFUSED or resent.attempts >= MAX_RESEND_ATTEMPTS:
            _give_up(resent, f"The provider did not take it: {resent.last_error}")
        else:
            _retry_later(resent, timedelta(minutes=2**resent.attempts))
        return False
    status = getattr(message, "anymail_status", None)
    with transaction.atomic():
        ResentEmail.objects.filter(pk=resent.pk).update(
            sent_at=timezone.now(),
            send_lease_until=None,
            provider_message_id=(getattr(status, "message_id", None) or "")[:250],
        )
        timeline_record(
            incident=request.incident,
            task=request.task,
            kind=kinds.REQUEST_SENT,
            actor=MAILER,
            summary=f"Email sent again to {recipient_name(request)}: {message.subject}",
            data={"request": request.pk, "message_id": resent.message_id},
        )
    return True


def _retry_later(resent: ResentEmail, wait: timedelta) -> None:
    at = timezone.now() + wait
    # The lease holds until the retry, so the sweeper does not send it earlier.
    ResentEmail.objects.filter(pk=resent.pk).update(send_lease_until=at)
    run_once_at(
        "mailflow.tasks.send_again",
        resent.pk,
        # Unique: a retry for want of a sending slot keeps the attempt count.
        name=f"Send request {resent.request_id} again ({resent.pk}, {secrets.token_hex(4)})",
        at=at,
    )


def _give_up(resent: ResentEmail, why: str) -> None:
    request = resent.request
    with transaction.atomic():
        ResentEmail.objects.filter(pk=resent.pk).update(
            failed=True, send_lease_until=None, last_error=why[:2000]
        )
        timeline_record(
            incident=request.incident,
            task=request.task,
            kind=kinds.REQUEST_RESEND_FAILED,
            actor=MAILER,
            summary=f"Question to {recipient_name(request)} not sent again",
            body=why,
            data={"request": request.pk, "message_id": resent.message_id},
        )


def resent_emails_lost(now: datetime) -> list[int]:
    """Emails to send again whose task was lost (the enqueue after commit, a worker):
    not sent, not given up, and no lease or retry pending."""
    lost = ResentEmail.objects.filter(
        Q(send_lease_until__isnull=True) | Q(send_lease_until__lt=now),
        sent_at__isnull=True,
        failed=False,
        created_at__lt=now - SEND_LEASE,
        request__state__in=OPEN_STATES,
    )
    return list(lost.values_list("pk", flat=True)[:1000])
