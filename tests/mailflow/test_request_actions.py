"""An analyst's actions on a waiting question: withdraw it, send it again, extend its
deadline, end it now as "no answer". Each writes its timeline entry, and refuses, saying
why, what the question's state no longer allows (a second click changes nothing)."""

from datetime import timedelta

import pytest
from anymail.signals import AnymailTrackingEvent
from django.utils import timezone

from core.errors import DomainError
from mailflow.answers import answer_record
from mailflow.due_requests import requests_process_due
from mailflow.emails import reply_address
from mailflow.models import Answer, ConfirmationRequest, ResentEmail
from mailflow.receivers import _request_for
from mailflow.request_actions import (
    RESEND_PAUSE,
    request_end_as_no_answer,
    request_extend_deadline,
    request_send_again,
    request_withdraw,
    resent_email_send,
)
from runbooks.models import RunbookRun
from tests.builders.inbound import message, titles

State = ConfirmationRequest.State


def entries(request, kind: str):
    return list(request.incident.timeline.filter(kind=kind))


def answer(committed, request, key: str = "no") -> Answer:
    return committed(
        answer_record,
        request=request,
        option_key=key,
        channel=Answer.Channel.PAGE,
        sender="Bob Builder",
    )


# --- withdraw ---------------------------------------------------------------------------


def test_withdrawing_closes_the_question_and_leaves_the_run_waiting(
    asked, committed, as_analyst, analyst
):
    request = asked("failed-login")

    committed(request_withdraw, request=request, actor=as_analyst, reason="Wrong person")

    request.refresh_from_db()
    assert request.state == State.CANCELLED
    assert RunbookRun.objects.get().state == RunbookRun.State.WAITING
    (entry,) = entries(request, "request.cancelled")
    assert (entry.actor_user, entry.body) == (analyst, "Wrong person")
    assert entry.summary == "Question to Bob Builder withdrawn"


def test_withdrawing_twice_says_it_was_withdrawn_and_changes_nothing(asked, committed, as_analyst):
    request = asked("failed-login")
    committed(request_withdraw, request=request, actor=as_analyst)

    with pytest.raises(DomainError, match="This question was withdrawn: nothing changed"):
        committed(request_withdraw, request=request, actor=as_analyst)

    assert len(entries(request, "request.cancelled")) == 1


# --- end now as no answer ---------------------------------------------------------------


def test_ending_now_takes_the_no_answer_branch(asked, committed, as_analyst, analyst):
    request = asked("failed-login")

    committed(request_end_as_no_answer, request=request, actor=as_analyst, reason="On leave")

    request.refresh_from_db()
    assert request.state == State.NO_ANSWER
    assert titles(request) == ["Contact Bob Builder directly"]
    assert RunbookRun.objects.get().state == RunbookRun.State.COMPLETED
    (resumed,) = entries(request, "runbook.resumed")
    assert resumed.data["outcome"] == "no_answer"
    # Bob has no manager in the directory: nobody else to ask, so the contact task.
    assert RunbookRun.objects.get().context["outcome"] == "no_target"
    (entry,) = entries(request, "request.ended")
    assert (entry.actor_user, entry.body) == (analyst, "On leave")
    assert entry.summary == "Question to Bob Builder ended as no answer by Alice Analyst"


def test_ending_twice_branches_once(asked, committed, as_analyst):
    request = asked("failed-login")
    committed(request_end_as_no_answer, request=request, actor=as_analyst)

    with pytest.raises(DomainError, match="already ended without an answer: nothing changed"):
        committed(request_end_as_no_answer, request=request, actor=as_analyst)

    assert titles(request) == ["Contact Bob Builder directly"]
    assert len(entries(request, "request.ended")) == 1


def test_an_answered_question_cannot_be_ended(asked, committed, as_analyst):
    request = asked("failed-login")
    answer(committed, request)

    with pytest.raises(DomainError, match="Bob Builder already answered this question"):
        committed(request_end_as_no_answer, request=request, actor=as_analyst)

    request.refresh_from_db()
    assert request.state == State.ANSWERED
    assert titles(request) == ["Reset the credentials of Bob Builder"]
    assert not entries(request, "request.ended")


# --- extend the deadline ----------------------------------------------------------------


def test_extending_moves_the_deadline_and_the_reminder_with_it(asked, committed, as_analyst):
    request = asked("failed-login")  # reminder after 4 h, deadline after 24 h
    old_deadline, old_reminder = request.deadline_at, request.remind_at
    new_deadline = old_deadline + timedelta(hours=48)

    committed(request_extend_deadline, request=request, actor=as_analyst, deadline_at=new_deadline)

    request.refresh_from_db()
    assert request.deadline_at == new_deadline
    assert request.remind_at == old_reminder + timedelta(hours=48)
    (entry,) = entries(request, "request.deadline_extended")
    assert entry.data == {
        "request": request.pk,
        "deadline": new_deadline.isoformat(),
        "previous_deadline": old_deadline.isoformat(),
    }
    assert entry.summary.startswith("Deadline for Bob Builder's answer extended to ")
    # The old deadline passes: nothing ends; the reminder waits for its new time.
    assert committed(requests_process_due, old_deadline + timedelta(minutes=1)) == (0, 0)
    assert committed(requests_process_due, new_deadline - timedelta(hours=19)) == (1, 0)
    assert committed(requests_process_due, new_deadline + timedelta(minutes=1)) == (0, 1)
    request.refresh_from_db()
    assert request.state == State.NO_ANSWER


