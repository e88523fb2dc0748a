from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from incidents.models import Evidence, ResponseTask, SecurityIncident
from incidents.services import incident_transition
from mailflow.answers import UploadedFile, answer_record
from mailflow.due_requests import requests_process_due
from mailflow.models import Answer, ConfirmationRequest
from mailflow.sending import MAX_SEND_ATTEMPTS, request_send
from runbooks.models import RunbookRun
from tests.factories import PersonFactory, category, open_incident

State = ConfirmationRequest.State
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def record(committed, request, key, **kwargs):
    kwargs.setdefault("channel", Answer.Channel.PAGE)
    return committed(answer_record, request=request, option_key=key, **kwargs)


def titles(incident) -> list[str]:
    return list(incident.tasks.values_list("title", flat=True))


# --- answers ----------------------------------------------------------------------------


def test_an_answer_answers_the_request_files_evidence_and_resumes_the_run(asked, committed):
    request = asked("policy-violation")

    answer = record(
        committed, request, "yes", sender="Bob Builder",
        files=[UploadedFile(PNG, "screen.png", "image/png")],
    )  # fmt: skip

    request.refresh_from_db()
    assert (request.state, answer.counted) == (State.ANSWERED, True)
    assert request.answered_at == answer.received_at
    evidence = Evidence.objects.get()
    assert evidence.source == Evidence.Source.ANSWER_PAGE
    assert evidence.task == request.task
    assert evidence.provenance["answer"] == answer.pk
    assert evidence.provenance["sender"] == "Bob Builder"
    assert titles(request.incident) == [
        "Confirm the download with the user",
        "Analyse the evidence provided by the user",
    ]
    kinds = list(request.incident.timeline.values_list("kind", flat=True))
    assert kinds[-7:] == [
        "request.sent",
        "answer.received",
        "evidence.added",
        "runbook.resumed",
        "task.completed",
        "task.created",
        "runbook.completed",
    ]
    received = request.incident.timeline.get(kind="answer.received")
    assert received.summary == "Bob Builder answered “Yes, I downloaded this file” by answer page"
    assert received.actor_kind == "end_user"


def test_the_same_answer_twice_is_one_answer(asked, committed):
    request = asked("failed-login")

    first = record(committed, request, "no")
    second = record(committed, request, "no")

    assert first.pk == second.pk
    assert Answer.objects.count() == 1
    assert titles(request.incident) == ["Reset the credentials of Bob Builder"]


def test_a_different_answer_later_is_a_flagged_revision_that_does_not_branch_again(
    asked, committed
):
    request = asked("failed-login")
    record(committed, request, "yes")

    revision = record(committed, request, "no")

    assert (revision.is_revision, revision.counted) == (True, False)
    assert request.incident.timeline.filter(kind="answer.revised").count() == 1
    assert titles(request.incident) == [
        "Review changed answer from Bob Builder (Yes, that was me → No, that was not me)"
    ]
    assert request.incident.timeline.filter(kind="runbook.resumed").count() == 1


def test_a_suspected_automated_answer_is_stored_but_the_run_keeps_waiting(asked, committed):
    request = asked("failed-login")

    flagged = record(committed, request, "yes", suspected_automated=True)

    assert (flagged.counted, flagged.flags) == (False, ["suspected automated"])
    request.refresh_from_db()
    assert request.state == State.SENT
    assert RunbookRun.objects.get().state == RunbookRun.State.WAITING
    assert request.incident.timeline.filter(kind="answer.flagged").count() == 1
    # The real person answers afterwards and that answer counts.
    assert record(committed, request, "yes").counted


def test_an_answer_after_the_deadline_is_recorded_as_late_with_a_task(asked, committed):
    request = asked("failed-login")
    committed(requests_process_due, timezone.now() + timedelta(days=2))

    late = record(committed, request, "no")

    assert (late.late, late.counted) == (True, False)
    assert request.incident.timeline.filter(kind="answer.late").count() == 1
    assert titles(request.incident) == [
        "Contact Bob Builder directly",
        "Review late answer from Bob Builder: No, that was not me",
    ]


def test_an_unknown_option_is_refused(asked, committed):
    request = asked("failed-login")
    with pytest.raises(DomainError):
        record(committed, request, "maybe")
    assert not Answer.objects.exists()


def test_this_email_looks_suspicious_is_an_answer_the_runbook_can_branch_on(asked, committed):
    request = asked("failed-login")

    record(committed, request, "suspicious")

    assert titles(request.incident) == ["Contact Bob Builder directly"]


# --- reminders, deadlines, sending ------------------------------------------------------


