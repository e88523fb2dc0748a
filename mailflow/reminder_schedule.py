"""A question's reminders: planned when it is asked, as times stored on the request
(ConfirmationRequest.reminders_planned, in order), sent one by one by the schedule
(mailflow.due_requests.request_remind). `reminders_sent` counts those gone and `remind_at`
names the next one due, the field the schedule's query reads."""

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from mailflow.models import ConfirmationRequest


def reminders_plan(
    start: datetime, after: Iterable[timedelta], deadline: datetime
) -> list[datetime]:
    """The reminder times, in order: those at or after the deadline are left out (the
    deadline closes the question; a reminder then would ask for an answer too late)."""
    return sorted({start + delta for delta in after if start + delta < deadline})


def reminders_planned(request: ConfirmationRequest) -> list[datetime]:
    return [datetime.fromisoformat(at) for at in request.reminders_planned or []]


def stored(times: Sequence[datetime]) -> list[str]:
    return [at.isoformat() for at in times]


def next_reminder(planned: Sequence[datetime], sent: int) -> datetime | None:
    """The reminder due after `sent` have gone, if one is planned."""
    return planned[sent] if sent < len(planned) else None


def reminders_total(request: ConfirmationRequest) -> int:
    """Reminders planned; more when "Remind now" sent one the schedule did not plan."""
    return max(len(request.reminders_planned or []), request.reminders_sent)


def reminders_replan(request: ConfirmationRequest, planned: Sequence[datetime]) -> list[str]:
    """Set the reminders still to go to `planned` (in order), keeping those sent: returns
    the fields changed, for save(update_fields=...)."""
    sent = reminders_planned(request)[: request.reminders_sent]
    # "Remind now" may have sent more than were planned: pad so the count still matches.
    sent += [request.created_at] * (request.reminders_sent - len(sent))
    times = [*sent, *sorted(planned)]
    request.reminders_planned = stored(times)
    request.remind_at = next_reminder(times, request.reminders_sent)
    return ["reminders_planned", "remind_at"]
