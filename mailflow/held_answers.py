"""Answers held as a possible mail scanner: posted within seconds of the email, or by a
headless browser. They are kept and shown on the incident, not taken, and settled one of
two ways:

- the person answers again, and that answer counts (answer_record);
- an analyst accepts the held answer with one click: answer_record records it once more,
  as the answer, in the analyst's name, and the run moves on.

Replies from another sender are held too, but get their task at once and are accepted on
their email's page (mailflow.inbound_review), where the analyst sees the whole email.
"""

from django.db import transaction
from django.db.models import Q, QuerySet

from incidents.actors import Actor
from incidents.errors import DomainError
from incidents.models import SecurityIncident
from mailflow.models import Answer, ConfirmationRequest
from mailflow.scanners import looks_like_scanner
from mailflow.services import OPEN_STATES, answer_record


def held_answers_of(incident: SecurityIncident) -> QuerySet[Answer]:
    """The incident's held answers whose question is still open, oldest first."""
    return (
        Answer.objects.filter(
            Q(suspected_automated=True) | Q(sender_mismatch=True),
            request__incident=incident,
            request__state__in=OPEN_STATES,
            counted=False,
        )
        .select_related("request__person")
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
