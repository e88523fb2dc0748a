"""anymail's inbound and tracking signals: store the event, enqueue the work, nothing else.

The webhook answers the provider quickly and only fails when storing fails (the provider
then retries); everything that acts on an event runs in a task after commit."""

import json
import logging
from typing import Any

from anymail.signals import AnymailInboundEvent, AnymailTrackingEvent, inbound, tracking
from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils.datastructures import MultiValueDict

from core.enqueue import enqueue_on_commit
from core.text import has_nul, storable, storable_json
from mailflow.inbound.receive import inbound_store
from mailflow.models import ConfirmationRequest, TrackingEvent

logger = logging.getLogger(__name__)


@receiver(tracking, dispatch_uid="mailflow.store_tracking_event")
def store_tracking_event(
    sender: object, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any
) -> None:
    with transaction.atomic():
        stored, created = _store(event, esp_name)
        # A provider retry of an event we already processed changes nothing. One whose
        # enqueue was lost (crash after commit) is enqueued again: the task claims the
        # event, so it still runs at most once.
        if created or stored.processed_at is None:
            enqueue_on_commit("mailflow.tasks.process_tracking_event", stored.pk)
    # Ids only: recipients and provider texts stay out of the logs.
    logger.info(
        "Tracking event %s (%s %s) for request %s%s",
        stored.pk,
        stored.provider,
        stored.event_type,
        stored.request_id,
        "" if created else ", a duplicate",
    )


def _store(event: AnymailTrackingEvent, esp_name: str) -> tuple[TrackingEvent, bool]:
    provider = esp_name[:40]
    # Without what the database refuses (NUL), which anyone who can get an email to a
    # provider can put in a subject or a bounce text.
    event_id = storable((event.event_id or "")[:200])
    fields = {
        "event_type": (event.event_type or "unknown")[:40],
        "message_id": (event.message_id or "")[:250],
        "request": _request_for(event),
        "recipient": (event.recipient or "")[:254],
        "description": "\n".join(t for t in (event.description, event.mta_response) if t),
        "occurred_at": event.timestamp,
        "raw": _raw(event.esp_event),
    }
    fields = {name: storable_json(value) for name, value in fields.items()}
    if not event_id:
        # Without the provider's id a retry cannot be recognised; the services the task
        # calls are idempotent, so a repeat costs a row and changes nothing.
        return TrackingEvent.objects.create(provider=provider, **fields), True
    # get_or_create re-reads after an IntegrityError, so two concurrent deliveries of
    # the same event end as one row.
    return TrackingEvent.objects.get_or_create(
        provider=provider, event_id=event_id, defaults=fields
    )


def _request_for(event: AnymailTrackingEvent) -> ConfirmationRequest | None:
    """The request the email belonged to: by the request_id we sent as metadata, else by
    the provider's message id (or our own Message-ID, which some providers report), of
    the question's email or of the email sent again."""
    request_id = str((event.metadata or {}).get("request_id", ""))
    if request_id.isdigit():
        request = ConfirmationRequest.objects.filter(pk=int(request_id)).first()
        if request:
            return request
    if event.message_id and not has_nul(event.message_id):  # an id with NUL is none of ours
        requests = ConfirmationRequest.objects
        return (
            requests.filter(
                Q(provider_message_id=event.message_id) | Q(message_id=event.message_id)
            ).first()
            # The question emailed again has its own ids (ResentEmail).
            or requests.filter(
                Q(resent_emails__provider_message_id=event.message_id)
                | Q(resent_emails__message_id=event.message_id)
            ).first()
        )
    return None


def _raw(esp_event: Any) -> dict:
    """The provider's payload as JSON: a dict for JSON webhooks, the form fields for
    form-posted ones (legacy Mailgun), else its repr so nothing is lost."""
    if isinstance(esp_event, MultiValueDict):
        esp_event = dict(esp_event.lists())
    if isinstance(esp_event, dict):
        try:
            json.dumps(esp_event)
        except (TypeError, ValueError):
            pass
        else:
            return esp_event
    return {"repr": repr(esp_event)}


@receiver(inbound, dispatch_uid="mailflow.store_inbound_email")
def store_inbound_email(
    sender: object, event: AnymailInboundEvent, esp_name: str, **kwargs: Any
) -> None:
    inbound_store(provider=esp_name, event=event)
