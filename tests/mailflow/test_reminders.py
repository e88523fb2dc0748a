"""Several reminders for one question: each at its time, each its own email in the
question's thread and its own timeline entry, each sent once, none after an answer."""

from datetime import timedelta

import pytest
from django.utils import timezone

from mailflow.answers import answer_record
from mailflow.due_requests import request_remind, requests_process_due
from mailflow.models import Answer, ConfirmationRequest
from runbooks.models import Runbook

State = ConfirmationRequest.State


def reminded(request) -> list[str]:
    return list(
        request.incident.timeline.filter(kind="request.reminded")
        .order_by("id")
        .values_list("summary", flat=True)
    )


@pytest.fixture
def asked_twice(asked):
    """Bob asked by "Failed sign-ins": reminders after 4 h and 12 h, deadline after 24 h."""
    request = asked("failed-login")
    return request


def test_the_question_plans_each_reminder_before_the_deadline(asked_twice):
    request = asked_twice

    times = [timezone.datetime.fromisoformat(at) for at in request.reminders_planned]
    assert [at - request.created_at for at in times] == [timedelta(hours=4), timedelta(hours=12)]
    assert request.remind_at == times[0]


def test_two_reminders_go_at_their_times_in_the_thread_and_a_third_round_sends_nothing(
    asked_twice, committed, outbox
):
    request = asked_twice
    now = request.created_at
    assert len(outbox) == 1
    question_id = outbox[0].extra_headers["Message-ID"]

    assert committed(requests_process_due, now + timedelta(hours=3)) == (0, 0)
    assert committed(requests_process_due, now + timedelta(hours=4, minutes=1)) == (1, 0)
    assert committed(requests_process_due, now + timedelta(hours=5)) == (0, 0)
    assert committed(requests_process_due, now + timedelta(hours=12, minutes=1)) == (1, 0)
    assert committed(requests_process_due, now + timedelta(hours=20)) == (0, 0)

    request.refresh_from_db()
    assert (request.reminders_sent, request.remind_at) == (2, None)
    reminders = outbox[1:]
    assert len(reminders) == 2
    for email in reminders:
        assert "Reminder:" in email.subject
        assert email.extra_headers["In-Reply-To"] == question_id
        assert email.extra_headers["References"] == question_id
        assert "Message-ID" not in email.extra_headers  # each gets one of its own
    assert reminded(request) == [
        "Reminder 1 of 2 sent to Bob Builder",
        "Reminder 2 of 2 sent to Bob Builder",
    ]


def test_an_answer_before_the_second_reminder_stops_it(asked_twice, committed, outbox):
    request = asked_twice
    now = request.created_at
    committed(requests_process_due, now + timedelta(hours=5))
    committed(
        answer_record,
        request=request,
        option_key="yes",
        channel=Answer.Channel.PAGE,
        sender="Bob Builder",
    )
    sent = len(outbox)

    assert committed(requests_process_due, now + timedelta(hours=13)) == (0, 0)
    assert request_remind(request.pk) is False

    request.refresh_from_db()
    assert (request.state, request.reminders_sent) == (State.ANSWERED, 1)
    assert len(outbox) == sent
    assert reminded(request) == ["Reminder 1 of 2 sent to Bob Builder"]


def test_the_schedule_run_twice_sends_each_reminder_once(asked_twice, committed, outbox):
    request = asked_twice
    due = request.created_at + timedelta(hours=4, minutes=1)

    first = committed(requests_process_due, due)
    second = committed(requests_process_due, due)

    assert (first, second) == ((1, 0), (0, 0))
    assert len(outbox) == 2
    assert reminded(request) == ["Reminder 1 of 2 sent to Bob Builder"]


def test_reminders_at_or_after_the_deadline_are_left_out(shipped, committed, bob, asked):
    runbook = Runbook.objects.get(name="Failed sign-ins")
    step = runbook.steps.get(position=2)
    step.params = {**step.params, "reminders_after_hours": [4, 24, 30]}
    step.save()

    request = asked("failed-login")

    assert len(request.reminders_planned) == 1
    assert request.remind_at == request.created_at + timedelta(hours=4)


def test_no_reminders_planned_means_none_is_sent(shipped, committed, asked, outbox):
    step = Runbook.objects.get(name="Failed sign-ins").steps.get(position=2)
    step.params = {**step.params, "reminders_after_hours": []}
    step.save()
    request = asked("failed-login")

    assert committed(requests_process_due, request.created_at + timedelta(hours=23)) == (0, 0)
    assert len(outbox) == 1


def test_a_run_started_with_the_older_single_reminder_still_sends_it(
    shipped, committed, asked, outbox
):
    step = Runbook.objects.get(name="Failed sign-ins").steps.get(position=2)
    params = {k: v for k, v in step.params.items() if k != "reminders_after_hours"}
    step.params = {**params, "reminder_after_hours": 6}
    # Stored as a run's snapshot from before the rename would hold it: no validation.
    type(step).objects.filter(pk=step.pk).update(params=step.params)

    request = asked("failed-login")

    assert request.remind_at == request.created_at + timedelta(hours=6)
    assert committed(requests_process_due, request.created_at + timedelta(hours=7)) == (1, 0)
    assert reminded(request) == ["Reminder sent to Bob Builder"]
