"""The acknowledgement of an email reply: one email back to the person, in their language
and in the question's thread, saying what was recorded and what happens next.

Only for a reply taken as *the* answer (counted, from the person asked, tied to our email
by a secret, one of the question's options): never for an automatic reply, a bounce, a
held or flagged answer, and never to any address but the one we asked, so nobody can make
us mail a stranger by forging a From. Once per answer: planned in the transaction that
recorded the answer, claimed by a conditional UPDATE (due -> sending) when sent, so a
redelivered reply, a second reply with the same answer or a task run twice sends nothing
more. A worker killed between the claim and the send leaves it "sending": at most once,
since a second thank-you matters less than a duplicate.
"""

import logging
import random
import re
import secrets
from datetime import datetime, timedelta

from anymail.message import AnymailMessage
from django.db import transaction
from django.template.loader import get_template
from django.utils import timezone, translation
from django.utils.translation import gettext

from core.enqueue import enqueue_on_commit, run_once_at
from core.text import header_text
from incidents.timeline import timeline_record
from mailflow import timeline_kinds as kinds
from mailflow.emails import email_to_recipient, subject_tag
from mailflow.models import Answer, InboundEmail
from mailflow.pacing import send_slot_wait
from mailflow.request_lifecycle import recipient_name
from mailflow.send_errors import SendFailure, error_text, send_failure_kind
from mailflow.sending import MAILER, SEND_LEASE, new_message_id
from mailflow.what_next import next_text

logger = logging.getLogger(__name__)

DUE, SENDING, SENT, FAILED = "due", "sending", "sent", "failed"
# A send the provider puts off is tried again after about this long, until GIVE_UP_AFTER
# has passed since the answer: an acknowledgement a day late helps nobody.
RETRY_AFTER = timedelta(minutes=1)
GIVE_UP_AFTER = timedelta(hours=24)
# A Message-ID we put in In-Reply-To: normalised on the way in, checked again here since
# the reply's sender wrote it.
_MESSAGE_ID = re.compile(r"<[^\s<>\x00-\x1f\x7f]{1,500}>")


def acknowledgement_plan(answer: Answer) -> bool:
    """In the transaction that recorded an email reply: plan its acknowledgement if it is
    one, and send it after commit. True when planned now."""
    request = answer.request
    if not (
        answer.counted
        and answer.channel == Answer.Channel.EMAIL_REPLY
        and answer.from_recipient
        and not answer.sender_mismatch
        and not answer.suspected_automated
        and answer.option_key in {o["key"] for o in request.options}
        and request.recipient_email
    ):
        return False
    planned = Answer.objects.filter(pk=answer.pk, acknowledgement="").update(
        acknowledgement=DUE, acknowledge_at=timezone.now()
    )
    if planned:
        enqueue_on_commit("mailflow.tasks.acknowledge_answer", answer.pk)
    return bool(planned)


def answer_acknowledge(answer_id: int) -> bool:
    """Send the acknowledgement if it is due; True when sent now."""
    now = timezone.now()
    claimed = Answer.objects.filter(
        pk=answer_id, acknowledgement=DUE, acknowledge_at__lte=now
    ).update(acknowledgement=SENDING)
    if not claimed:
        return False
    answer = Answer.objects.select_related("request__incident", "request__person").get(pk=answer_id)
    if now - answer.received_at > GIVE_UP_AFTER:
        _record_failure(answer, "Not sent within a day of the answer; given up.")
        return False
    slot = send_slot_wait()
    if not slot.taken:
        _put_back(answer, now + timedelta(seconds=slot.wait))
        return False
    message = build_acknowledgement(answer)
    try:
        message.send()
    except Exception as error:
        logger.warning("Acknowledging answer %s failed: %s", answer_id, type(error).__name__)
        if send_failure_kind(error) is SendFailure.LATER:
            _put_back(answer, now + RETRY_AFTER * random.uniform(1.0, 2.0))
        else:
            _record_failure(answer, f"{type(error).__name__}: {error_text(error)}")
        return False
    request = answer.request
    with transaction.atomic():
        Answer.objects.filter(pk=answer_id).update(
            acknowledgement=SENT, acknowledge_at=timezone.now()
        )
        timeline_record(
            incident=request.incident,
            task=request.task,
            kind=kinds.ANSWER_ACKNOWLEDGED,
            actor=MAILER,
            summary=f"Reply acknowledged to {recipient_name(request)}",
            body=message.body,
            data={
                "request": request.pk,
                "answer": answer.pk,
                "message_id": message.extra_headers["Message-ID"],
            },
        )
    return True


def acknowledgements_lost(now: datetime) -> list[int]:
    """Acknowledgements due for a while with no task to send them (a lost enqueue or
    scheduled retry): for the schedule's sweep to send."""
    due = Answer.objects.filter(acknowledgement=DUE, acknowledge_at__lt=now - SEND_LEASE)
    return list(due.values_list("pk", flat=True)[:1000])


def build_acknowledgement(answer: Answer) -> AnymailMessage:
    request = answer.request
    ours = request.message_id
    theirs = _reply_message_id(answer)
    with translation.override(request.language or "en"):
        context = {
            "first_name": request.person.first_name if request.person else "",
            "incident_number": request.incident.number,
            "label": request.label_of(answer.option_key),
            "next": next_text(request, answer.option_key),
            "question": request.question,
        }
        body = get_template("mailflow/email/acknowledgement.txt").render(context)
        html = get_template("mailflow/email/acknowledgement.html").render(context)
        subject = gettext("Re: %(subject)s") % {"subject": header_text(request.subject)}
    headers = {
        "Message-ID": new_message_id(),
        # RFC 3834: an automatic answer to their message; auto-responders stay quiet.
        "Auto-Submitted": "auto-replied",
        "X-Auto-Response-Suppress": "All",
        "In-Reply-To": theirs or ours,
        "References": f"{ours} {theirs}" if theirs else ours,
    }
    # Only ever the address we asked: the reply's From was checked against it.
    return email_to_recipient(
        request, subject=f"{subject_tag(request)} {subject}", text=body, html=html,
        headers=headers, tag="answer-acknowledgement",
    )  # fmt: skip


def _reply_message_id(answer: Answer) -> str:
    """Their reply's Message-ID, as normalised when it came in; empty if unusable."""
    found = (
        InboundEmail.objects.filter(answer=answer)
        .exclude(message_id="")
        .order_by("pk")
        .values_list("message_id", flat=True)
        .first()
    )
    return found if found and _MESSAGE_ID.fullmatch(found) else ""


def _put_back(answer: Answer, at: datetime) -> None:
    """Not sent now (no sending slot, or the provider put it off): due again at `at`."""
    Answer.objects.filter(pk=answer.pk, acknowledgement=SENDING).update(
        acknowledgement=DUE, acknowledge_at=at
    )
    run_once_at(
        "mailflow.tasks.acknowledge_answer",
        answer.pk,
        name=f"Acknowledge answer {answer.pk} ({secrets.token_hex(4)})",
        at=at,
    )


def _record_failure(answer: Answer, reason: str) -> None:
    request = answer.request
    with transaction.atomic():
        Answer.objects.filter(pk=answer.pk).update(acknowledgement=FAILED)
        timeline_record(
            incident=request.incident,
            task=request.task,
            kind=kinds.ANSWER_ACKNOWLEDGEMENT_FAILED,
            actor=MAILER,
            summary=f"Reply from {recipient_name(request)} not acknowledged",
            body=reason[:2000],
            data={"request": request.pk, "answer": answer.pk},
        )