def test_extending_after_the_reminders_went_sends_one_more_before_the_new_deadline(
    asked, committed, as_analyst, outbox
):
    request = asked("failed-login")  # reminders after 4 h and 12 h, deadline after 24 h
    now = timezone.now()
    assert committed(requests_process_due, now + timedelta(hours=5)) == (1, 0)
    assert committed(requests_process_due, now + timedelta(hours=13)) == (1, 0)
    request.refresh_from_db()

    committed(
        request_extend_deadline,
        request=request,
        actor=as_analyst,
        deadline_at=request.deadline_at + timedelta(hours=24),
    )

    request.refresh_from_db()
    assert request.reminders_sent == 2
    # The last one's lead on the deadline (12 h) gives one more, 12 h before the new one.
    assert request.remind_at == request.deadline_at - timedelta(hours=12)
    assert committed(requests_process_due, now + timedelta(hours=35)) == (0, 0)
    assert committed(requests_process_due, now + timedelta(hours=37)) == (1, 0)
    assert [m.subject.split("] ")[1][:9] for m in outbox] == [
        "Please co", "Reminder:", "Reminder:", "Reminder:"
    ]  # fmt: skip
    reminded = entries(request, "request.reminded")
    assert sorted(e.summary for e in reminded) == [
        f"Reminder {n} of {of} sent to Bob Builder" for n, of in ((1, 2), (2, 2), (3, 3))
    ]


@pytest.mark.parametrize(
    ("shift", "message"),
    [
        (timedelta(hours=-30), "must be in the future"),
        (timedelta(hours=-2), "must be later than the current one"),
        (timedelta(seconds=20), "The deadline is already"),
        (timedelta(days=40), "at most 30 days from now"),
    ],
)
def test_a_deadline_that_is_no_extension_is_refused(asked, committed, as_analyst, shift, message):
    request = asked("failed-login")
    deadline = request.deadline_at

    with pytest.raises(DomainError, match=message):
        committed(
            request_extend_deadline, request=request, actor=as_analyst, deadline_at=deadline + shift
        )

    request.refresh_from_db()
    assert request.deadline_at == deadline
    assert not entries(request, "request.deadline_extended")


def test_a_closed_question_cannot_be_extended(asked, committed, as_analyst):
    request = asked("failed-login")
    answer(committed, request)

    with pytest.raises(DomainError, match="already answered this question: it cannot be extended"):
        committed(
            request_extend_deadline,
            request=request,
            actor=as_analyst,
            deadline_at=request.deadline_at + timedelta(hours=1),
        )


# --- send again -------------------------------------------------------------------------


def test_sending_again_emails_the_same_links_under_a_new_message_id(
    asked, committed, as_analyst, outbox, analyst
):
    request = asked("failed-login")

    resent = committed(request_send_again, request=request, actor=as_analyst)

    assert len(outbox) == 2
    first, again = outbox
    assert again.body == first.body and again.reply_to == first.reply_to
    assert again.subject == first.subject
    assert again.extra_headers["Message-ID"] == resent.message_id != request.message_id
    resent.refresh_from_db()
    assert resent.sent_at is not None and resent.requested_by == analyst
    request.refresh_from_db()
    assert request.state == State.SENT
    (asked_entry,) = entries(request, "request.resent")
    assert asked_entry.actor_user == analyst
    assert asked_entry.data == {"request": request.pk, "message_id": resent.message_id}
    sent = entries(request, "request.sent")
    assert len(sent) == 2 and sent[1].summary.startswith("Email sent again to Bob Builder:")
    assert sent[1].data == {"request": request.pk, "message_id": resent.message_id}


def test_a_double_click_sends_again_once(asked, committed, as_analyst, outbox):
    request = asked("failed-login")
    committed(request_send_again, request=request, actor=as_analyst)

    with pytest.raises(DomainError, match=r"It was sent again at .*Nothing changed"):
        committed(request_send_again, request=request, actor=as_analyst)

    assert len(outbox) == 2
    assert ResentEmail.objects.count() == 1
    assert len(entries(request, "request.resent")) == 1


def test_it_can_be_sent_again_once_the_pause_has_passed(asked, committed, as_analyst, outbox):
    request = asked("failed-login")
    first = committed(request_send_again, request=request, actor=as_analyst)
    ResentEmail.objects.filter(pk=first.pk).update(
        created_at=first.created_at - RESEND_PAUSE - timedelta(seconds=1)
    )

    committed(request_send_again, request=request, actor=as_analyst)

    assert len(outbox) == 3
    assert len(set(ResentEmail.objects.values_list("message_id", flat=True))) == 2


