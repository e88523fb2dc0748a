"""Writing timeline entries and handing them to subscribers after commit.

Services in every app call `timeline_record`; it is the only writer of TimelineEntry.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from core.actors import Actor
from core.enqueue import async_task, enqueue_on_commit
from incidents.models import Evidence, ResponseTask, SecurityIncident, TimelineEntry
from incidents.timeline_kinds import kind_check_data, kind_get

logger = logging.getLogger(__name__)

# Deliveries of one entry before the sweeper gives up on it (each is logged).
DISPATCH_ATTEMPTS = 5


def timeline_record(
    *,
    incident: SecurityIncident,
    kind: str,
    actor: Actor,
    summary: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    task: ResponseTask | None = None,
    evidence: Evidence | None = None,
) -> TimelineEntry:
    """Raises TimelineKindError for a kind not in settings.TIMELINE_KINDS or data keys
    the kind does not declare: subscribers and runbook triggers match on the name, so a
    typo must fail where it is written, not go unnoticed."""
    kind_check_data(kind_get(kind), data or {})
    subscribed = bool(subscribers_for(kind))
    entry = TimelineEntry.objects.create(
        incident=incident,
        task=task,
        evidence=evidence,
        kind=kind,
        actor_kind=actor.kind,
        actor_name=actor.name[:200],
        actor_user=actor.user,
        summary=summary[:300],
        body=body,
        data=data or {},
        # Nothing to hand over: mark it done so the sweeper never looks at it.
        dispatched_at=None if subscribed else timezone.now(),
    )
    _incident_touch(incident, entry.created_at)
    if subscribed:
        enqueue_on_commit("incidents.timeline.timeline_deliver", entry.pk)
    return entry


def _incident_touch(incident: SecurityIncident, at: datetime) -> None:
    """Move the incident's "updated at" to the entry's time: an entry is a change to the
    case, whoever wrote it (a runbook, an answer, a webhook).

    One UPDATE of that column alone, so a concurrent change to other fields is kept. Its
    row lock is taken with SKIP LOCKED: services lock a run or a request before they write
    the timeline, and some lock the incident before a run, so waiting here for the
    incident could close a cycle (deadlock). A transaction holding the incident's row
    writes its own entry and moves the time itself, or has just done so.
    """
    free = (
        SecurityIncident.objects.select_for_update(skip_locked=True, no_key=True)
        .filter(pk=incident.pk)
        .order_by()
    )
    SecurityIncident.objects.filter(pk__in=free.values("pk"), updated_at__lt=at).update(
        updated_at=at
    )
    incident.updated_at = max(incident.updated_at, at)


def subscribers_for(kind: str) -> list[str]:
    return [path for path, kinds in settings.TIMELINE_SUBSCRIBERS.items() if kind in kinds]


def timeline_dispatch(entry_id: int) -> None:
    """Hand the entry to a background task that delivers it to its subscribers."""
    async_task("incidents.timeline.timeline_deliver", entry_id)


def timeline_deliver(entry_id: int) -> None:
    """Call the entry's subscribers, then mark it dispatched.

    Marking comes last, so an entry whose task a broker lost (a Redis restart) or a killed
    worker dropped stays undispatched and the sweeper delivers it again: subscribers must
    be idempotent. A subscriber that fails leaves the entry for the sweeper too, up to
    DISPATCH_ATTEMPTS deliveries in all.
    """
    claimed = TimelineEntry.objects.filter(
        pk=entry_id, dispatched_at__isnull=True, dispatch_attempts__lt=DISPATCH_ATTEMPTS
    ).update(dispatch_attempts=F("dispatch_attempts") + 1)
    if not claimed:
        return  # delivered already, or given up on
    entry = TimelineEntry.objects.only("kind", "dispatch_attempts").get(pk=entry_id)
    failed = []
    for subscriber in subscribers_for(entry.kind):
        try:
            import_string(subscriber)(entry_id)
        except Exception:
            # The others still run: one subscriber's bug must not starve the rest.
            logger.exception("Timeline entry %s: subscriber %s failed.", entry_id, subscriber)
            failed.append(subscriber)
    if not failed:
        TimelineEntry.objects.filter(pk=entry_id).update(dispatched_at=timezone.now())
    elif entry.dispatch_attempts >= DISPATCH_ATTEMPTS:
        logger.error(
            "Timeline entry %s: %s failed %s times; it is left undelivered.",
            entry_id,
            ", ".join(failed),
            DISPATCH_ATTEMPTS,
        )


def timeline_sweep(older_than: timedelta = timedelta(minutes=5)) -> int:
    """Deliver again the entries a crash, a lost broker task or a failing subscriber left
    behind. Five minutes, so a busy queue's backlog is not enqueued twice."""
    cutoff = timezone.now() - older_than
    pending = TimelineEntry.objects.filter(
        dispatched_at__isnull=True,
        created_at__lt=cutoff,
        dispatch_attempts__lt=DISPATCH_ATTEMPTS,
    )
    ids = list(pending.order_by("created_at").values_list("pk", flat=True)[:1000])
    for entry_id in ids:
        timeline_dispatch(entry_id)
    return len(ids)
