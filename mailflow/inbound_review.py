"""Emails held for an analyst: replies the app could not tie to our email.

Only our reply token or one of our Message-IDs proves that a reply answers our email. A
reply matched by the incident's subject tag alone (anyone can write `[SIR0001234]`), or
by a reply address we do not know, is kept and shown on the incident, and one task per
incident asks an analyst to verify such emails however many arrive. The analyst may then
accept one as the answer: it is recorded through answer_record like any answer, with the
analyst as its actor.
"""

from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.errors import DomainError
from incidents.models import SecurityIncident
from incidents.services import task_open_for_topic
from incidents.timeline import timeline_record
from mailflow import parsing
from mailflow import timeline_kinds as kinds
from mailflow.answers import answer_record
from mailflow.models import Answer, InboundEmail
from mailflow.reply_files import evidence_files

UNVERIFIED_TOPIC = "unverified_email"
_REPLY_SHOWN = 2000


def unverified_email_hold(
    *,
    inbound: InboundEmail,
    incident: SecurityIncident | None,
    sender: str,
    subject: str,
    text: str,
    why: str,
) -> None:
    """Show a held reply on its incident and join it to the incident's one open task to
    verify such emails (created by the first). Without an incident it stays in the
    inbound email list only. The sender's words go into the timeline entry, never into
    a task's title."""
    if incident is None:
        return
    actor = Actor.system("Inbound email")
    with transaction.atomic():
        # Locked until commit, so two workers never write the same count.
        incident = SecurityIncident.objects.select_for_update().get(pk=incident.pk)
        task = None
        if incident.is_active:
            task, _ = task_open_for_topic(
                actor=actor,
                incident=incident,
                topic=UNVERIFIED_TOPIC,
                title=f"Verify emails that name {incident.number} without our reply address",
                description=(
                    "Emails that name this incident, but carry neither the secret reply "
                    "address nor a Message-ID of the question we sent, were kept and not "
                    "taken as answers: anyone can write an incident number into a subject. "
                    "Each is on the timeline. Check with the person through another channel; "
                    "if one is genuine, open it and accept it as the answer."
                ),
            )
        held = incident.timeline.filter(kind=kinds.REPLY_UNVERIFIED)
        count = (held.filter(task=task) if task else held).count() + 1
        timeline_record(
            incident=incident,
            task=task,
            kind=kinds.REPLY_UNVERIFIED,
            actor=Actor.email_provider(inbound.provider or "Inbound email"),
            summary=f"Email {count} to verify, from {sender}: not taken as an answer",
            body=f"Subject: {subject}\nNot taken because {why}.\n\n{text[:_REPLY_SHOWN]}",
            data={"inbound_email": inbound.pk, "count": count},
        )


def inbound_accept_as_answer(*, inbound: InboundEmail, option_key: str, actor: Actor) -> Answer:
    """An analyst verified a held reply (by phone, say) and takes it as the answer. Its
    attachments are filed as evidence, and the runbook resumes on the analyst's word,
    as answer_record decides (a question already answered records a revision)."""
    with transaction.atomic():
        inbound = (
            InboundEmail.objects.select_for_update(of=("self",))
            .select_related("request")
            .get(pk=inbound.pk)
        )
        request = inbound.request
        if (
            inbound.status != InboundEmail.Status.FLAGGED
            or inbound.classification != parsing.REPLY
            or request is None
        ):
            raise DomainError("Only a held reply that names one question can be accepted.")
        if option_key not in {o["key"] for o in request.options}:
            raise DomainError("That is not one of the options of this question.")
        with inbound.raw.open("rb") as handle:
            msg = parsing.parse_message(handle.read())
        # A reply flagged with an answer of its own (another sender, a failed verdict)
        # has filed its attachments already.
        files = [] if inbound.answer_id else evidence_files(msg)[0]
        answer = answer_record(
            request=request,
            option_key=option_key,
            channel=Answer.Channel.EMAIL_REPLY,
            sender=msg.from_address or "",
            comment=inbound.reply_text,
            from_recipient=parsing.address_matches(msg.from_address, request.recipient_email),
            files=files,
            provenance={
                "message_id": inbound.message_id,
                "inbound_email": inbound.pk,
                "accepted_by": actor.name,
            },
            accepted_by=actor,
        )
        InboundEmail.objects.filter(pk=inbound.pk).update(
            status=InboundEmail.Status.ANSWERED,
            answer=answer,
            reason=f"{inbound.reason}\nAccepted as the answer by {actor.name}.".strip(),
            processed_at=timezone.now(),
        )
    return answer
