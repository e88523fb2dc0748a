"""What a stored delivery event means for its confirmation request.

Each event is processed once: a conditional update claims it. State changes go through the
request services, which check the request's state themselves, so an event that arrives
late (a delivery after the answer, a bounce after the deadline) changes nothing."""

import logging
from datetime import timedelta
from typing import Any

from anymail.signals import EventType
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.actors import Actor
from core.enqueue import async_task
from incidents.timeline import timeline_record
from mailflow import timeline_kinds as kinds
from mailflow.models import ConfirmationRequest, TrackingEvent
from mailflow.request_lifecycle import request_mark_delivered, request_mark_undeliverable

logger = logging.getLogger(__name__)

# The email will not arrive: the provider gave up (bounced), refused to send (rejected,
# e.g. a suppressed address) or could not send it at all (failed). "Deferred" is a delay
# the provider retries, so it waits for the final event.
HARD_FAILURES = (EventType.BOUNCED, EventType.REJECTED, EventType.FAILED)

# The webhook enqueues on commit and the task runs within seconds; an event still
# unprocessed after this lost its enqueue (a crash or broker outage after the commit).
STUCK_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 3

# anymail maps some providers' temporary bounces to "bounced" too; their own bounce type,
# kept in the raw event, says whether the failure is final.
_POSTMARK_TRANSIENT = {"SoftBounce", "Transient", "DnsError"}
# SES "Undetermined": SES could not tell why; an ambiguous notice never ends a question.
_SES_TRANSIENT = {"Transient", "Undetermined"}
# SparkPost's soft bounce classes: soft bounce, DNS failure, mailbox full, too large,
# timeout, transient failure.
_SPARKPOST_TRANSIENT = {"20", "21", "22", "23", "24", "70"}


def transient_bounce(raw: Any) -> str | None:
    """The provider's own word that a bounce is temporary, from its raw event; None when
    it says nothing of the kind (the bounce is taken as final, as anymail reports it)."""
    if not isinstance(raw, dict):
        return None
    if raw.get("RecordType") == "Bounce" and raw.get("Type") in _POSTMARK_TRANSIENT:
        return f"Postmark bounce type {raw['Type']}"
    mailgun = raw.get("event-data", raw)
    if isinstance(mailgun, dict) and mailgun.get("severity") == "temporary":
        return "Mailgun severity temporary"
    ses = raw.get("bounce")
    if isinstance(ses, dict) and ses.get("bounceType") in _SES_TRANSIENT:
        return f"Amazon SES bounce type {ses['bounceType']}"
    if raw.get("event") == "bounce" and raw.get("type") == "blocked":
        return "SendGrid bounce type blocked"
    if raw.get("event") == "soft_bounce":
        return "Brevo soft bounce"
    if raw.get("event") == "bounce" and raw.get("hard_bounce") is False:
        return "Mailjet soft bounce"
    sparkpost = (raw.get("msys") or {}).get("message_event") if "msys" in raw else None
    if isinstance(sparkpost, dict) and str(sparkpost.get("bounce_class")) in _SPARKPOST_TRANSIENT:
        return f"SparkPost bounce class {sparkpost['bounce_class']}"
    return None


def tracking_event_process(event_id: int) -> str:
    """Act on a stored event once. Returns what was done, for the task's result.

    Attempts are counted before trying, so an event whose processing always fails (or
    kills its worker) is left alone after MAX_ATTEMPTS, visible in the admin, instead of
    being swept up again forever."""
    counted = TrackingEvent.objects.filter(
        pk=event_id, processed_at__isnull=True, attempts__lt=MAX_ATTEMPTS
    ).update(attempts=F("attempts") + 1)
    if not counted:
        unprocessed = TrackingEvent.objects.filter(pk=event_id, processed_at__isnull=True)
        return "given up: every attempt failed" if unprocessed.exists() else "already processed"
    with transaction.atomic():
        # The claim and the work commit together: if the work fails, the event is still
        # unclaimed and a provider retry enqueues it again.
        claimed = TrackingEvent.objects.filter(pk=event_id, processed_at__isnull=True).update(
            processed_at=timezone.now()
        )
        if not claimed:
            return "already processed"
        event = TrackingEvent.objects.select_related(
            "request__incident", "request__task", "request__person"
        ).get(pk=event_id)
        outcome = _apply(event) if event.request else "ignored: no request"
    logger.info("Tracking event %s (%s): %s", event_id, event.event_type, outcome)
    return outcome


def tracking_sweep(stuck_after: timedelta = STUCK_AFTER) -> int:
    """Scheduled: enqueue again the events stored but never processed. Harmless to run
    twice or next to a late original task: processing claims each event once. Returns how
    many were enqueued."""
    ids = list(
        TrackingEvent.objects.filter(
            processed_at__isnull=True,
            attempts__lt=MAX_ATTEMPTS,
            received_at__lt=timezone.now() - stuck_after,
        )
        .order_by("received_at", "id")
        .values_list("pk", flat=True)[:1000]
    )
    for event_id in ids:
        async_task("mailflow.tasks.process_tracking_event", event_id)
    return len(ids)


def _apply(event: TrackingEvent) -> str:
    request = event.request
    assert request is not None
    actor = Actor.email_provider(event.provider)
    if event.event_type == EventType.DELIVERED:
        changed = request_mark_delivered(request=request, actor=actor, at=event.occurred_at)
        return "delivered" if changed else "ignored: request not sent"
    transient = transient_bounce(event.raw) if event.event_type in HARD_FAILURES else None
    if transient:
        # The provider may still deliver it, or the person's server may accept it later:
        # the question stays open.
        _note(event, request, kinds.REQUEST_DELAYED, f"was not reached yet ({transient})")
        return "transient bounce: noted"
    if event.event_type in HARD_FAILURES:
        reason = event.description or f"The email provider reported: {event.event_type}."
        changed = request_mark_undeliverable(request=request, actor=actor, reason=reason)
        return "undeliverable" if changed else "ignored: request closed"
    if event.event_type == EventType.COMPLAINED:
        # Worth an analyst's eye (the person may distrust the email), but no answer.
        _note(event, request, kinds.REQUEST_COMPLAINED, "marked the email as spam")
        return "complained"
    if event.event_type == EventType.AUTORESPONDED:
        # An out-of-office reply: the email arrived, the person has not answered.
        _note(event, request, kinds.REQUEST_AUTORESPONDED, "sent an automatic reply (no answer)")
        return "autoresponded"
    # Deferred, opened, clicked, unsubscribed …: kept in the event log, nothing to do.
    return "ignored: " + event.event_type


def _note(event: TrackingEvent, request: ConfirmationRequest, kind: str, what: str) -> None:
    who = request.person.full_name if request.person else "The affected user"
    timeline_record(
        incident=request.incident,
        task=request.task,
        kind=kind,
        actor=Actor.email_provider(event.provider),
        summary=f"{who} {what}",
        body=event.description,
        data={"request": request.pk, "tracking_event": event.pk},
    )
