"""Writing timeline entries and handing them to subscribers after commit.

Services in every app call `timeline_record`; it is the only writer of TimelineEntry.
"""

from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from incidents.actors import Actor
from incidents.models import Evidence, ResponseTask, SecurityIncident, TimelineEntry


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
    if subscribed:
        transaction.on_commit(partial(timeline_dispatch, entry.pk))
    return entry


def subscribers_for(kind: str) -> list[str]:
    return [path for path, kinds in settings.TIMELINE_SUBSCRIBERS.items() if kind in kinds]


def timeline_dispatch(entry_id: int) -> None:
    """Enqueue the entry's subscribers. They must be idempotent: a crash between
    enqueueing and marking means the sweeper enqueues them again."""
    entry = TimelineEntry.objects.filter(pk=entry_id).only("kind").first()
    if entry is None:
        return
    for subscriber in subscribers_for(entry.kind):
        async_task(subscriber, entry_id)
    TimelineEntry.objects.filter(pk=entry_id, dispatched_at__isnull=True).update(
        dispatched_at=timezone.now()
    )


def timeline_sweep(older_than: timedelta = timedelta(minutes=1)) -> int:
    """Dispatch entries whose dispatch a crash between commit and enqueue lost."""
    cutoff = timezone.now() - older_than
    pending = TimelineEntry.objects.filter(dispatched_at__isnull=True, created_at__lt=cutoff)
    ids = list(pending.order_by("created_at").values_list("pk", flat=True)[:1000])
    for entry_id in ids:
        timeline_dispatch(entry_id)
    return len(ids)
