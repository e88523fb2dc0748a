"""Attempts and what follows a failed one: each processing attempt is counted before it
starts, a failure is recorded and retried (up to MAX_ATTEMPTS) or ends the message as
failed, an analyst reprocesses a failed message after a fix, and the sweep brings back
messages whose processing was lost."""

import logging
from datetime import timedelta

from django.db.models import F
from django.utils import timezone

from core.enqueue import async_task, enqueue_on_commit, run_once_at
from mailflow.inbound.receive import EmptyMessage
from mailflow.inbound.stored_post import MalformedPost
from mailflow.models import InboundEmail

logger = logging.getLogger(__name__)

Status = InboundEmail.Status
MAX_ATTEMPTS = 3
# Retries run after 1 and 2 minutes; a message still "received" well after that was lost.
STUCK_AFTER = timedelta(minutes=10)


def attempt_count(inbound_id: int) -> bool:
    """Count an attempt at a received message before trying it, so that even a message
    that kills its worker ends as failed after MAX_ATTEMPTS. False: nothing to attempt
    (processed already, or out of attempts)."""
    counted = InboundEmail.objects.filter(
        pk=inbound_id, status=Status.RECEIVED, attempts__lt=MAX_ATTEMPTS
    ).update(attempts=F("attempts") + 1)
    return bool(counted)


def attempt_failed(inbound_id: int, error: Exception) -> None:
    """A post anymail cannot read, or one without a message, fails at once: reading it
    again cannot succeed. Anything else is tried again, up to MAX_ATTEMPTS."""
    if isinstance(error, MalformedPost | EmptyMessage):
        logger.warning("Inbound email %s: %s", inbound_id, type(error).__name__)
        InboundEmail.objects.filter(pk=inbound_id).update(
            status=Status.FAILED, reason=str(error), processed_at=timezone.now()
        )
    else:
        logger.exception("Inbound email %s failed", inbound_id, exc_info=error)
        _record_failure(inbound_id, f"{type(error).__name__}: {error}"[:2000])


def _record_failure(inbound_id: int, reason: str) -> None:
    inbound = InboundEmail.objects.get(pk=inbound_id)
    if inbound.attempts >= MAX_ATTEMPTS:
        InboundEmail.objects.filter(pk=inbound_id).update(
            status=Status.FAILED, reason=reason, processed_at=timezone.now()
        )
        return
    InboundEmail.objects.filter(pk=inbound_id).update(reason=reason)
    run_once_at(
        "mailflow.tasks.process_inbound",
        inbound_id,
        name=f"Retry inbound email {inbound_id} ({inbound.attempts})",
        at=timezone.now() + timedelta(minutes=inbound.attempts),
    )


def inbound_reprocess(*, inbound: InboundEmail) -> bool:
    """After a fix: process a failed message again from its stored original."""
    updated = InboundEmail.objects.filter(pk=inbound.pk, status=Status.FAILED).update(
        status=Status.RECEIVED, attempts=0, reason=""
    )
    if updated:
        enqueue_on_commit("mailflow.tasks.process_inbound", inbound.pk)
    return bool(updated)


def inbound_sweep(stuck_after: timedelta = STUCK_AFTER) -> tuple[int, int]:
    """Scheduled: bring back messages left "received" (the enqueue after commit was lost,
    or a worker was killed mid-processing with no retry scheduled). Those with attempts
    left are enqueued again (processing claims the row, so a copy still queued is
    harmless); those whose every attempt was cut short end as failed, reprocessable.
    Returns (enqueued, failed)."""
    stuck = InboundEmail.objects.filter(
        status=Status.RECEIVED, received_at__lt=timezone.now() - stuck_after
    )
    failed = stuck.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=Status.FAILED,
        reason=f"Processing stopped without finishing on all {MAX_ATTEMPTS} attempts "
        "(a worker was killed or timed out). Reprocess it once the cause is fixed.",
        processed_at=timezone.now(),
    )
    ids = list(stuck.filter(attempts__lt=MAX_ATTEMPTS).values_list("pk", flat=True)[:1000])
    for inbound_id in ids:
        async_task("mailflow.tasks.process_inbound", inbound_id)
    return len(ids), failed
