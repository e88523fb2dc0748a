"""Answers to confirmation requests. `answer_record` is the one entry both the answer
page and the email path use; it decides what an answer means, writes it on the timeline,
files what came with it as evidence, and resumes the runbook exactly once."""

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.actors import Actor
from core.enqueue import run_once_at
from core.errors import DomainError
from incidents.models import Evidence
from incidents.services import evidence_add, task_create
from incidents.timeline import timeline_record
from mailflow import timeline_kinds as kinds
from mailflow.approval_tally import approval_tally, lock_run_of
from mailflow.models import OPEN_STATES, Answer, ConfirmationRequest
from mailflow.request_lifecycle import State, lock_request, recipient_name
from runbooks.outcomes import SUSPICIOUS, UNRECOGNISED
from runbooks.services import InlineAdvances, run_resume

# Default of ANSWER_HELD_TASK_MINUTES: how long an answer held as a possible mail scanner
# waits for an analyst, or the person answering again, before it becomes a task.
HELD_TASK_MINUTES = 60

CHANNEL_LABELS = {
    Answer.Channel.PAGE: "answer page",
    Answer.Channel.EMAIL_REPLY: "email reply",
    Answer.Channel.ADMIN: "incident page",
}


@dataclass
class UploadedFile:
    """A file that came with an answer, whatever the channel."""

    content: bytes | IO[bytes]
    filename: str
    content_type: str = ""


def answer_record(
    *,
    request: ConfirmationRequest,
    option_key: str,
    channel: str,
    sender: str = "",
    comment: str = "",
    from_recipient: bool = True,
    sender_mismatch: bool = False,
    suspected_automated: bool = False,
    ip_hash: str = "",
    user_agent: str = "",
    files: list[UploadedFile] | None = None,
    provenance: dict | None = None,
    accepted_by: Actor | None = None,
    voter: Actor | None = None,
    inline: InlineAdvances | None = None,
) -> Answer:
    """Record an answer, from the page or an email reply, and decide what it means:

    1. The same answer again (double click, back button, reply after clicking): no new
       answer; a new comment or new files are added to the incident as more information.
    2. Flagged (suspected automated, sender mismatch): stored and shown, never resumes.
       One held as a possible scanner is checked again later (mailflow.held_answers).
    3. A different answer after one was counted: stored as a revision, an analyst told.
    4. After the request closed (deadline, cancelled, undeliverable): stored as late.
    5. Otherwise it is *the* answer: the request is answered and the run resumes.
    Files are filed as evidence in every case but the first.

    `accepted_by` is the analyst who verified a reply the app could not tie to our email
    and took it as the answer: they are the actor of what it records. `voter`: who
    answered, when they are known by their login (a staff approver on the incident page).
    `inline`: advance the resumed run in this process (see runbooks.services.InlineAdvances).

    A counted answer to an approval request is a vote: the tally decides whether the
    approval is settled and resumes the run then (mailflow.approval_tally).
    """
    valid = {o["key"] for o in request.options} | {SUSPICIOUS, UNRECOGNISED}
    if option_key not in valid:
        raise DomainError("That is not one of the options of this question.")
    channel = Answer.Channel(channel)
    # A reply an approver wrote that reads as neither approve nor deny is kept, not
    # counted: their seat stays open for the vote (an unclear reply ends a question).
    unclear_vote = request.kind == ConfirmationRequest.Kind.APPROVAL and option_key == UNRECOGNISED
    with transaction.atomic():
        lock_run_of(request)
        request = lock_request(request.pk)
        counted = request.answers.filter(counted=True).first()
        flagged = suspected_automated or sender_mismatch or unclear_vote
        if counted and counted.option_key == option_key and not flagged:
            _record_additional_information(request, counted, comment, files or [], provenance)
            return counted
        answer = Answer.objects.create(
            request=request,
            option_key=option_key,
            channel=channel,
            comment=comment[:5000],
            sender=sender[:254],
            from_recipient=from_recipient,
            sender_mismatch=sender_mismatch,
            suspected_automated=suspected_automated,
            is_revision=bool(counted) and not flagged,
            late=not counted and not flagged and request.state not in OPEN_STATES,
            counted=not counted and not flagged and request.state in OPEN_STATES,
            ip_hash=ip_hash,
            user_agent=user_agent[:400],
            accepted_by=accepted_by.user if accepted_by else None,
        )
        _record_answer_on_timeline(request, answer, counted, accepted_by, voter)
        if answer.suspected_automated and request.state in OPEN_STATES:
            _schedule_held_check(answer)
        for file in files or []:
            _file_evidence(request, answer, file, provenance or {})
        actor = accepted_by or voter or Actor.end_user(sender or recipient_name(request))
        if answer.counted:
            request.state, request.answered_at = State.ANSWERED, answer.received_at
            request.save(update_fields=["state", "answered_at"])
            if request.kind == ConfirmationRequest.Kind.APPROVAL:
                approval_tally(request=request, actor=actor, vote=answer, inline=inline)
                return answer
            run_resume(
                run=request.run,
                outcome=option_key,
                answer_label=request.label_of(option_key),
                channel=CHANNEL_LABELS[channel],
                actor=actor,
                inline=inline,
                step_position=request.step_position,
            )
    return answer


def held_task_after() -> timedelta:
    return timedelta(minutes=getattr(settings, "ANSWER_HELD_TASK_MINUTES", HELD_TASK_MINUTES))


