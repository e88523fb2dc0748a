"""Rows for the dashboard's figures, made directly: each test sets the exact states and
times a count depends on, which the services would only reach through whole journeys."""

from datetime import datetime, timedelta
from uuid import uuid4

from django.db.models import QuerySet
from django.test import Client
from django.utils import timezone

from incidents.models import SecurityIncident
from mailflow.models import Answer, ConfirmationRequest, InboundEmail
from runbooks.models import Runbook, RunbookRun

OPTIONS = [{"key": "yes", "label": "Yes, it was me"}, {"key": "no", "label": "No"}]


def question(
    incident: SecurityIncident,
    *,
    state: str = ConfirmationRequest.State.SENT,
    deadline_at: datetime | None = None,
    created_at: datetime | None = None,
    sent_at: datetime | None = None,
    answered_at: datetime | None = None,
) -> ConfirmationRequest:
    """A question on `incident` in `state`, asked by a run of an inactive runbook."""
    now = timezone.now()
    runbook, _ = Runbook.objects.get_or_create(
        name="Dashboard questions", defaults={"active": False}
    )
    run = RunbookRun.objects.create(
        runbook=runbook, version=1, definition={}, incident=incident, state="waiting"
    )
    key = uuid4().hex
    return ConfirmationRequest.objects.create(
        run=run,
        step_position=0,
        incident=incident,
        question="Did you sign in from abroad?",
        options=OPTIONS,
        subject="A question about your account",
        state=state,
        token_nonce=key[:32],
        token_hash=f"t{key}",
        reply_token_hash=f"r{key}",
        message_id=f"<{key}@soc.example.com>",
        deadline_at=deadline_at or now + timedelta(days=1),
        created_at=created_at or now,
        sent_at=sent_at,
        answered_at=answered_at,
    )


def answer(request: ConfirmationRequest, **flags) -> Answer:
    return Answer.objects.create(
        request=request, option_key="no", channel=Answer.Channel.PAGE, sender="Bob", **flags
    )


def inbound(status: str, incident: SecurityIncident | None = None) -> InboundEmail:
    return InboundEmail.objects.create(
        provider="postmark", dedupe_key=uuid4().hex, status=status, incident=incident
    )


def set_state(incident: SecurityIncident, state: str) -> None:
    closed = state in (SecurityIncident.State.CLOSED, SecurityIncident.State.CANCELLED)
    SecurityIncident.objects.filter(pk=incident.pk).update(
        state=state, closed_at=timezone.now() if closed else None
    )


def listed(client: Client, url: str) -> QuerySet:
    """The rows the admin list at `url` shows (all of them: the tests' lists are short)."""
    response = client.get(url)
    assert response.status_code == 200, url
    changelist = response.context["cl"]
    return changelist.queryset


def busy_month(now: datetime) -> None:
    """A month of work to look at: incidents opened and closed on most days, questions
    answered after minutes to hours, some waiting, held, late, failed."""
    from core.actors import Actor
    from incidents.services import task_create
    from tests.factories import open_incident

    priorities = [1, 2, 3, 3, 4, 4]
    states = ["analysis", "contain", "analysis", "draft", "closed", "cancelled", "review"]
    for day in range(30):
        for n in range(day % 4 + 1):
            incident = open_incident(
                short_description=f"Sign-ins from abroad {day}-{n}",
                priority=priorities[(day + n) % len(priorities)],
            )
            if day % 9 == 0 and n == 0:
                task_create(
                    actor=Actor.system(),
                    incident=incident,
                    title="Reset the password",
                    due_at=now - timedelta(hours=day + 1),
                )
            opened = now - timedelta(days=day, hours=n * 3)
            state = states[(day + n) % len(states)]
            closed = opened + timedelta(hours=5) if state in ("closed", "cancelled") else None
            SecurityIncident.objects.filter(pk=incident.pk).update(
                opened_at=opened, state=state, closed_at=closed
            )
            if n == 1 and day % 3 == 0:
                question(incident, state="no_answer", created_at=opened, sent_at=opened)
            else:
                sent = opened + timedelta(minutes=5)
                minutes = 10 + (day * 37 + n * 71) % 240
                question(
                    incident,
                    state="answered",
                    created_at=opened,
                    sent_at=sent,
                    answered_at=sent + timedelta(minutes=minutes),
                )
    fresh = open_incident(short_description="Phishing reported by finance", priority=1)
    for hours in (2, 3, 30):
        question(fresh, deadline_at=now + timedelta(hours=hours), sent_at=now)
    held = question(fresh, deadline_at=now + timedelta(hours=20), sent_at=now)
    answer(held, suspected_automated=True)
    question(fresh, state="undeliverable", sent_at=now)
    inbound(InboundEmail.Status.FAILED)
    inbound(InboundEmail.Status.FLAGGED, incident=fresh)
