"""An out-of-office reply with a return date: the deadline waits for the person, or the
run takes `out_of_office` at once; each decision on the timeline with the date read and
its sentence; a repeated reply, a webhook's second delivery and a killed worker change
nothing twice."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from mailflow import away
from mailflow.away import add_working_hours, back_at
from mailflow.due_requests import requests_process_due
from mailflow.emails import reply_address
from mailflow.inbound.process import inbound_process
from mailflow.models import Answer, ConfirmationRequest, InboundEmail
from runbooks.models import Runbook, RunbookRun
from runbooks.services import runs_sweep
from tests.builders.crashes import WorkerKilled
from tests.builders.inbound import message, titles

pytestmark = pytest.mark.usefixtures("webhook_secret")
State = ConfirmationRequest.State


def kinds(request) -> list[str]:
    return list(request.incident.timeline.order_by("id").values_list("kind", flat=True))


def away_for(request, returns: date, *, mid: str = "oof1", sender: str = "bob@corp.example.com"):
    return message(
        to=reply_address(request),
        sender=sender,
        subject="Automatic reply: [SIR] Please confirm",
        body=f"Thank you.\r\n\r\nI am out of the office until {returns:%d %B %Y}. "
        "For urgent matters call the service desk.",
        headers="Auto-Submitted: auto-replied\r\nX-Auto-Response-Suppress: All\r\n",
        mid=mid,
    )


@pytest.fixture
def waits(shipped):
    """Set the Failed sign-ins question's away_max_days before it is asked."""

    def set_max(days: int) -> None:
        step = Runbook.objects.get(name="Failed sign-ins").steps.get(position=2)
        step.params = {**step.params, "away_max_days": days}
        step.save()

    return set_max


def today() -> date:
    return timezone.localdate()


# --- working hours ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours", "end"),
    [
        (datetime(2026, 12, 14, 9, tzinfo=UTC), 8, datetime(2026, 12, 14, 17, tzinfo=UTC)),
        (datetime(2026, 12, 14, 13, tzinfo=UTC), 8, datetime(2026, 12, 15, 13, tzinfo=UTC)),
        (datetime(2026, 12, 18, 16, tzinfo=UTC), 2, datetime(2026, 12, 21, 10, tzinfo=UTC)),
        (datetime(2026, 12, 19, 11, tzinfo=UTC), 1, datetime(2026, 12, 21, 10, tzinfo=UTC)),
        (datetime(2026, 12, 14, 20, tzinfo=UTC), 0, datetime(2026, 12, 15, 9, tzinfo=UTC)),
    ],
)
def test_working_hours_count_monday_to_friday_nine_to_five(settings, start, hours, end):
    settings.TIME_ZONE = "UTC"

    assert add_working_hours(start, hours) == end


def test_someone_back_on_a_saturday_is_back_on_monday_morning(settings):
    settings.TIME_ZONE = "Europe/Berlin"

    moment = back_at(date(2026, 12, 19))

    assert timezone.localtime(moment).isoformat() == "2026-12-21T09:00:00+01:00"


# --- what a return date changes ---------------------------------------------------------


def test_a_return_within_the_limit_moves_the_deadline(asked, deliver, waits, settings):
    settings.AWAY_GRACE_WORKING_HOURS = 8
    waits(10)
    request = asked("failed-login")
    returns = today() + timedelta(days=3)

    inbound = deliver(away_for(request, returns))

    request.refresh_from_db()
    expected = add_working_hours(back_at(returns), 8)
    assert request.is_open and request.deadline_at == expected
    assert request.away_until == back_at(returns)
    (entry,) = request.incident.timeline.filter(kind="request.away_extended")
    assert entry.data["return_date"] == returns.isoformat()
    assert entry.data["sentence"] == f"I am out of the office until {returns:%d %B %Y}."
    assert entry.data["deadline"] == expected.isoformat()
    assert "deadline moved to" in entry.summary and entry.data["sentence"] in entry.body
    assert (inbound.status, inbound.classification) == ("flagged", "auto_reply")
    assert "deadline moved" in inbound.reason
    assert not Answer.objects.exists()
    assert "reply.automatic" not in kinds(request)  # the decision is the note
    assert RunbookRun.objects.get().state == RunbookRun.State.WAITING


def test_reminders_due_while_away_give_way_to_one_at_the_return(asked, deliver, waits):
    waits(10)
    request = asked("failed-login")  # reminders after 4 h and 12 h
    returns = today() + timedelta(days=3)

    deliver(away_for(request, returns))

    request.refresh_from_db()
    assert request.remind_at == back_at(returns)
    assert len(request.reminders_planned) == 1
    assert requests_process_due(back_at(returns) - timedelta(minutes=1)) == (0, 0)


