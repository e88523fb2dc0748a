"""Creating a confirmation request and sending its email: one at a time or a batch's
questions over one connection, paced by EMAIL_SEND_RATE. A send the provider puts off is
retried later, uncounted; a failed one is retried with backoff until MAX_SEND_ATTEMPTS,
then the request is undeliverable (mailflow.request_lifecycle)."""

import logging
import random
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from core.actors import Actor
from core.enqueue import enqueue_on_commit, run_once_at
from incidents.models import Person, ResponseTask, SecurityIncident
from incidents.timeline import timeline_record
from mailflow import timeline_kinds as kinds
from mailflow.approvers import Approver
from mailflow.emails import build_request_email
from mailflow.models import ConfirmationRequest
from mailflow.pacing import send_slot_wait
from mailflow.reminder_schedule import next_reminder, reminders_plan, stored
from mailflow.request_lifecycle import (
    State,
    lock_request,
    recipient_name,
    request_mark_undeliverable,
)
from mailflow.send_errors import (
    SendFailure,
    describe_send_failure,
    error_text,
    send_failure_kind,
)
from mailflow.tokens import bounce_token, new_nonce, page_token, reply_token, token_digest
from runbooks.actions import Batch
from runbooks.models import RunbookRun

logger = logging.getLogger(__name__)

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


def _message_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def new_message_id() -> str:
    return f"<{secrets.token_hex(16)}@{_message_domain()}>"


def request_create(
    *,
    actor: Actor,
    run: RunbookRun,
    step_position: int,
    person: Person | None = None,
    incident: SecurityIncident,
    task: ResponseTask | None,
    question: str,
    options: list[dict],
    subject: str,
    body: str = "",
    evidence_requested: bool = False,
    reminders_after: Sequence[timedelta] = (),
    deadline_after: timedelta,
    batch: Batch | None = None,
    approver: Approver | None = None,
    seat: int = 0,
    asked_as: str = "",
    language: str = "",
) -> ConfirmationRequest:
    """Create the request for a run's ask_user step to `person` and send it after commit:
    in a task of its own, or, when the run advances in a batch, with the batch's other
    questions at its end (see _send_batch). Asking the same step (and seat) again returns
    the existing request. `reminders_after`: a reminder after each of these times; those
    at or after the deadline are left out. `asked_as` says on the timeline how someone
    other than the affected person stands to them ("manager of Bob Builder").
    `approver`: one seat of an ask_approval step (mailflow.approvals), asked instead of
    `person`; they may have no directory entry, only an account. `language`: what the
    texts are written in (else the person's from the directory)."""
    existing = ConfirmationRequest.objects.filter(
        run=run, step_position=step_position, seat=seat
    ).first()
    if existing:
        return existing
    now = timezone.now()
    if approver:
        person = approver.person
    email = approver.email if approver else (person.email if person else "")
    language = (
        language or (approver.language if approver else (person.language if person else "")) or "en"
    )
    nonce = new_nonce()
    reminders = reminders_plan(now, list(reminders_after), now + deadline_after)
    with transaction.atomic():
        request = ConfirmationRequest.objects.create(
            run=run,
            step_position=step_position,
            seat=seat,
            kind=ConfirmationRequest.Kind.APPROVAL
            if approver
            else ConfirmationRequest.Kind.QUESTION,
            approver_user=approver.user if approver else None,
            incident=incident,
            task=task,
            person=person,
            recipient_email=email,
            language=language,
            question=question,
            options=options,
            subject=subject or question,
            body=body,
            evidence_requested=evidence_requested,
            token_nonce=nonce,
            token_hash=token_digest(page_token(nonce)),
            reply_token_hash=token_digest(reply_token(nonce)),
            bounce_token_hash=token_digest(bounce_token(nonce)),
            message_id=new_message_id(),
            created_at=now,  # the reminders and the deadline count from it
            deadline_at=now + deadline_after,
            remind_at=next_reminder(reminders, 0),
            reminders_planned=stored(reminders),
        )
        timeline_record(
            incident=incident,
            task=task,
            kind=kinds.REQUEST_CREATED,
            actor=actor,
            summary=f"{'Approval request' if approver else 'Question'} for "
            f"{recipient_name(request)}{f' ({asked_as})' if asked_as else ''}: {question}",
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
            sendable(now)
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


def sendable(now: datetime) -> QuerySet[ConfirmationRequest]:
    """Pending requests no worker holds a send lease on, and not waiting for a retry (a
    retry's time is kept as the lease, so neither a batch nor the sweeper sends early)."""
    return ConfirmationRequest.objects.filter(state=State.PENDING).filter(
        Q(send_lease_until__isnull=True) | Q(send_lease_until__lt=now)
    )


def _for_sending() -> QuerySet[ConfirmationRequest]:
    # The run says whom a question is about (mailflow.asked_about), with no query per email.
    related = ("incident", "person", "task", "run")
    return ConfirmationRequest.objects.select_related(*related).order_by("pk")


def request_send(request_id: int) -> None:
    """Send the question email once. A worker claims the request with a lease, so two
    workers never both send it. The provider putting it off (throttling, an outage) is
    retried later, uncounted; a refused recipient is undeliverable at once; another error
    is retried with backoff, and after MAX_SEND_ATTEMPTS the request is undeliverable (the
    run takes that branch)."""
    now = timezone.now()
    if not sendable(now).filter(pk=request_id).update(send_lease_until=now + SEND_LEASE):
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
                summary = f"Email sent to {recipient_name(first)}: {items[0].subject}"
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
                body="\n".join(recipient_name(i.request) for i in items) if len(items) > 1 else "",
                data=data,
            )


def _record_send_failure(request_id: int, error: Exception, *, refused: bool = False) -> None:
    """A failed attempt, retried with backoff until MAX_SEND_ATTEMPTS. When the provider
    `refused` the recipient (an invalid or suppressed address), retrying cannot help, so
    the request is undeliverable now."""
    with transaction.atomic():
        request = lock_request(request_id)
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
        request = lock_request(request_id)
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
                f"First put off: the email to {recipient_name(request)}.",
                data={"request": request.pk},
            )
    run_once_at(
        "mailflow.tasks.send_request",
        request_id,
        name=f"Retry sending request {request_id} (later {request.send_deferrals})",
        at=retry_at,
    )
