import re

from incidents.models import ResponseTask
from mailflow.models import ConfirmationRequest
from mailflow.tokens import page_token, reply_token, token_digest

State = ConfirmationRequest.State


def test_the_ask_user_step_emails_the_question_with_its_headers(asked, outbox, settings):
    request = asked("policy-violation")

    assert request.state == State.SENT
    assert len(outbox) == 1
    email = outbox[0]
    assert email.to == ["bob@corp.example.com"]
    assert email.subject == f"[{request.incident.number}] Did you download this file?"
    assert email.reply_to == [f"reply+{reply_token(request.token_nonce)}@{settings.REPLY_DOMAIN}"]
    assert email.extra_headers["Message-ID"] == request.message_id
    assert email.extra_headers["Auto-Submitted"] == "auto-generated"
    assert email.extra_headers["X-Auto-Response-Suppress"] == "OOF, AutoReply"
    assert email.metadata == {"request_id": str(request.pk)}
    assert email.track_clicks is False and email.track_opens is False
    assert "Hello Bob," in email.body
    assert request.incident.number in email.body
    html = email.alternatives[0][0]
    assert "Yes, I downloaded this file" in html and "<img" not in html
    links = re.findall(r"http://127\.0\.0\.1:8000/respond/([^/]+)/\?choice=(\w+)", email.body)
    assert [key for _, key in links] == ["yes", "no", "suspicious"]
    assert {token_digest(token) for token, _ in links} == {request.token_hash}
    assert page_token(request.token_nonce) not in request.token_hash


def test_the_timeline_shows_the_question_and_the_email(asked):
    request = asked("policy-violation")

    kinds = list(request.incident.timeline.values_list("kind", flat=True))
    assert kinds == [
        "incident.opened",
        "runbook.started",
        "task.created",
        "incident.state_changed",
        "request.created",
        "task.awaiting_user",
        "request.sent",
    ]
    assert request.task.state == ResponseTask.State.AWAITING_USER


def test_a_failed_login_incident_is_in_analysis_once_the_question_is_sent(asked, outbox):
    request = asked("failed-login")

    incident = request.incident
    incident.refresh_from_db()
    assert request.state == State.SENT and len(outbox) == 1
    assert incident.state == "analysis"
    assert list(incident.timeline.values_list("kind", flat=True)) == [
        "incident.opened",
        "runbook.started",
        "incident.state_changed",
        "request.created",
        "request.sent",
    ]
    moved = incident.timeline.get(kind="incident.state_changed")
    assert moved.summary == "State changed from Draft to Analysis"
    assert (moved.actor_kind, moved.actor_name) == ("runbook", "Failed sign-ins")


def test_a_person_with_german_as_language_gets_the_german_email(asked, bob, outbox):
    bob.language = "de"
    bob.save()

    asked("failed-login")

    assert "Hallo Bob," in outbox[0].body
    assert "Sicherheitsvorfall" in outbox[0].body