def test_the_schedule_sends_one_reminder_then_expires_at_the_deadline(asked, committed, outbox):
    request = asked("failed-login")  # reminder after 4 h, deadline after 24 h
    now = timezone.now()

    assert committed(requests_process_due, now + timedelta(hours=1)) == (0, 0)
    assert committed(requests_process_due, now + timedelta(hours=5)) == (1, 0)
    assert committed(requests_process_due, now + timedelta(hours=6)) == (0, 0)
    assert len(outbox) == 2
    reminder = outbox[1]
    assert reminder.subject.startswith(f"[{request.incident.number}] Reminder:")
    assert reminder.extra_headers["In-Reply-To"] == request.message_id

    assert committed(requests_process_due, now + timedelta(hours=25)) == (0, 1)

    request.refresh_from_db()
    assert (request.state, request.reminders_sent) == (State.NO_ANSWER, 1)
    assert titles(request.incident) == ["Contact Bob Builder directly"]
    assert request.incident.timeline.filter(kind="request.expired").count() == 1


def test_an_error_that_is_not_throttling_is_retried_then_the_request_is_undeliverable(
    shipped, committed, bob, monkeypatch
):
    def refuse(self, *args, **kwargs):
        raise RuntimeError("the provider's API changed")

    monkeypatch.setattr("django.core.mail.EmailMessage.send", refuse)
    incident = committed(open_incident, category=category("failed-login"), affected_user=bob)
    request = ConfirmationRequest.objects.get(incident=incident)
    assert (request.state, request.send_attempts) == (State.PENDING, 1)
    assert "RuntimeError: the provider's API changed" in request.last_error

    for _ in range(MAX_SEND_ATTEMPTS - 1):
        committed(request_send, request.pk)  # the scheduled retries

    request.refresh_from_db()
    assert request.state == State.UNDELIVERABLE
    assert titles(incident) == ["Contact Bob Builder directly"]
    assert incident.timeline.filter(kind="request.undeliverable").count() == 1


def test_sending_twice_sends_one_email(asked, committed, outbox):
    request = asked("failed-login")
    committed(request_send, request.pk)
    assert len(outbox) == 1


def test_an_incident_without_an_affected_user_takes_the_undeliverable_branch(shipped, committed):
    incident = committed(open_incident, category=category("failed-login"))

    request = ConfirmationRequest.objects.get(incident=incident)
    assert request.state == State.UNDELIVERABLE
    assert titles(incident) == ["Contact the affected user directly"]


def test_closing_the_incident_withdraws_its_question(asked, committed):
    request = asked("failed-login")

    committed(
        incident_transition,
        actor=Actor.system(),
        incident=request.incident,
        to_state=SecurityIncident.State.CLOSED,
        reason="Duplicate",
    )

    request.refresh_from_db()
    assert request.state == State.CANCELLED
    assert not ResponseTask.objects.filter(incident=request.incident).exists()


def test_a_repeated_answer_with_new_files_adds_them_as_more_information(asked, committed):
    request = asked("policy-violation")
    record(committed, request, "yes", files=[UploadedFile(PNG, "first.png")])

    record(committed, request, "yes", files=[UploadedFile(PNG, "first-again.png")])
    assert request.incident.timeline.filter(kind="answer.additional").count() == 0

    other = PNG + b"more"
    record(committed, request, "yes", comment="Here is another one", files=[
        UploadedFile(other, "second.png")])  # fmt: skip

    assert Answer.objects.count() == 1
    assert list(Evidence.objects.values_list("filename", flat=True)) == ["first.png", "second.png"]
    more = request.incident.timeline.get(kind="answer.additional")
    assert more.body == "Here is another one"


# --- outsider-written text in the email's headers ---------------------------------------


@pytest.fixture
def titled(shipped, committed, outbox):
    """Open a failed-sign-in incident whose question's subject is the incident's title and
    the person's name; returns (request, the email sent)."""
    step = shipped["Failed sign-ins"].steps.filter(action="ask_user").order_by("position")[0]
    step.params["subject"] = "{incident_short_description} for {person_name}"
    step.save()

    def open_(title: str, last_name: str = "Builder"):
        person = PersonFactory(email="eve@corp.example.com", first_name="Eve", last_name=last_name)
        incident = committed(
            open_incident,
            category=category("failed-login"),
            affected_user=person,
            short_description=title,
        )
        request = ConfirmationRequest.objects.get(incident=incident)
        return request, outbox[-1] if outbox else None

    return open_


def sent_headers(email) -> tuple[str, list[str]]:
    """The Subject as a mail client decodes it, and every raw header line sent."""
    raw = email.message().as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    lines = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].split(b"\n")
    return str(parsed["Subject"]), [line.decode("ascii", "replace") for line in lines]


