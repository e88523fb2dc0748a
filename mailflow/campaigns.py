""" "Remind now" on the campaign page: the reminder, brought forward, for everyone asked on
an incident who has not answered, sent by a background task through request_remind."""

import time
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Max, QuerySet
from django.utils import timezone
from django.utils.formats import date_format

from core.actors import Actor
from core.enqueue import async_task, enqueue_on_commit
from core.errors import DomainError
from incidents.models import SecurityIncident, TimelineEntry
from incidents.timeline import timeline_record
from mailflow import timeline_kinds as kinds
from mailflow.due_requests import request_remind
from mailflow.models import ConfirmationRequest
from mailflow.sending import SEND_BATCH_SECONDS

State = ConfirmationRequest.State

# A campaign's people are reminded at most this often, whoever clicks.
REMIND_EVERY = timedelta(hours=1)
# Requests one task reminds before it hands the rest to the next one.
REMIND_CHUNK = 500


def remindable(incident_id: int, now: datetime) -> QuerySet[ConfirmationRequest]:
    """Sent, not answered, not past the deadline, and not reminded yet: request_remind
    sends each question's one reminder, so those already reminded are left alone."""
    return ConfirmationRequest.objects.filter(
        incident_id=incident_id,
        state__in=[State.SENT, State.DELIVERED],
        reminders_sent=0,
        deadline_at__gt=now,
    )


def last_campaign_remind(incident: SecurityIncident) -> TimelineEntry | None:
    return (
        incident.timeline.filter(kind=kinds.CAMPAIGN_REMINDED)
        .order_by("-created_at", "-id")
        .first()
    )


def next_remind_at(incident: SecurityIncident) -> datetime | None:
    """When "Remind now" may be used again, if not now."""
    last = last_campaign_remind(incident)
    if last is None or last.created_at + REMIND_EVERY <= timezone.now():
        return None
    return last.created_at + REMIND_EVERY


def campaign_remind(*, incident: SecurityIncident, actor: Actor) -> TimelineEntry:
    """Remind everyone on the incident who has not answered:

    1. Under the incident's row lock, so two analysts clicking at once remind once.
    2. Refused within REMIND_EVERY of the last time, or with nobody to remind.
    3. The timeline entry names how many and the last request, and the task that sends
       the reminders is enqueued on commit (campaign_remind_send)."""
    with transaction.atomic():
        SecurityIncident.objects.select_for_update().filter(pk=incident.pk).first()
        later = next_remind_at(incident)
        if later is not None:
            raise DomainError(
                "Everyone not answered was reminded less than an hour ago; you can remind "
                f"them again from {date_format(timezone.localtime(later), 'H:i')}."
            )
        waiting = remindable(incident.pk, timezone.now()).aggregate(n=Max("pk"), count=Count("pk"))
        if not waiting["count"]:
            raise DomainError(
                "Nobody to remind: everyone asked has answered, was reminded already, "
                "is past the deadline, or has not been sent the question yet."
            )
        count = waiting["count"]
        entry = timeline_record(
            incident=incident,
            kind=kinds.CAMPAIGN_REMINDED,
            actor=actor,
            summary=f"Reminding {count} {'person' if count == 1 else 'people'} who have "
            "not answered",
            data={"count": count, "up_to": waiting["n"]},
        )
        enqueue_on_commit("mailflow.tasks.remind_campaign", entry.pk, 0)
    return entry


def campaign_remind_send(entry_id: int, after: int = 0) -> int:
    """The background part: remind a chunk of the people the entry counted, after the
    request `after`, then hand the rest to the next task. Safe to run twice: each
    reminder is claimed by request_remind, so nobody is reminded twice."""
    entry = TimelineEntry.objects.filter(pk=entry_id, kind=kinds.CAMPAIGN_REMINDED).first()
    if entry is None:
        return 0
    chunk = list(
        remindable(entry.incident_id, timezone.now())
        .filter(pk__gt=after, pk__lte=entry.data["up_to"])
        .order_by("pk")
        .values_list("pk", flat=True)[:REMIND_CHUNK]
    )
    reminded, last = 0, after
    began = time.monotonic()
    for request_id in chunk:
        # Paced by EMAIL_SEND_RATE, a chunk may take long: the rest go to the next task
        # rather than this one outliving its timeout.
        if time.monotonic() - began > SEND_BATCH_SECONDS:
            break
        reminded += request_remind(request_id)
        last = request_id
    if chunk and (len(chunk) == REMIND_CHUNK or last != chunk[-1]):
        async_task("mailflow.tasks.remind_campaign", entry_id, last)
    return reminded
