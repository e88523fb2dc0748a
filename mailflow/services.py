"""Confirmation requests and answers. `answer_record` is the one entry both the answer page
and the email path use; it resumes the runbook exactly once."""

import hashlib
import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from core.actors import Actor
from core.enqueue import async_task, enqueue_on_commit, run_once_at
from core.errors import DomainError
from incidents.models import Evidence, ResponseTask, SecurityIncident
from incidents.services import evidence_add, task_create
from incidents.timeline import timeline_record
from mailflow import timeline_kinds as kinds
from mailflow.emails import build_request_email
from mailflow.models import Answer, ConfirmationRequest
from mailflow.pacing import send_slot_wait
from mailflow.send_errors import (
    SendFailure,
    describe_send_failure,
    error_text,
    send_failure_kind,
)
from mailflow.tokens import new_nonce, page_token, reply_token, token_digest
from runbooks.actions import NO_ANSWER as NO_ANSWER_OUTCOME
from runbooks.actions import SUSPICIOUS, UNDELIVERABLE, UNRECOGNISED, Batch
from runbooks.models import RunbookRun
from runbooks.services import InlineAdvances, run_resume

logger = logging.getLogger(__name__)

State = ConfirmationRequest.State
OPEN_STATES = (State.PENDING, State.SENT, State.DELIVERED)
MAX_SEND_ATTEMPTS = 4
SEND_LEASE = timedelta(minutes=5)
# A send the provider put off ("later": throttled, down) is retried after 5 s, 10 s, 20 s
# … up to 10 minutes, each with jitter so that thousands put off together do not all come
# back at the same moment. It is bounded by the question's deadline, not by a count.
DEFER_FIRST = timedelta(seconds=5)
DEFER_MAX = timedelta(minutes=10)
# At most one timeline entry per incident this often about sends put off, however many
# people a throttled campaign asks.
DEFER_NOTE_EVERY = timedelta(minutes=15)
# A send the provider put off is tried again at once this many times, after a pause of
# THROTTLED_PAUSE seconds (least, most; twice that before the second), before it is
# scheduled for later: a throttled moment usually passes within a second.
QUICK_RETRIES = 2
THROTTLED_PAUSE = (0.5, 1.5)
# A batch stops taking slots after this long and hands the rest to a new task, far inside
# django-q2's task timeout however low the send rate.
SEND_BATCH_SECONDS = 60.0
MAILER = Actor.system("Mailer")
# Default of ANSWER_HELD_TASK_MINUTES: how long an answer held as a possible mail scanner
# waits for an analyst, or the person answering again, before it becomes a task.
HELD_TASK_MINUTES = 60

CHANNEL_LABELS = {Answer.Channel.PAGE: "answer page", Answer.Channel.EMAIL_REPLY: "email reply"}


@dataclass
class UploadedFile:
    """A file that came with an answer, whatever the channel."""

    content: bytes | IO[bytes]
    filename: str
    content_type: str = ""


def _lock(request_id: int) -> ConfirmationRequest:
    return (
        ConfirmationRequest.objects.select_for_update(of=("self",))
        .select_related("incident", "run", "person", "task")
        .get(pk=request_id)
    )


def _message_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def _recipient_name(request: ConfirmationRequest) -> str:
    return request.person.full_name if request.person else "the affected user"


# --- creating and sending ---------------------------------------------------------------