def _schedule_held_check(answer: Answer) -> None:
    """Check the held answer once its time is up (mailflow.held_answers): a task, unless it
    was settled by then. Written in the answer's transaction; the sweep catches a lost one."""
    run_once_at(
        "mailflow.tasks.escalate_held_answer",
        answer.pk,
        name=f"Check held answer {answer.pk}",
        at=answer.received_at + held_task_after(),
    )


def _record_answer_on_timeline(
    request: ConfirmationRequest,
    answer: Answer,
    counted: Answer | None,
    accepted_by: Actor | None = None,
    voter: Actor | None = None,
) -> None:
    who = answer.sender or recipient_name(request)
    label = request.label_of(answer.option_key)
    via = CHANNEL_LABELS[answer.channel]
    at = f"{timezone.localtime(answer.received_at):%Y-%m-%d %H:%M:%S %Z}"
    actor = accepted_by or voter or Actor.end_user(who)
    common = {"incident": request.incident, "task": request.task, "actor": actor}
    data = {
        "request": request.pk,
        "answer": answer.pk,
        "option": answer.option_key,
        "channel": answer.channel,
        "flags": answer.flags,
    }
    details = "\n".join(
        line
        for line in (
            f"Answered by {who} via {via} at {at}.",
            f"Verified and accepted as the answer by {accepted_by.name}." if accepted_by else "",
            f"Comment: {answer.comment}" if answer.comment else "",
            f"User agent: {answer.user_agent}" if answer.user_agent else "",
        )
        if line
    )
    if request.kind == ConfirmationRequest.Kind.APPROVAL:
        if answer.counted:
            return  # a vote: the tally writes it with the count (mailflow.approval_tally)
        if answer.option_key == UNRECOGNISED and not answer.held:
            timeline_record(
                kind=kinds.ANSWER_FLAGGED,
                summary=f"Reply from {who} not taken as a vote: it reads as neither "
                "approve nor deny",
                body=details,
                data=data,
                **common,
            )
            return
    if answer.counted:
        accepted = f" (accepted by {accepted_by.name})" if accepted_by else ""
        timeline_record(
            kind=kinds.ANSWER_RECEIVED,
            summary=f"{who} answered “{label}” by {via}{accepted}",
            body=details,
            data=data,
            **common,
        )
        return
    if answer.suspected_automated or answer.sender_mismatch:
        why = (
            "looks automated (mail scanner?)"
            if answer.suspected_automated
            else ("did not come from the person asked")
        )
        timeline_record(
            kind=kinds.ANSWER_FLAGGED,
            summary=f"Answer “{label}” via {via} not taken: it {why}",
            body=details,
            data=data,
            **common,
        )
        return
    if answer.is_revision:
        previous = request.label_of(counted.option_key)
        summary = f"{who} changed their answer from “{previous}” to “{label}”"
        title = f"Review changed answer from {who} ({previous} → {label})"
        kind = kinds.ANSWER_REVISED
    else:
        summary = f"Late answer from {who}: “{label}” (the question was {request.state})"
        title = f"Review late answer from {who}: {label}"
        kind = kinds.ANSWER_LATE
    timeline_record(kind=kind, summary=summary, body=details, data=data, **common)
    if request.incident.is_active:
        task_create(
            actor=Actor.system(),
            incident=request.incident,
            title=title,
            description=f"{summary}. The runbook did not act on it. {details}",
        )


def _record_additional_information(
    request: ConfirmationRequest,
    answer: Answer,
    comment: str,
    files: list[UploadedFile],
    provenance: dict | None,
) -> None:
    """Keep what a repeated answer adds (a later reply with screenshots, say); a plain
    double submission adds nothing, so it writes nothing."""
    known = set(
        Evidence.objects.filter(
            incident=request.incident, provenance__request=request.pk
        ).values_list("sha256", flat=True)
    )
    new_files = [f for f in files if _sha256(f.content) not in known]
    new_comment = comment.strip() if comment.strip() != answer.comment.strip() else ""
    if not new_files and not new_comment:
        return
    timeline_record(
        incident=request.incident,
        task=request.task,
        kind=kinds.ANSWER_ADDITIONAL,
        actor=Actor.end_user(answer.sender or recipient_name(request)),
        summary=f"More from {answer.sender or recipient_name(request)} about the same answer",
        body=new_comment,
        data={"request": request.pk, "answer": answer.pk, "files": len(new_files)},
    )
    for file in new_files:
        _file_evidence(request, answer, file, provenance or {})


def _sha256(content: bytes | IO[bytes]) -> str:
    if isinstance(content, bytes):
        return hashlib.sha256(content).hexdigest()
    digest = hashlib.sha256()
    content.seek(0)
    for chunk in iter(lambda: content.read(1024 * 1024), b""):
        digest.update(chunk)
    content.seek(0)
    return digest.hexdigest()


def _file_evidence(
    request: ConfirmationRequest, answer: Answer, file: UploadedFile, provenance: dict
) -> Evidence:
    source = (
        Evidence.Source.ANSWER_PAGE
        if answer.channel == Answer.Channel.PAGE
        else Evidence.Source.EMAIL_REPLY
    )
    return evidence_add(
        actor=Actor.end_user(answer.sender or recipient_name(request)),
        incident=request.incident,
        task=request.task,
        content=file.content,
        filename=file.filename,
        declared_content_type=file.content_type,
        source=source,
        provenance={
            "channel": answer.channel,
            "answer": answer.pk,
            "request": request.pk,
            "sender": answer.sender,
            "received_at": answer.received_at.isoformat(),
            "flags": answer.flags,
            **provenance,
        },
    )
