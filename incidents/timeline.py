"""Writing timeline entries and handing them to subscribers after commit.

Services in every app call `timeline_record`; it is the only writer of TimelineEntry.
"""

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
    subscribers = settings.TIMELINE_SUBSCRIBERS
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
        dispatched_at=None if subscribers else timezone.now(),
    )
    if subscribers:
        transaction.on_commit(partial(timeline_dispatch, entry.pk))
    return entry


def timeline_dispatch(entry_id: int) -> None:
    """Enqueue every subscriber for one entry. Subscribers must be idempotent: a crash
    between enqueueing and marking means the sweeper enqueues them again."""
    for subscriber in settings.TIMELINE_SUBSCRIBERS:
        async_task(subscriber, entry_id, task_name=f"{subscriber}:{entry_id}")
    TimelineEntry.objects.filter(pk=entry_id, dispatched_at__isnull=True).update(
        dispatched_at=timezone.now()
    )