def request_create(
    *,
    actor: Actor,
    run: RunbookRun,
    step_position: int,
    incident: SecurityIncident,
    task: ResponseTask | None,
    question: str,
    options: list[dict],
    subject: str,
    body: str = "",
    evidence_requested: bool = False,
    reminder_after: timedelta | None = None,
    deadline_after: timedelta,
    batch: Batch | None = None,
) -> ConfirmationRequest:
    """Create the request for a run's ask_user step and send it after commit: in a task of
    its own, or, when the run advances in a batch, with the batch's other questions at its
    end (see _send_batch). Asking the same step again returns the existing request."""
    existing = ConfirmationRequest.objects.filter(run=run, step_position=step_position).first()
    if existing:
        return existing
    now = timezone.now()
    person = run.asked_person
    nonce = new_nonce()
    with transaction.atomic():
        request = ConfirmationRequest.objects.create(
            run=run,
            step_position=step_position,
            incident=incident,
            task=task,
            person=person,
            recipient_email=person.email if person else "",
            language=(person.language if person else "en") or "en",
            question=question,
            options=options,
            subject=subject or question,
            body=body,
            evidence_requested=evidence_requested,
            token_nonce=nonce,
            token_hash=token_digest(page_token(nonce)),
            reply_token_hash=token_digest(reply_token(nonce)),
            message_id=f"<{secrets.token_hex(16)}@{_message_domain()}>",
            deadline_at=now + deadline_after,
            remind_at=now + reminder_after if reminder_after else None,
        )
        timeline_record(
            incident=incident,
            task=task,
            kind=kinds.REQUEST_CREATED,
            actor=actor,
            summary=f"Question for {_recipient_name(request)}: {question}",
            body="Options: " + ", ".join(o["label"] for o in options),
            data={"request": request.pk, "deadline": request.deadline_at.isoformat()},
        )
        if batch is not None:
            # Collected once the request commits, so the batch sends only committed ones.
            transaction.on_commit(lambda: batch.defer(_send_batch, request.pk))
        else:
            enqueue_on_commit("mailflow.tasks.send_request", request.pk)
    return request


