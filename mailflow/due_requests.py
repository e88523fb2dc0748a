"""The schedule's work on confirmation requests (mailflow.tasks.process_due_requests):
send each reminder when it is due, expire requests past their deadline, and send
again what a lost enqueue left pending (a question, or an email to send again)."""

import time
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from core.enqueue import async_task
from incidents.timeline import timeline_record
from mailflow import timeline_kinds as kinds
from mailflow.acknowledgements import acknowledgements_lost
from mailflow.emails import build_request_email
from mailflow.models import OPEN_STATES, ConfirmationRequest
from mailflow.pacing import send_slot_wait
from mailflow.reminder_schedule import next_reminder, reminders_total
from mailflow.request_actions import resent_emails_lost
from mailflow.request_lifecycle import State, recipient_name, request_expire
from mailflow.send_errors import SendFailure, error_text, send_failure_kind
from mailflow.sending import MAILER, SEND_BATCH_SECONDS, SEND_LEASE, sendable


def request_remind(request_id: int) -> bool:
    """Send the next reminder. Claimed by a conditional update on the count sent, so each
    goes out once however many workers try, and never once the question closed."""
    open_to_remind = ConfirmationRequest.objects.filter(
        pk=request_id, state__in=[State.SENT, State.DELIVERED]
    )
    row = open_to_remind.values("reminders_sent", "reminders_planned", "remind_at").first()
    if row is None:
        return False
    sent = row["reminders_sent"]
    planned = [datetime.fromisoformat(at) for at in row["reminders_planned"] or []]
    # The count claims the reminder; the time read with it makes sure nobody moved the
    # plan in between (an extended deadline, a return from leave).
    as_read = {"remind_at": row["remind_at"]} if row["remind_at"] else {"remind_at__isnull": True}
    claimed = open_to_remind.filter(reminders_sent=sent, **as_read).update(
        reminders_sent=sent + 1, remind_at=next_reminder(planned, sent + 1)
    )
    if not claimed:
        return False
    request = ConfirmationRequest.objects.select_related("incident", "person").get(pk=request_id)
    # Given back only if nobody moved the schedule on since.
    unclaimed = ConfirmationRequest.objects.filter(pk=request_id, reminders_sent=sent + 1)
    if not send_slot_wait().taken:
        unclaimed.update(reminders_sent=sent, remind_at=row["remind_at"])  # the next round
        return False
    try:
        build_request_email(request, reminder=True).send()
    except Exception as error:
        later = send_failure_kind(error) is SendFailure.LATER
        # Put off by the provider: the schedule's next round tries again. Otherwise the
        # question itself went out, so this reminder is not worth more tries.
        fields = {"reminders_sent": sent, "remind_at": row["remind_at"]} if later else {}
        unclaimed.update(
            **fields, last_error=f"Reminder: {type(error).__name__}: {error_text(error)}"[:2000]
        )
        return False
    number, total = sent + 1, reminders_total(request)
    which = f"Reminder {number} of {total}" if total > 1 else "Reminder"
    with transaction.atomic():
        timeline_record(
            incident=request.incident,
            task=request.task,
            kind=kinds.REQUEST_REMINDED,
            actor=MAILER,
            summary=f"{which} sent to {recipient_name(request)}",
            data={"request": request.pk, "reminder": number, "of": total},
        )
    return True


def requests_process_due(now: datetime | None = None) -> tuple[int, int]:
    """The schedule's work: send due reminders, expire requests past their deadline.
    Returns (reminded, expired)."""
    now = now or timezone.now()
    open_requests = ConfirmationRequest.objects.filter(state__in=OPEN_STATES)
    expired = 0
    for request in open_requests.filter(deadline_at__lte=now):
        expired += request_expire(request=request)
    reminded = 0
    due = open_requests.filter(remind_at__lte=now, deadline_at__gt=now)
    began = time.monotonic()
    for request_id in due.values_list("pk", flat=True):
        # Paced by EMAIL_SEND_RATE, many reminders take long: the rest wait for the next
        # round rather than this task outliving its timeout.
        if time.monotonic() - began > SEND_BATCH_SECONDS:
            break
        reminded += request_remind(request_id)
    _enqueue_lost_sends(now)
    return reminded, expired


def _enqueue_lost_sends(now: datetime) -> None:
    """Requests still pending long after they were created, with no send in progress and
    no retry planned: their enqueue after commit was lost (or a batch's worker died).
    Sending claims the request, so one enqueued twice is still sent once."""
    lost = sendable(now).filter(send_attempts=0, created_at__lt=now - SEND_LEASE)
    # (A request put off by the provider has send_attempts=0 too: its retry time is its
    # lease, so it is only picked up here once that has passed without a send.)
    lost = lost.values_list("pk", flat=True)
    for request_id in lost[:1000]:
        async_task("mailflow.tasks.send_request", request_id)
    for resent_id in resent_emails_lost(now):
        async_task("mailflow.tasks.send_again", resent_id)
    for answer_id in acknowledgements_lost(now):
        async_task("mailflow.tasks.acknowledge_answer", answer_id)
