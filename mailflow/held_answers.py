"""Answers held as a possible mail scanner: posted within seconds of the email, or by a
headless browser. They are kept and shown on the incident, not taken, and settled one of
three ways:

- the person answers again, and that answer counts (answer_record);
- an analyst accepts the held answer with one click: answer_record records it once more,
  as the answer, in the analyst's name, and the run moves on;
- nobody does within ANSWER_HELD_TASK_MINUTES: a task asks an analyst to, one open task
  per incident however many answers are held (a campaign's gateway may click them all).

Replies from another sender are held too, but get their task at once and are accepted on
their email's page (mailflow.inbound_review), where the analyst sees the whole email.
"""

from datetime import datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from incidents.models import SecurityIncident
from incidents.services import task_open_for_topic
from incidents.timeline import timeline_record
from mailflow import timeline_kinds as kinds
from mailflow.answers import CHANNEL_LABELS, answer_record, held_task_after
from mailflow.models import HELD_ANSWERS, OPEN_STATES, Answer, ConfirmationRequest
from mailflow.scanners import looks_like_scanner

HELD_TOPIC = "held_answers"
CHECKER = Actor.system("Held answers")
# At most this many held answers made tasks per sweep; the next sweep takes the rest.
SWEEP_BATCH = 1000


def held_answers_of(incident: SecurityIncident) -> QuerySet[Answer]:
    """The incident's held answers whose question is still open, oldest first."""
    return (
        Answer.objects.filter(HELD_ANSWERS, request__incident=incident)
        .select_related("request__person", "review_task")
        .order_by("received_at", "id")
    )


def why_held(answer: Answer) -> str:
    """Why a page answer was taken for a scanner, in the analyst's words."""
    if looks_like_scanner(answer.user_agent):
        return "it was sent by a headless browser or a script, as mail scanners use"
    return "it was sent within seconds of the email, faster than people read"


def held_answer_accept(*, answer: Answer, actor: Actor) -> Answer:
    """An analyst takes an answer held as a possible scanner as the answer.

    1. Lock its question, so an answer arriving meanwhile is settled first.
    2. Refuse, saying why, unless it is held as a possible scanner and its question open:
       a second click, or one after the person answered again, changes nothing.
    3. Record it once more through answer_record with the analyst as `accepted_by`: the
       question is answered, the run resumes, the timeline says who accepted it.
    """
    with transaction.atomic():
        request = (
            ConfirmationRequest.objects.select_for_update(of=("self",))
            .select_related("person")
            .get(pk=answer.request_id)
        )
        answer = Answer.objects.get(pk=answer.pk)
        if answer.sender_mismatch:
            raise DomainError(
                "This reply did not come from the person asked, or failed the sender "
                "checks. Open the email to verify it; you can accept it there."
            )
        if not answer.suspected_automated or answer.counted:
            raise DomainError("Only an answer held as a possible mail scanner can be accepted.")
        if request.state not in OPEN_STATES:
            raise DomainError(_why_settled(request))
        return answer_record(
            request=request,
            option_key=answer.option_key,
            channel=answer.channel,
            sender=answer.sender,
            comment=answer.comment,
            from_recipient=answer.from_recipient,
            ip_hash=answer.ip_hash,
            user_agent=answer.user_agent,
            accepted_by=actor,
        )


def _why_settled(request: ConfirmationRequest) -> str:
    counted = request.answers.select_related("accepted_by").filter(counted=True).first()
    if counted is None:
        return (
            f"The question is {request.get_state_display().lower()}: a held answer can be "
            "accepted only while its question is open. Nothing changed."
        )
    label = request.label_of(counted.option_key)
    if counted.accepted_by:
        who = Actor.analyst(counted.accepted_by).name
        return f"This question was already accepted by {who} as “{label}”: nothing changed."
    who = counted.sender or "The person"
    return f"{who} answered again (“{label}”), and that answer counts: nothing changed."


def held_answer_escalate(answer_id: int, now: datetime | None = None) -> bool:
    """Make a held answer nobody settled in time an analyst task; returns whether it did.
    Once per answer: the answer keeps its task, and its question is locked first, as
    accepting does, so an answer accepted meanwhile gets none."""
    now = now or timezone.now()
    request_id = Answer.objects.filter(pk=answer_id).values_list("request_id", flat=True).first()
    if request_id is None:
        return False
    with transaction.atomic():
        request = (
            ConfirmationRequest.objects.select_for_update(of=("self",))
            .select_related("incident", "person")
            .get(pk=request_id)
        )
        answer = Answer.objects.select_for_update().get(pk=answer_id)
        if (
            not answer.suspected_automated
            or answer.counted
            or answer.review_task_id
            or answer.received_at + held_task_after() > now
            or request.state not in OPEN_STATES
            or not request.incident.is_active
        ):
            return False
        incident = request.incident
        task, _ = task_open_for_topic(
            actor=CHECKER,
            incident=incident,
            topic=HELD_TOPIC,
            title=f"Confirm answers held as a possible mail scanner on {incident.number}",
            description=(
                "Answers sent from the answer page within seconds of the email, or by a "
                "headless browser, were kept but not taken: a mail scanner may have clicked. "
                "Each is listed on the incident page under “Held answers”. If one is the "
                "person's (ask them through another channel when in doubt), press “Accept as "
                "the answer” there and the runbook continues."
            ),
        )
        Answer.objects.filter(pk=answer.pk).update(review_task=task)
        label = request.label_of(answer.option_key)
        timeline_record(
            incident=incident,
            task=task,
            kind=kinds.ANSWER_HELD_UNCONFIRMED,
            actor=CHECKER,
            summary=(
                f"Answer “{label}” from {answer.sender or 'the person asked'} held for "
                f"{_duration()} without confirmation: {task.number}"
            ),
            body=(
                f"Sent via {CHANNEL_LABELS[answer.channel]} at "
                f"{timezone.localtime(answer.received_at):%Y-%m-%d %H:%M:%S %Z}; held because "
                f"{why_held(answer)}."
            ),
            data={"request": request.pk, "answer": answer.pk, "task": task.number},
        )
    return True


def _duration() -> str:
    minutes = int(held_task_after().total_seconds() // 60)
    return "an hour" if minutes == 60 else f"{minutes} minutes"


def held_answers_escalate_due(now: datetime | None = None) -> int:
    """The sweep: every held answer past its time whose check was lost (a schedule row
    deleted, a worker killed). Returns how many became tasks."""
    now = now or timezone.now()
    due = Answer.objects.filter(
        suspected_automated=True,
        counted=False,
        review_task__isnull=True,
        received_at__lte=now - held_task_after(),
        request__state__in=OPEN_STATES,
    ).order_by("received_at")
    ids = list(due.values_list("pk", flat=True)[:SWEEP_BATCH])
    return sum(held_answer_escalate(answer_id, now) for answer_id in ids)