def test_a_return_beyond_the_limit_takes_the_out_of_office_branch_at_once(asked, deliver, waits):
    waits(1)
    request = asked("failed-login")
    returns = today() + timedelta(days=14)

    inbound = deliver(away_for(request, returns))

    request.refresh_from_db()
    assert request.state == State.OUT_OF_OFFICE
    run = RunbookRun.objects.get()
    (resumed,) = request.incident.timeline.filter(kind="runbook.resumed")
    assert resumed.data["outcome"] == "out_of_office"
    # The runbook asks the manager next; this person has none, so it went on.
    assert run.state != RunbookRun.State.WAITING
    (entry,) = request.incident.timeline.filter(kind="request.out_of_office")
    assert entry.data["return_date"] == returns.isoformat()
    assert entry.data["sentence"] in entry.body
    assert kinds(request).count("runbook.resumed") == 1
    assert "out of office" in inbound.reason


def test_a_return_before_the_deadline_is_noted_and_changes_no_deadline(asked, deliver):
    request = asked()  # Suspicious file download: deadline after 72 h
    deadline = request.deadline_at

    deliver(away_for(request, today()))

    request.refresh_from_db()
    assert request.deadline_at == deadline
    (entry,) = request.incident.timeline.filter(kind="request.away_noted")
    assert entry.data["return_date"] == today().isoformat()


def test_an_auto_reply_without_a_date_is_noted_as_today(asked, deliver):
    request = asked("failed-login")
    deadline = request.deadline_at

    deliver(
        message(
            to=reply_address(request),
            subject="Automatic reply: Please confirm",
            body="I am out of the office with limited access to email.",
            headers="Auto-Submitted: auto-replied\r\n",
        )
    )

    request.refresh_from_db()
    assert (request.deadline_at, request.away_until) == (deadline, None)
    assert request.incident.timeline.filter(kind="reply.automatic").count() == 1
    assert not request.incident.timeline.filter(kind__startswith="request.away").exists()


def test_an_auto_reply_from_someone_else_changes_nothing(asked, deliver, waits):
    waits(1)
    request = asked("failed-login")

    deliver(away_for(request, today() + timedelta(days=14), sender="eve@evil.example.net"))

    request.refresh_from_db()
    assert request.is_open and request.away_until is None
    assert request.incident.timeline.filter(kind="reply.automatic").count() == 1


# --- exactly once -----------------------------------------------------------------------


def test_the_same_auto_reply_again_changes_nothing_twice(asked, deliver, waits):
    waits(10)
    request = asked("failed-login")
    returns = today() + timedelta(days=3)

    deliver(away_for(request, returns, mid="oof1"))
    before = kinds(request)
    deliver(away_for(request, returns, mid="oof1"))  # the webhook delivers it again
    second = deliver(away_for(request, returns, mid="oof2"))  # the responder repeats

    assert kinds(request) == before
    assert "noted already" in second.reason
    assert InboundEmail.objects.count() == 2


def test_a_duplicate_auto_reply_past_the_limit_resumes_the_run_once(asked, deliver, waits):
    waits(1)
    request = asked("failed-login")
    returns = today() + timedelta(days=14)

    deliver(away_for(request, returns, mid="oof1"))
    deliver(away_for(request, returns, mid="oof2"))

    assert kinds(request).count("runbook.resumed") == 1
    assert kinds(request).count("request.out_of_office") == 1
    assert kinds(request).count("reply.automatic") == 1  # the second, for a closed question


def test_a_worker_killed_while_resuming_leaves_the_run_to_resume_once(
    asked, deliver, waits, committed, monkeypatch
):
    waits(1)
    request = asked("failed-login")
    real_resume = away.run_resume

    def killed(**kwargs):
        raise KeyboardInterrupt  # the worker dies inside the transaction

    monkeypatch.setattr(away, "run_resume", killed)
    with pytest.raises(KeyboardInterrupt):
        deliver(away_for(request, today() + timedelta(days=14)))

    inbound = InboundEmail.objects.get()
    request.refresh_from_db()
    assert inbound.status == "received" and request.is_open
    assert "request.out_of_office" not in kinds(request)

    monkeypatch.setattr(away, "run_resume", real_resume)
    committed(inbound_process, inbound.pk)
    committed(inbound_process, inbound.pk)  # run twice: the second finds it done

    request.refresh_from_db()
    assert request.state == State.OUT_OF_OFFICE
    assert kinds(request).count("runbook.resumed") == 1
    assert kinds(request).count("request.out_of_office") == 1


def test_a_worker_killed_after_the_out_of_office_resume_converges_once(
    asked, deliver, waits, kill_at
):
    waits(1)
    request = asked("failed-login")
    kill_at("create_task")  # the task is made, then the worker dies before its commit
    with pytest.raises(WorkerKilled):
        deliver(away_for(request, today() + timedelta(days=14)))

    request.refresh_from_db()
    run = RunbookRun.objects.get()
    assert (request.state, run.state) == (State.OUT_OF_OFFICE, RunbookRun.State.RUNNING)
    assert titles(request) == []
    RunbookRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    assert runs_sweep() == 1  # the sweeper finds it and (inline in tests) finishes it
    deliver(away_for(request, today() + timedelta(days=14), mid="oof2"))  # it repeats

    assert titles(request) == ["Contact Bob Builder directly"]
    assert RunbookRun.objects.get().state == RunbookRun.State.COMPLETED
    assert kinds(request).count("runbook.resumed") == 1
    assert kinds(request).count("request.out_of_office") == 1