# NUL is refused by PostgreSQL before any email is built (removed at the edges).
@pytest.mark.parametrize(
    "character",
    ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\r", "\n", "\t", "\x7f"],
    ids=["VT", "FF", "FS", "GS", "RS", "US", "CR", "LF", "TAB", "DEL"],
)
def test_it_collapses_c0_controls_and_del_in_a_title_to_one_space(titled, character):
    request, email = titled(f"Invoice{character}Reply-To : attacker@evil.example")

    subject, lines = sent_headers(email)
    assert subject == (
        f"[{request.incident.number}] Invoice Reply-To : attacker@evil.example for Eve Builder"
    )
    assert not [line for line in lines if line.lower().startswith("reply-to :")]
    request.refresh_from_db()
    assert request.state == State.SENT


@pytest.mark.parametrize(
    "character", ["\x85", "\x80", "\x9b", "\x9f"], ids=["NEL", "PAD", "CSI", "APC"]
)
def test_it_collapses_c1_controls_in_a_title_to_one_space(titled, character):
    request, email = titled(f"Invoice{character}{character}paid")

    subject, _ = sent_headers(email)
    assert subject == f"[{request.incident.number}] Invoice paid for Eve Builder"


@pytest.mark.parametrize("character", ["\u2028", "\u2029"], ids=["LS", "PS"])
def test_it_collapses_unicode_line_and_paragraph_separators_to_one_space(titled, character):
    request, email = titled(f"Invoice{character}paid")

    subject, _ = sent_headers(email)
    assert subject == f"[{request.incident.number}] Invoice paid for Eve Builder"


@pytest.mark.parametrize(
    "character",
    ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069",
     "\u200e", "\u200f", "\u061c"],
)  # fmt: skip
def test_it_removes_bidi_overrides_isolates_and_marks_from_the_subject(titled, character):
    request, email = titled(f"invoice{character}fdp.exe")

    subject, _ = sent_headers(email)
    assert subject == f"[{request.incident.number}] invoicefdp.exe for Eve Builder"


@pytest.mark.parametrize("character", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"])
def test_it_removes_zero_width_characters_from_the_subject(titled, character):
    request, email = titled(f"Pay{character}pal")

    subject, _ = sent_headers(email)
    assert subject == f"[{request.incident.number}] Paypal for Eve Builder"


def test_it_cleans_the_person_name_in_the_subject_too(titled):
    request, email = titled("Sign-ins", last_name="Builder\x0bBcc: x@evil.example\u202e")

    subject, lines = sent_headers(email)
    assert subject == f"[{request.incident.number}] Sign-ins for Eve Builder Bcc: x@evil.example"
    assert not [line for line in lines if line.lower().startswith("bcc")]


def test_a_title_with_vt_cr_ff_and_fs_is_sent_not_undeliverable(titled, outbox):
    request, _ = titled("Invoice\x0b\r\x0c\x1cpaid")

    request.refresh_from_db()
    assert (request.state, request.send_attempts, request.last_error) == (State.SENT, 1, "")
    assert len(outbox) == 1
    sent = request.incident.timeline.get(kind="request.sent")
    assert sent.summary == (
        f"Email sent to Eve Builder: [{request.incident.number}] Invoice paid for Eve Builder"
    )
    assert not request.incident.timeline.filter(kind="request.undeliverable").exists()


def test_the_reminder_subject_is_cleaned_too(titled, committed, outbox):
    request, _ = titled("Invoice\x0bpaid\u202e")

    committed(requests_process_due, timezone.now() + timedelta(hours=5))

    subject, _ = sent_headers(outbox[-1])
    assert subject == f"[{request.incident.number}] Reminder: Invoice paid for Eve Builder"


def test_a_retry_leaves_no_schedule_behind_once_it_has_run(shipped, committed, bob, monkeypatch):
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.models import Schedule
    from django_q.scheduler import scheduler

    sends = iter([RuntimeError("the provider hiccupped")])

    def flaky(self, *args, **kwargs):
        error = next(sends, None)
        if error:
            raise error
        return 1

    monkeypatch.setattr("django.core.mail.EmailMessage.send", flaky)
    incident = committed(open_incident, category=category("failed-login"), affected_user=bob)
    retries = Schedule.objects.filter(func="mailflow.tasks.send_request")
    assert retries.count() == 1
    retries.update(next_run=timezone.now())

    scheduler(broker=get_broker())  # runs the retry (tasks are synchronous in tests)

    request = ConfirmationRequest.objects.get(incident=incident)
    assert request.state == State.SENT
    assert not retries.exists()
