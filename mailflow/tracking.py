"""What a stored delivery event means for its confirmation request.

Each event is processed once: a conditional update claims it. State changes go through the
request services, which check the request's state themselves, so an event that arrives
late (a delivery after the answer, a bounce after the deadline) changes nothing."""

import logging

from anymail.signals import EventType
from django.db import transaction
from django.utils import timezone

from incidents.actors import Actor
from incidents.timeline import timeline_record
from mailflow.models import ConfirmationRequest, TrackingEvent
from mailflow.services import request_mark_delivered, request_mark_undeliverable

logger = logging.getLogger(__name__)

# The email will not arrive: the provider gave up (bounced), refused to send (rejected,
# e.g. a suppressed address) or could not send it at all (failed). "Deferred" is a delay
# the provider retries, so it waits for the final event.
HARD_FAILURES = (EventType.BOUNCED, EventType.REJECTED, EventType.FAILED)


def tracking_event_process(event_id: int) -> str:
    """Act on a stored event once. Returns what was done, for the task's result."""
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


def _apply(event: TrackingEvent) -> str:
    request = event.request
    assert request is not None
    actor = Actor.email_provider(event.provider)
    if event.event_type == EventType.DELIVERED:
        changed = request_mark_delivered(request=request, actor=actor, at=event.occurred_at)
        return "delivered" if changed else "ignored: request not sent"
    if event.event_type in HARD_FAILURES:
        reason = event.description or f"The email provider reported: {event.event_type}."
        changed = request_mark_undeliverable(request=request, actor=actor, reason=reason)
        return "undeliverable" if changed else "ignored: request closed"
    if event.event_type == EventType.COMPLAINED:
        # Worth an analyst's eye (the person may distrust the email), but no answer.
        _note(event, request, "request.complained", "marked the email as spam")
        return "complained"
    if event.event_type == EventType.AUTORESPONDED:
        # An out-of-office reply: the email arrived, the person has not answered.
        _note(event, request, "request.autoresponded", "sent an automatic reply (no answer)")
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