def _send_batch(request_ids: list[int]) -> None:
    """Send together, through one email connection, the questions a batch of runs created
    (asking everyone a phishing email reached), instead of one task each. A crash before
    the batch ends leaves them pending, and requests_process_due sends them.

    Send here, or, when EMAIL_SEND_RATE paces sending, send the first half here and
    hand the rest to the workers SEND_CHUNK at a time. The half sent here keeps emails
    going while the queue is still full of runs to advance (tasks queued now wait behind
    those); the chunks let the end of a campaign go out at the rate, through every
    worker, rather than at the speed of the one worker that advanced the last runs."""
    if not settings.EMAIL_SEND_RATE or len(request_ids) <= SEND_CHUNK:
        requests_send_batch(request_ids)
        return
    here, rest = request_ids[: len(request_ids) // 2], request_ids[len(request_ids) // 2 :]
    with transaction.atomic():
        for start in range(0, len(rest), SEND_CHUNK):
            enqueue_on_commit("mailflow.tasks.send_requests", rest[start : start + SEND_CHUNK])
    requests_send_batch(here)


# Emails marked sent together (one commit and one timeline entry) when sent in a batch.
# On a crash between the hand-over and that commit these are handed over again, so small.
SEND_CHUNK = 20


def requests_send_batch(request_ids: list[int]) -> None:
    """Send the requests over one connection. They are claimed together, in one commit
    instead of one each (a request another worker holds is left to it), and marked sent
    SEND_CHUNK at a time. Paced by EMAIL_SEND_RATE like single sends; what the rate or the
    time budget leaves unsent is put back for a later task."""
    if not request_ids:
        return
    now = timezone.now()
    with transaction.atomic():
        claimed = list(
            _sendable(now)
            .filter(pk__in=request_ids)
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        ConfirmationRequest.objects.filter(pk__in=claimed).update(send_lease_until=now + SEND_LEASE)
    began = time.monotonic()
    with get_connection() as connection:
        for start in range(0, len(claimed), SEND_CHUNK):
            chunk = list(_for_sending().filter(pk__in=claimed[start : start + SEND_CHUNK]))
            sent: list[_Sent] = []
            for index, request in enumerate(chunk):
                if time.monotonic() - began > SEND_BATCH_SECONDS:
                    outcome: _Sent | _PutBack | _Deferred | None = _PutBack(wait=0.0)
                else:
                    try:
                        outcome = _hand_over(request, connection)
                    except Exception:
                        # The emails the provider took before this failure are recorded,
                        # so the sweeper does not hand them over a second time.
                        _record_sent(sent)
                        raise
                if isinstance(outcome, (_PutBack, _Deferred)):
                    _record_sent(sent)
                    if isinstance(outcome, _PutBack):
                        rest, wait = chunk[index:], outcome.wait
                    else:
                        rest, wait = chunk[index + 1 :], DEFER_FIRST.total_seconds()
                    rest_ids = [r.pk for r in rest] + claimed[start + SEND_CHUNK :]
                    if rest_ids:
                        _put_back(rest_ids, wait)
                    return
                if outcome:
                    sent.append(outcome)
            _record_sent(sent)


def _sendable(now: datetime) -> QuerySet[ConfirmationRequest]:
    """Pending requests no worker holds a send lease on, and not waiting for a retry (a
    retry's time is kept as the lease, so neither a batch nor the sweeper sends early)."""
    return ConfirmationRequest.objects.filter(state=State.PENDING).filter(
        Q(send_lease_until__isnull=True) | Q(send_lease_until__lt=now)
    )


def _for_sending() -> QuerySet[ConfirmationRequest]:
    return ConfirmationRequest.objects.select_related("incident", "person", "task").order_by("pk")


def request_send(request_id: int) -> None:
    """Send the question email once. A worker claims the request with a lease, so two
    workers never both send it. The provider putting it off (throttling, an outage) is
    retried later, uncounted; a refused recipient is undeliverable at once; another error
    is retried with backoff, and after MAX_SEND_ATTEMPTS the request is undeliverable (the
    run takes that branch)."""
    now = timezone.now()
    if not _sendable(now).filter(pk=request_id).update(send_lease_until=now + SEND_LEASE):
        return
    outcome = _hand_over(_for_sending().get(pk=request_id))
    if isinstance(outcome, _PutBack):
        _put_back([request_id], outcome.wait)
    elif isinstance(outcome, _Sent):
        _record_sent([outcome])


@dataclass(frozen=True)
class _Sent:
    request: ConfirmationRequest
    subject: str
    provider_message_id: str


@dataclass(frozen=True)
class _Deferred:
    """Put off by the provider even after quick retries, and scheduled for later: the
    provider is throttling hard, so a batch puts its other emails back too."""


@dataclass(frozen=True)
class _PutBack:
    """Not sent: the next sending slot is `wait` seconds away (or the batch ran out of
    time). Nothing is recorded against the request."""

    wait: float


def _put_back(request_ids: list[int], wait: float) -> None:
    """Release claimed requests for a later task, `wait` seconds from now (with jitter),
    their retry time kept as the lease so nothing sends them earlier."""
    retry_at = timezone.now() + timedelta(seconds=wait * random.uniform(1.0, 1.5))
    with transaction.atomic():
        ConfirmationRequest.objects.filter(pk__in=request_ids, state=State.PENDING).update(
            send_lease_until=retry_at if wait > 0 else None
        )
        if wait <= 0:
            enqueue_on_commit("mailflow.tasks.send_requests", request_ids)
            return
    run_once_at(
        "mailflow.tasks.send_requests",
        request_ids,
        name=f"Send {len(request_ids)} requests from {request_ids[0]} ({secrets.token_hex(4)})",
        at=retry_at,
    )


def _hand_over(
    request: ConfirmationRequest, connection: BaseEmailBackend | None = None
) -> _Sent | _PutBack | _Deferred | None:
    """Hand the claimed request's email to the backend in its sending slot; no slot soon
    gives _PutBack. A send the provider puts off is tried again at once QUICK_RETRIES
    times, after short jittered pauses (a throttled moment passes quickly), then left for
    a scheduled retry (_Deferred). Another failure is recorded (a counted attempt, or
    undeliverable) and gives None."""
    if not request.recipient_email:
        request_mark_undeliverable(
            request=request, actor=MAILER, reason="The affected user has no email address."
        )
        return None
    message = build_request_email(request)
    message.connection = connection
    for tries in range(1 + QUICK_RETRIES):
        slot = send_slot_wait()
        if not slot.taken:
            return _PutBack(wait=slot.wait)
        try:
            message.send()
        except Exception as error:
            kind = send_failure_kind(error)
            if kind is SendFailure.LATER and tries < QUICK_RETRIES:
                time.sleep(random.uniform(*THROTTLED_PAUSE) * (tries + 1))
                continue
            logger.warning("Sending request %s failed: %s", request.pk, type(error).__name__)
            if kind is SendFailure.LATER:
                _record_send_deferred(request.pk, error)
                return _Deferred()
            _record_send_failure(request.pk, error, refused=kind is SendFailure.REFUSED)
            return None
        break
    status = getattr(message, "anymail_status", None)
    return _Sent(request, message.subject, (getattr(status, "message_id", None) or "")[:250])


def _record_sent(sent: list[_Sent]) -> None:
    """Mark the handed-over requests sent, with one timeline entry per incident and task
    (a campaign's batch reads "Emails sent to 20 people", not 20 lines)."""
    if not sent:
        return
    with transaction.atomic():
        for item in sent:
            # A conditional UPDATE, no lock: a request withdrawn while its email was on
            # the way stays withdrawn, yet the email did go out and the timeline says so.
            ConfirmationRequest.objects.filter(pk=item.request.pk).update(
                state=Case(When(state=State.PENDING, then=Value(State.SENT)), default=F("state")),
                sent_at=timezone.now(),
                send_lease_until=None,
                send_attempts=F("send_attempts") + 1,
                provider_message_id=item.provider_message_id,
            )
        groups: dict[tuple[int, int | None], list[_Sent]] = {}
        for item in sent:
            groups.setdefault((item.request.incident_id, item.request.task_id), []).append(item)
        for items in groups.values():
            first = items[0].request
            if len(items) == 1:
                summary = f"Email sent to {_recipient_name(first)}: {items[0].subject}"
                data = {"request": first.pk, "message_id": first.message_id}
            else:
                summary = f"Emails sent to {len(items)} people: {items[0].subject}"
                data = {
                    "requests": [i.request.pk for i in items],
                    "message_ids": [i.request.message_id for i in items],
                }
            timeline_record(
                incident=first.incident,
                task=first.task,
                kind=kinds.REQUEST_SENT,
                actor=MAILER,
                summary=summary,
                body="\n".join(_recipient_name(i.request) for i in items) if len(items) > 1 else "",
                data=data,
            )


def _record_send_failure(request_id: int, error: Exception, *, refused: bool = False) -> None:
    """A failed attempt, retried with backoff until MAX_SEND_ATTEMPTS. When the provider
    `refused` the recipient (an invalid or suppressed address), retrying cannot help, so
    the request is undeliverable now."""
    with transaction.atomic():
        request = _lock(request_id)
        request.send_attempts += 1
        request.last_error = f"{type(error).__name__}: {error_text(error)}"[:2000]
        request.send_lease_until = None
        request.save(update_fields=["send_attempts", "last_error", "send_lease_until"])
        if refused or request.send_attempts >= MAX_SEND_ATTEMPTS:
            request_mark_undeliverable(
                request=request,
                actor=MAILER,
                reason=(
                    f"The provider refused the recipient: {request.last_error}"
                    if refused
                    else f"Sending failed {request.send_attempts} times: {request.last_error}"
                ),
            )
            return
    # Backoff: 1, 2, 4 … minutes. A scheduled retry; the sweeper is the safety net.
    delay = timedelta(minutes=2 ** (request.send_attempts - 1))
    run_once_at(
        "mailflow.tasks.send_request",
        request_id,
        name=f"Retry sending request {request_id} ({request.send_attempts})",
        at=timezone.now() + delay,
    )


def _record_send_deferred(request_id: int, error: Exception) -> None:
    """The provider put the send off: retry later with backoff and jitter, never counted
    as an attempt. The request shows why in last_error; its incident's timeline says so
    once per DEFER_NOTE_EVERY, not once per person and retry."""
    now = timezone.now()
    reason = describe_send_failure(error)
    with transaction.atomic():
        request = _lock(request_id)
        if request.state != State.PENDING:
            return
        request.send_deferrals += 1
        backoff = min(DEFER_FIRST * 2 ** (request.send_deferrals - 1), DEFER_MAX)
        retry_at = now + backoff * random.uniform(0.5, 1.0)
        request.last_error = (
            f"Not sent yet, {reason}. Retry {request.send_deferrals} at "
            f"{timezone.localtime(retry_at):%H:%M:%S %Z}; not counted as a failed attempt."
        )[:2000]
        # The retry's time is kept as the lease: neither a batch nor the sweeper sends it
        # earlier, and the sweeper sends it if the scheduled retry is lost.
        request.send_lease_until = retry_at
        request.save(update_fields=["send_deferrals", "last_error", "send_lease_until"])
        noted = request.incident.timeline.filter(
            kind=kinds.REQUEST_DEFERRED, created_at__gte=now - DEFER_NOTE_EVERY
        ).exists()
        if not noted:
            timeline_record(
                incident=request.incident,
                kind=kinds.REQUEST_DEFERRED,
                actor=MAILER,
                summary=f"Sending put off: {reason}",
                body="The emails not yet accepted are retried with backoff, paced by "
                "EMAIL_SEND_RATE; this never makes a question undeliverable. "
                f"First put off: the email to {_recipient_name(request)}.",
                data={"request": request.pk},
            )
    run_once_at(
        "mailflow.tasks.send_request",
        request_id,
        name=f"Retry sending request {request_id} (later {request.send_deferrals})",
        at=retry_at,
    )


# --- delivery, expiry, cancellation -----------------------------------------------------


def request_mark_delivered(
    *, request: ConfirmationRequest, actor: Actor, at: datetime | None = None
) -> bool:
    with transaction.atomic():
        request = _lock(request.pk)
        if request.state != State.SENT:
            return False
        request.state, request.delivered_at = State.DELIVERED, at or timezone.now()
        request.save(update_fields=["state", "delivered_at"])
        timeline_record(
            incident=request.incident,
            task=request.task,
            kind=kinds.REQUEST_DELIVERED,
            actor=actor,
            summary=f"Email delivered to {_recipient_name(request)}",
            data={"request": request.pk},
        )
    return True


def _close_and_resume(
    request: ConfirmationRequest, *, state: str, outcome: str, kind: str, actor: Actor,
    summary: str, reason: str, inline: InlineAdvances | None = None,
) -> bool:  # fmt: skip
    """Close an open request without an answer and move its run on that branch."""
    with transaction.atomic():
        request = _lock(request.pk)
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
        if outcome:
            run_resume(run=request.run, outcome=outcome, actor=actor, inline=inline)
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
        summary=f"Email to {_recipient_name(request)} could not be delivered",
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
        summary=f"No answer from {_recipient_name(request)} by the deadline",
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
        summary=f"Question to {_recipient_name(request)} withdrawn",
        reason=reason,
    )


def requests_cancel_for_incident(*, incident: SecurityIncident, actor: Actor, reason: str) -> int:
    requests = ConfirmationRequest.objects.filter(incident=incident, state__in=OPEN_STATES)
    return sum(request_cancel(request=r, actor=actor, reason=reason) for r in requests)


# --- reminders and deadlines ------------------------------------------------------------


def request_remind(request_id: int) -> bool:
    """Send the one reminder. Claimed by a conditional update, so it goes out once."""
    claimed = ConfirmationRequest.objects.filter(
        pk=request_id, state__in=[State.SENT, State.DELIVERED], reminders_sent=0
    ).update(reminders_sent=1)
    if not claimed:
        return False
    request = ConfirmationRequest.objects.select_related("incident", "person").get(pk=request_id)
    unclaimed = ConfirmationRequest.objects.filter(pk=request_id, reminders_sent=1)
    if not send_slot_wait().taken:
        unclaimed.update(reminders_sent=0)  # the schedule's next round sends it
        return False
    try:
        build_request_email(request, reminder=True).send()
    except Exception as error:
        later = send_failure_kind(error) is SendFailure.LATER
        # Put off by the provider: the schedule's next round tries again. Otherwise the
        # question itself went out, so the reminder is not worth more tries.
        unclaimed.update(
            reminders_sent=0 if later else 1,
            last_error=f"Reminder: {type(error).__name__}: {error_text(error)}"[:2000],
        )
        return False
    with transaction.atomic():
        timeline_record(
            incident=request.incident,
            task=request.task,
            kind=kinds.REQUEST_REMINDED,
            actor=MAILER,
            summary=f"Reminder sent to {_recipient_name(request)}",
            data={"request": request.pk},
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
    due = open_requests.filter(remind_at__lte=now, reminders_sent=0, deadline_at__gt=now)
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
    lost = _sendable(now).filter(send_attempts=0, created_at__lt=now - SEND_LEASE)
    # (A request put off by the provider has send_attempts=0 too: its retry time is its
    # lease, so it is only picked up here once that has passed without a send.)
    lost = lost.values_list("pk", flat=True)
    for request_id in lost[:1000]:
        async_task("mailflow.tasks.send_request", request_id)


# --- answers ----------------------------------------------------------------------------


def answer_record(
    *,
    request: ConfirmationRequest,
    option_key: str,
    channel: str,
    sender: str = "",
    comment: str = "",
    from_recipient: bool = True,
    sender_mismatch: bool = False,
    suspected_automated: bool = False,
    ip_hash: str = "",
    user_agent: str = "",
    files: list[UploadedFile] | None = None,
    provenance: dict | None = None,
    accepted_by: Actor | None = None,
    inline: InlineAdvances | None = None,
) -> Answer:
    """Record an answer, from the page or an email reply, and decide what it means:

    1. The same answer again (double click, back button, reply after clicking): no new
       answer; a new comment or new files are added to the incident as more information.
    2. Flagged (suspected automated, sender mismatch): stored and shown, never resumes.
       One held as a possible scanner is checked again later (mailflow.held_answers).
    3. A different answer after one was counted: stored as a revision, an analyst told.
    4. After the request closed (deadline, cancelled, undeliverable): stored as late.
    5. Otherwise it is *the* answer: the request is answered and the run resumes.
    Files are filed as evidence in every case but the first.

    `accepted_by` is the analyst who verified a reply the app could not tie to our email
    and took it as the answer: they are the actor of what it records. `inline`: advance
    the resumed run in this process (see runbooks.services.InlineAdvances).
    """
    valid = {o["key"] for o in request.options} | {SUSPICIOUS, UNRECOGNISED}
    if option_key not in valid:
        raise DomainError("That is not one of the options of this question.")
    channel = Answer.Channel(channel)
    with transaction.atomic():
        request = _lock(request.pk)
        counted = request.answers.filter(counted=True).first()
        flagged = suspected_automated or sender_mismatch
        if counted and counted.option_key == option_key and not flagged:
            _record_additional_information(request, counted, comment, files or [], provenance)
            return counted
        answer = Answer.objects.create(
            request=request,
            option_key=option_key,
            channel=channel,
            comment=comment[:5000],
            sender=sender[:254],
            from_recipient=from_recipient,
            sender_mismatch=sender_mismatch,
            suspected_automated=suspected_automated,
            is_revision=bool(counted) and not flagged,
            late=not counted and not flagged and request.state not in OPEN_STATES,
            counted=not counted and not flagged and request.state in OPEN_STATES,
            ip_hash=ip_hash,
            user_agent=user_agent[:400],
            accepted_by=accepted_by.user if accepted_by else None,
        )
        _record_answer_on_timeline(request, answer, counted, accepted_by)
        if answer.suspected_automated and request.state in OPEN_STATES:
            _schedule_held_check(answer)
        for file in files or []:
            _file_evidence(request, answer, file, provenance or {})
        if answer.counted:
            request.state, request.answered_at = State.ANSWERED, answer.received_at
            request.save(update_fields=["state", "answered_at"])
            run_resume(
                run=request.run,
                outcome=option_key,
                answer_label=request.label_of(option_key),
                channel=CHANNEL_LABELS[channel],
                actor=accepted_by or Actor.end_user(sender or _recipient_name(request)),
                inline=inline,
            )
    return answer


def held_task_after() -> timedelta:
    return timedelta(minutes=getattr(settings, "ANSWER_HELD_TASK_MINUTES", HELD_TASK_MINUTES))


def _schedule_held_check(answer: Answer) -> None:
    """Check the held answer once its time is up (mailflow.held_answers): a task, unless it
    was settled by then. Written in the answer's transaction; the sweep catches a lost one."""
    run_once_at(
        "mailflow.tasks.escalate_held_answer",
        answer.pk,
        name=f"Check held answer {answer.pk}",
        at=answer.received_at + held_task_after(),
    )


def _record_answer_on_timeline(
    request: ConfirmationRequest,
    answer: Answer,
    counted: Answer | None,
    accepted_by: Actor | None = None,
) -> None:
    who = answer.sender or _recipient_name(request)
    label = request.label_of(answer.option_key)
    via = CHANNEL_LABELS[answer.channel]
    at = f"{timezone.localtime(answer.received_at):%Y-%m-%d %H:%M:%S %Z}"
    actor = accepted_by or Actor.end_user(who)
    common = {"incident": request.incident, "task": request.task, "actor": actor}
    data = {
        "request": request.pk,
        "answer": answer.pk,
        "option": answer.option_key,
        "channel": answer.channel,
        "flags": answer.flags,
    }
    details = "\n".join(
        line
        for line in (
            f"Answered by {who} via {via} at {at}.",
            f"Verified and accepted as the answer by {accepted_by.name}." if accepted_by else "",
            f"Comment: {answer.comment}" if answer.comment else "",
            f"User agent: {answer.user_agent}" if answer.user_agent else "",
        )
        if line
    )
    if answer.counted:
        accepted = f" (accepted by {accepted_by.name})" if accepted_by else ""
        timeline_record(
            kind=kinds.ANSWER_RECEIVED,
            summary=f"{who} answered “{label}” by {via}{accepted}",
            body=details,
            data=data,
            **common,
        )
        return
    if answer.suspected_automated or answer.sender_mismatch:
        why = (
            "looks automated (mail scanner?)"
            if answer.suspected_automated
            else ("did not come from the person asked")
        )
        timeline_record(
            kind=kinds.ANSWER_FLAGGED,
            summary=f"Answer “{label}” via {via} not taken: it {why}",
            body=details,
            data=data,
            **common,
        )
        return
    if answer.is_revision:
        previous = request.label_of(counted.option_key)
        summary = f"{who} changed their answer from “{previous}” to “{label}”"
        title = f"Review changed answer from {who} ({previous} → {label})"
        kind = kinds.ANSWER_REVISED
    else:
        summary = f"Late answer from {who}: “{label}” (the question was {request.state})"
        title = f"Review late answer from {who}: {label}"
        kind = kinds.ANSWER_LATE
    timeline_record(kind=kind, summary=summary, body=details, data=data, **common)
    if request.incident.is_active:
        task_create(
            actor=Actor.system(),
            incident=request.incident,
            title=title,
            description=f"{summary}. The runbook did not act on it. {details}",
        )


def _record_additional_information(
    request: ConfirmationRequest,
    answer: Answer,
    comment: str,
    files: list[UploadedFile],
    provenance: dict | None,
) -> None:
    """Keep what a repeated answer adds (a later reply with screenshots, say); a plain
    double submission adds nothing, so it writes nothing."""
    known = set(
        Evidence.objects.filter(
            incident=request.incident, provenance__request=request.pk
        ).values_list("sha256", flat=True)
    )
    new_files = [f for f in files if _sha256(f.content) not in known]
    new_comment = comment.strip() if comment.strip() != answer.comment.strip() else ""
    if not new_files and not new_comment:
        return
    timeline_record(
        incident=request.incident,
        task=request.task,
        kind=kinds.ANSWER_ADDITIONAL,
        actor=Actor.end_user(answer.sender or _recipient_name(request)),
        summary=f"More from {answer.sender or _recipient_name(request)} about the same answer",
        body=new_comment,
        data={"request": request.pk, "answer": answer.pk, "files": len(new_files)},
    )
    for file in new_files:
        _file_evidence(request, answer, file, provenance or {})


def _sha256(content: bytes | IO[bytes]) -> str:
    if isinstance(content, bytes):
        return hashlib.sha256(content).hexdigest()
    digest = hashlib.sha256()
    content.seek(0)
    for chunk in iter(lambda: content.read(1024 * 1024), b""):
        digest.update(chunk)
    content.seek(0)
    return digest.hexdigest()


def _file_evidence(
    request: ConfirmationRequest, answer: Answer, file: UploadedFile, provenance: dict
) -> Evidence:
    source = (
        Evidence.Source.ANSWER_PAGE
        if answer.channel == Answer.Channel.PAGE
        else Evidence.Source.EMAIL_REPLY
    )
    return evidence_add(
        actor=Actor.end_user(answer.sender or _recipient_name(request)),
        incident=request.incident,
        task=request.task,
        content=file.content,
        filename=file.filename,
        declared_content_type=file.content_type,
        source=source,
        provenance={
            "channel": answer.channel,
            "answer": answer.pk,
            "request": request.pk,
            "sender": answer.sender,
            "received_at": answer.received_at.isoformat(),
            "flags": answer.flags,
            **provenance,
        },
    )