def test_running_the_send_task_twice_sends_one_email(asked, committed, as_analyst, outbox):
    request = asked("failed-login")
    resent = committed(request_send_again, request=request, actor=as_analyst)

    assert committed(resent_email_send, resent.pk) is False
    assert len(outbox) == 2


def test_a_question_closed_before_it_went_out_again_is_not_sent(asked, committed, as_analyst):
    request = asked("failed-login")
    resent = request_send_again(request=request, actor=as_analyst)  # its task not yet run
    answer(committed, request)

    assert committed(resent_email_send, resent.pk) is False

    resent.refresh_from_db()
    assert resent.failed and resent.sent_at is None
    (entry,) = entries(request, "request.resend_failed")
    assert "already answered" in entry.body


def test_a_closed_question_is_not_sent_again(asked, committed, as_analyst, outbox):
    request = asked("failed-login")
    answer(committed, request)

    with pytest.raises(DomainError, match="already answered this question: it cannot be sent"):
        committed(request_send_again, request=request, actor=as_analyst)

    assert len(outbox) == 1 and not ResentEmail.objects.exists()


def test_a_question_not_yet_sent_is_not_sent_again(asked, committed, as_analyst):
    request = asked("failed-login")
    ConfirmationRequest.objects.filter(pk=request.pk).update(state=State.PENDING)

    with pytest.raises(DomainError, match="has not gone out yet"):
        committed(request_send_again, request=request, actor=as_analyst)


def test_a_provider_failure_is_retried_then_given_up_on_the_timeline(
    asked, committed, as_analyst, monkeypatch
):
    request = asked("failed-login")

    def refuse(self, *args, **kwargs):
        raise RuntimeError("the provider's API changed")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    resent = committed(request_send_again, request=request, actor=as_analyst)
    resent.refresh_from_db()
    assert (resent.attempts, resent.failed) == (1, False)
    for _ in range(2):  # the scheduled retries
        ResentEmail.objects.filter(pk=resent.pk).update(send_lease_until=None)
        committed(resent_email_send, resent.pk)

    resent.refresh_from_db()
    assert (resent.attempts, resent.failed) == (3, True)
    (entry,) = entries(request, "request.resend_failed")
    assert "the provider's API changed" in entry.body
    request.refresh_from_db()
    assert request.state == State.SENT  # the first email did go out


@pytest.mark.usefixtures("webhook_secret")
def test_a_reply_to_the_email_sent_again_is_its_answer(asked, committed, as_analyst, deliver):
    request = asked("failed-login")
    resent = committed(request_send_again, request=request, actor=as_analyst)

    inbound = deliver(
        message(to="soc@example.com", headers=f"In-Reply-To: {resent.message_id}\r\n")
    )

    assert (inbound.correlation, inbound.status, inbound.request) == (
        "message id",
        "answered",
        request,
    )
    assert titles(request) == ["Reset the credentials of Bob Builder"]


@pytest.mark.usefixtures("webhook_secret")
def test_a_reply_to_the_first_email_still_counts_after_sending_again(
    asked, committed, as_analyst, deliver
):
    request = asked("failed-login")
    committed(request_send_again, request=request, actor=as_analyst)

    inbound = deliver(message(to=reply_address(request)))

    assert (inbound.correlation, inbound.status) == ("reply address", "answered")


def test_a_provider_event_about_either_email_finds_the_question(asked, committed, as_analyst):
    request = asked("failed-login")
    resent = committed(request_send_again, request=request, actor=as_analyst)
    ResentEmail.objects.filter(pk=resent.pk).update(provider_message_id="provider-2")

    def event(message_id: str) -> AnymailTrackingEvent:
        return AnymailTrackingEvent(event_type="bounced", message_id=message_id, metadata={})

    assert _request_for(event("provider-2")) == request
    assert _request_for(event(resent.message_id)) == request
    assert _request_for(event(request.message_id)) == request
    assert _request_for(event("someone-else")) is None


def test_sending_again_waits_for_a_sending_slot_and_a_lost_task_is_swept_up(
    asked, committed, as_analyst, outbox, monkeypatch
):
    from django_q.models import Schedule

    from mailflow import request_actions
    from mailflow.pacing import Slot

    request = asked("failed-login")
    monkeypatch.setattr(
        request_actions, "send_slot_wait", lambda: Slot(taken=False, wait=30.0, at=0.0)
    )
    resent = committed(request_send_again, request=request, actor=as_analyst)
    resent.refresh_from_db()
    assert resent.sent_at is None and resent.send_lease_until > timezone.now()
    assert Schedule.objects.filter(func="mailflow.tasks.send_again").count() == 1
    assert request_actions.resent_emails_lost(timezone.now()) == []

    monkeypatch.undo()
    later = timezone.now() + timedelta(minutes=10)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    # Its retry was lost: the lease it kept has passed.
    ResentEmail.objects.filter(pk=resent.pk).update(
        created_at=an_hour_ago, send_lease_until=an_hour_ago
    )
    assert request_actions.resent_emails_lost(later) == [resent.pk]
    committed(requests_process_due, later)  # the schedule's sweep sends what was lost

    resent.refresh_from_db()
    assert resent.sent_at is not None
    assert len(outbox) == 2
