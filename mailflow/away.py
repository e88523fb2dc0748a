"""An out-of-office reply that says when the person is back (mailflow.parsing.away reads
the date): wait for them, or, when they are away for longer than the step waits, move the
run on at once with the `out_of_office` outcome.

The person is back at 09:00 on the day read (the next working day if that is a weekend),
in settings.TIME_ZONE. They then get AWAY_GRACE_WORKING_HOURS working hours (Monday to
Friday, 09:00-17:00) to answer: that moment, "answer by", decides.

1. Answer by before the deadline: nothing to wait for; noted.
2. Answer by within the step's `away_max_days` past the deadline the step set: the
   deadline moves there.
3. Later: the question closes as "away" and the run takes `out_of_office` at once, so a
   runbook can ask someone else instead of waiting.

Reminders planned while the person is away would only pile up in their inbox: those due
before their return are dropped, and one reminder goes at the return instead, so the
question is on top when they catch up. Each decision is on the timeline with the date read
and the sentence it came from. The return read is kept on the request (`away_until`): the
same out-of-office reply again (they repeat, and a webhook may deliver twice) changes
nothing.
"""

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from incidents.timeline import timeline_record
from mailflow import timeline_kinds as kinds
from mailflow.models import OPEN_STATES, ConfirmationRequest
from mailflow.parsing.away import AwayReading
from mailflow.reminder_schedule import reminders_planned, reminders_replan
from mailflow.request_lifecycle import lock_request, recipient_name
from runbooks.outcomes import OUT_OF_OFFICE
from runbooks.services import InlineAdvances, run_resume

State = ConfirmationRequest.State
DAY_STARTS, DAY_ENDS = time(9), time(17)
DEFAULT_MAX_DAYS = 3
DEFAULT_DEADLINE_HOURS = 72


def back_at(day: date) -> datetime:
    """09:00 on the day, or on the Monday after a weekend, in settings.TIME_ZONE."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, DAY_STARTS))


def add_working_hours(start: datetime, hours: int) -> datetime:
    """`hours` working hours (Monday to Friday, 09:00-17:00 local) after `start`."""
    moment, left = timezone.localtime(start), timedelta(hours=hours)
    while True:
        day_start = moment.replace(hour=DAY_STARTS.hour, minute=0, second=0, microsecond=0)
        day_end = moment.replace(hour=DAY_ENDS.hour, minute=0, second=0, microsecond=0)
        if moment.weekday() >= 5 or moment >= day_end:
            moment = timezone.make_aware(
                datetime.combine(moment.date() + timedelta(days=1), DAY_STARTS)
            )
            continue
        moment = max(moment, day_start)
        if moment + left <= day_end:
            return moment + left
        left -= day_end - moment
        moment = day_end


def request_away(
    *,
    request: ConfirmationRequest,
    reading: AwayReading,
    inbound_id: int,
    actor: Actor,
    inline: InlineAdvances | None = None,
) -> str:
    """Act on the return date an automatic reply gave (see the module's docstring);
    returns what happened, for the inbound message's reason ("" if nothing: closed)."""
    with transaction.atomic():
        request = lock_request(request.pk)
        if request.state not in OPEN_STATES:
            return ""  # noted as any automatic reply
        returns = back_at(reading.returns_on)
        if request.away_until == returns:
            return f"back {_local(returns)}, noted already: nothing changed"
        answer_by = add_working_hours(returns, settings.AWAY_GRACE_WORKING_HOURS)
        previous = request.deadline_at
        request.away_until = returns
        data = {
            "request": request.pk,
            "inbound_email": inbound_id,
            "return_date": reading.returns_on.isoformat(),
            "sentence": reading.sentence,
            "previous_deadline": previous.isoformat(),
        }
        said = f"Back on {reading.returns_on:%a %Y-%m-%d}, as read from: “{reading.sentence}”."
        who = recipient_name(request)
        if answer_by <= previous:
            fields = ["away_until", *_reminders_after_return(request, returns)]
            request.save(update_fields=fields)
            _record(request, actor, kinds.REQUEST_AWAY_NOTED, data,
                    f"{who} is away, back {_local(returns)}: before the deadline, "
                    "which stays", said)  # fmt: skip
            return f"back {_local(returns)}, before the deadline"
        if answer_by <= _longest_wait(request):
            request.deadline_at = answer_by
            fields = ["away_until", "deadline_at", *_reminders_after_return(request, returns)]
            request.save(update_fields=fields)
            _record(request, actor, kinds.REQUEST_AWAY_EXTENDED,
                    {**data, "deadline": answer_by.isoformat()},
                    f"{who} is away, back {_local(returns)}: deadline moved to "
                    f"{_local(answer_by)}", f"{said} It was {_local(previous)}.")  # fmt: skip
            return f"back {_local(returns)}: deadline moved to {_local(answer_by)}"
        request.state, request.send_lease_until = State.OUT_OF_OFFICE, None
        request.save(update_fields=["away_until", "state", "send_lease_until"])
        _record(request, actor, kinds.REQUEST_OUT_OF_OFFICE, data,
                f"{who} is away, back {_local(returns)}: too late to wait for, the "
                "runbook goes on as out of office",
                f"{said} Waiting would take past {_local(_longest_wait(request))}, the "
                "most the step waits for someone away.")  # fmt: skip
        run_resume(run=request.run, outcome=OUT_OF_OFFICE, actor=actor, inline=inline)
        return f"back {_local(returns)}: out of office, the run goes on"


def _longest_wait(request: ConfirmationRequest) -> datetime:
    """The deadline the step set, plus its away_max_days."""
    params = _step_params(request)
    hours = params.get("deadline_hours") or DEFAULT_DEADLINE_HOURS
    max_days = params.get("away_max_days", DEFAULT_MAX_DAYS)
    set_by_step = request.created_at + timedelta(hours=hours)
    return set_by_step + timedelta(days=max_days if isinstance(max_days, int) else 0)


def _step_params(request: ConfirmationRequest) -> dict:
    steps = request.run.definition.get("steps") or []
    if request.step_position < len(steps):
        return steps[request.step_position].get("params") or {}
    return {}


def _reminders_after_return(request: ConfirmationRequest, returns: datetime) -> list[str]:
    """Reminders due while the person is away go: one goes at the return instead."""
    pending = reminders_planned(request)[request.reminders_sent :]
    if not pending or pending[0] >= returns:
        return []
    kept = [at for at in pending if at > returns]
    planned = [returns, *kept] if returns < request.deadline_at else kept
    return reminders_replan(request, planned)


def _record(
    request: ConfirmationRequest, actor: Actor, kind: str, data: dict, summary: str, body: str
) -> None:
    timeline_record(
        incident=request.incident,
        task=request.task,
        kind=kind,
        actor=actor,
        summary=summary,
        body=body,
        data=data,
    )


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%a %Y-%m-%d %H:%M %Z}"
