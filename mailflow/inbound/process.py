"""Processing one stored message, all or nothing: classify it, correlate it with our
question, verify the sender and the provider's verdicts, and record what it means through
the services (the answer with answer_record, a bounce with request_mark_undeliverable).
The reading is pure (mailflow.parsing); every write goes through a service or ends the
row with its status and reason."""

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.fields.files import FieldFile
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from core import log_context
from core.actors import Actor
from incidents.models import SecurityIncident
from incidents.services import task_create
from incidents.timeline import timeline_record
from mailflow import parsing, providers
from mailflow import timeline_kinds as kinds
from mailflow.acknowledgements import acknowledgement_plan
from mailflow.answers import answer_record
from mailflow.away import request_away
from mailflow.inbound.retry import attempt_count, attempt_failed
from mailflow.inbound.stored_post import stored_post_unpack
from mailflow.inbound_review import unverified_email_hold
from mailflow.models import Answer, ConfirmationRequest, InboundEmail
from mailflow.parsing.away import read_return_date
from mailflow.parsing.headers import domain_of
from mailflow.reply_files import evidence_files
from mailflow.request_lifecycle import request_mark_undeliverable
from mailflow.tokens import token_digest
from runbooks.outcomes import SUSPICIOUS
from runbooks.services import InlineAdvances, advance_inline

Status = InboundEmail.Status
# Correlations that prove the sender had our email: the reply token is a secret, and so
# are our Message-IDs (random). Anyone can write "[SIR0001234]" in a subject.
TIED_TO_OUR_EMAIL = ("reply address", "message id")
# Our envelope sender, bounce+TOKEN@REPLY_DOMAIN: its token is a secret too, but only
# delivery reports belong there, so it ties a bounce or a delay to its question and never
# makes a message the answer.
BOUNCE_ADDRESS = "bounce address"
TIES_A_BOUNCE = (*TIED_TO_OUR_EMAIL, BOUNCE_ADDRESS)
# Verdict headers providers add: Postmark's Received-SPF, Mailgun's X-Mailgun-*.
_VERDICT_HEADERS = {
    "received-spf": "SPF",
    "x-mailgun-spf": "SPF",
    "x-mailgun-dkim-check-result": "DKIM",
}
_FAILED_VERDICT = re.compile(r"\b(dmarc|spf|dkim)=(fail|softfail|permerror)\b", re.IGNORECASE)


def inbound_process(inbound_id: int) -> None:
    """Process one stored message, all or nothing (one transaction, the row locked so a
    second worker waits and then finds it done). Attempts are counted before trying, so
    even a message that kills its worker ends as failed after MAX_ATTEMPTS, with the
    reason, visible in the admin and reprocessable there."""
    if not attempt_count(inbound_id):
        return
    # The run an answer resumes continues in this task, after commit: one trip through
    # the broker per reply instead of two (bench/reply_to_branch.py).
    written: list[FieldFile] = []
    with advance_inline() as inline:
        try:
            with transaction.atomic():
                inbound = (
                    InboundEmail.objects.select_for_update()
                    .filter(pk=inbound_id, status=Status.RECEIVED)
                    .first()
                )
                if inbound is None:
                    return
                if inbound.post:
                    raw = stored_post_unpack(inbound, written)
                    if raw is None:
                        return
                else:
                    with inbound.raw.open("rb") as handle:
                        raw = handle.read()
                _process(inbound, parsing.parse_message(raw), inline)
        except BaseException as error:
            # Rolled back (unless a hook failed after the commit): files this attempt wrote
            # that the row does not name go.
            for file in written:
                if not InboundEmail.objects.filter(pk=inbound_id, raw=file.name).exists():
                    file.delete(save=False)
            if not isinstance(error, Exception):
                raise
            attempt_failed(inbound_id, error)


def _process(inbound: InboundEmail, msg: parsing.ParsedMessage, inline: InlineAdvances) -> None:
    classification = parsing.classify(msg, our_domains=_our_domains())
    kind = classification.kind
    request, incident, how = _correlate(inbound, msg, kind)
    if incident is not None:
        log_context.set_incident(incident.number)
    links = {
        "classification": kind,
        "correlation": how,
        "request": request,
        "incident": incident,
    }
    sender = msg.from_address or inbound.envelope_sender or "an unknown sender"

    if kind == parsing.LOOP:
        return _finish(inbound, Status.IGNORED, "Our own email came back.", **links)
    if kind == parsing.BOUNCE:
        if request is None or how not in TIES_A_BOUNCE:
            # Anyone can write a bounce naming an incident: without our secret it only
            # tells an analyst, and the question stays open.
            _note(
                incident,
                kinds.BOUNCE_UNVERIFIED,
                f"A bounce from {sender} names this incident but not our email: nothing changed",
                f"Subject: {msg.subject}\n{classification.reason}. It carries no bounce "
                "address, reply address or Message-ID of ours, so it cannot end a question.",
                inbound=inbound,
            )
            return _finish(
                inbound,
                Status.FLAGGED,
                f"Bounce not tied to our email (matched by: {how}); nothing changed. "
                f"{classification.reason}",
                **links,
            )
        request_mark_undeliverable(
            request=request,
            actor=Actor.email_provider(inbound.provider),
            reason=f"Bounce received: {msg.subject}",
            inline=inline,
        )
        return _finish(inbound, Status.IGNORED, f"Bounce: {classification.reason}", **links)
    if kind == parsing.DELAY:
        return _delay_noted(inbound, msg, classification, links)
    if kind == parsing.AUTO_REPLY and request is not None and how in TIED_TO_OUR_EMAIL:
        done = _away_read(inbound, msg, request, inline)
        if done:
            return _finish(inbound, Status.FLAGGED, f"Automatic reply: {done}", **links)
    if kind in (parsing.AUTO_REPLY, parsing.READ_RECEIPT):
        what = "Read receipt" if kind == parsing.READ_RECEIPT else "Automatic reply"
        _note(
            incident,
            kinds.REPLY_AUTOMATIC,
            f"{what} from {sender}: not an answer",
            f"Subject: {msg.subject}\n{classification.reason}",
            inbound=inbound,
        )
        return _finish(inbound, Status.FLAGGED, f"{what}: {classification.reason}", **links)

    if request is None or how not in TIED_TO_OUR_EMAIL:
        reading = parsing.read_answer(msg.text, request.options if request else [])
        if how == BOUNCE_ADDRESS:
            # Mail servers send delivery reports and automatic replies to the envelope
            # sender; a person rarely sees it. What does not read as either may be a report
            # in a form we do not know, or a reply: an analyst decides.
            why = (
                "it came to the question's bounce address, where only delivery reports "
                "belong, and does not read as one"
            )
        elif incident:
            why = (
                "it names the incident in its subject but carries neither our reply "
                "address nor a Message-ID of ours"
            )
        else:
            why = "it matches none of our questions (unknown or expired reply address)"
        unverified_email_hold(inbound=inbound, incident=incident, sender=sender,
                              subject=msg.subject, text=reading.text, why=why)  # fmt: skip
        readable = (
            f" It reads as “{request.label_of(reading.key)}”."
            if request and reading.key != parsing.UNRECOGNISED
            else ""
        )
        return _finish(
            inbound, Status.FLAGGED, f"Not taken as the answer: {why}.{readable}",
            reply_text=reading.text, **links,
        )  # fmt: skip

    # read_answer strips the quoted part itself (the quote contains every option).
    reading = parsing.read_answer(
        msg.text, [*request.options, {"key": SUSPICIOUS, "label": "suspicious"}]
    )
    mismatch = not parsing.address_matches(msg.from_address, request.recipient_email)
    failures = _verdict_failures(inbound, msg)
    files, skipped = evidence_files(msg)
    answer = answer_record(
        request=request,
        option_key=reading.key,
        channel=Answer.Channel.EMAIL_REPLY,
        sender=msg.from_address or "",
        comment=reading.text,
        from_recipient=not mismatch,
        sender_mismatch=mismatch or bool(failures),
        files=files,
        provenance={
            "message_id": inbound.message_id,
            "inbound_email": inbound.pk,
            "verdicts": failures or ["none failed"],
        },
        inline=inline,
    )
    unfiled = f" Too large to file as evidence: {'; '.join(skipped)}." if skipped else ""
    if skipped:
        limit = filesizeformat(settings.EVIDENCE_MAX_BYTES)
        _note(
            incident,
            kinds.REPLY_ATTACHMENTS_SKIPPED,
            f"{len(skipped)} attachment(s) from {sender} too large to file as evidence",
            f"Over the evidence limit of {limit}: {'; '.join(skipped)}. The original "
            f"message, attachments included, is kept as inbound email {inbound.pk}.",
        )
    if mismatch or failures:
        why = (
            f"it came from {sender}, not {request.recipient_email}"
            if mismatch
            else "; ".join(failures)
        )
        _analyst_task(
            incident,
            f"Verify reply from {sender}",
            f"A reply to the question on {request.incident.number} was not taken as the "
            f"answer: {why}. Reply: {reading.text[:500]}",
        )
        return _finish(
            inbound, Status.FLAGGED, f"Not taken as the answer: {why}.{unfiled}",
            answer=answer, reply_text=reading.text, **links,
        )  # fmt: skip
    acknowledgement_plan(answer)
    return _finish(
        inbound, Status.ANSWERED, f"Read as {reading.key}: {reading.reason}{unfiled}",
        answer=answer, reply_text=reading.text, **links,
    )  # fmt: skip


def _away_read(
    inbound: InboundEmail,
    msg: parsing.ParsedMessage,
    request: ConfirmationRequest,
    inline: InlineAdvances,
) -> str:
    """An out-of-office reply from the person asked, tied to our email by a secret, that
    says when they are back: mailflow.away decides what that changes. "" when it says no
    date (or came from someone else): it is noted as any automatic reply."""
    if not request.is_open or not parsing.address_matches(
        msg.from_address, request.recipient_email
    ):
        return ""
    reading = read_return_date(msg.text, subject=msg.subject, received=inbound.received_at)
    if reading is None:
        return ""
    return request_away(
        request=request,
        reading=reading,
        inbound_id=inbound.pk,
        actor=Actor.email_provider("Inbound email"),
        inline=inline,
    )


def _correlate(
    inbound: InboundEmail, msg: parsing.ParsedMessage, kind: str
) -> tuple[ConfirmationRequest | None, SecurityIncident | None, str]:
    """The request (and incident) a message belongs to, and how we know: one of
    TIES_A_BOUNCE, "subject tag" or "none". The bounce address comes first: it names the
    one question whose email came back, whatever the report quotes. A token that is not
    ours ties nothing, and the other routes are tried."""
    requests = ConfirmationRequest.objects.select_related("incident")
    recipients = [inbound.envelope_recipient, *inbound.extra_addresses]
    for token in parsing.bounce_tokens(
        msg, reply_domain=settings.REPLY_DOMAIN, extra_addresses=recipients
    ):
        request = requests.filter(bounce_token_hash=token_digest(token)).first()
        if request:
            return request, request.incident, BOUNCE_ADDRESS
    tokens = parsing.reply_tokens(
        msg, reply_domain=settings.REPLY_DOMAIN, extra_addresses=recipients
    )
    message_ids = parsing.referenced_message_ids(msg)
    if kind in (parsing.BOUNCE, parsing.DELAY):
        tokens += parsing.original_reply_tokens(msg, reply_domain=settings.REPLY_DOMAIN)
        message_ids += parsing.original_message_ids(msg)
    for token in tokens:
        request = requests.filter(reply_token_hash=token_digest(token)).first()
        if request:
            return request, request.incident, "reply address"
    if message_ids:
        # Our Message-ID, or that of the email sent again (ResentEmail): either finds it.
        request = (
            requests.filter(message_id__in=message_ids).first()
            or requests.filter(resent_emails__message_id__in=message_ids).first()
        )
        if request:
            return request, request.incident, "message id"
    for number in parsing.subject_incident_numbers(msg.subject):
        incident = SecurityIncident.objects.filter(number=number).first()
        if incident:
            return _question_named(requests, incident, msg.from_address), incident, "subject tag"
    return None, None, "none"


def _question_named(
    requests: QuerySet[ConfirmationRequest], incident: SecurityIncident, sender: str | None
) -> ConfirmationRequest | None:
    """The question a held email most likely answers, for an analyst to accept it after
    verifying: the incident's only one, or among many (a campaign) the one asked of the
    sender. Only ever a suggestion: the From address proves nothing."""
    asked = requests.filter(incident=incident).exclude(state=ConfirmationRequest.State.CANCELLED)
    candidates = list(asked[:2])
    if len(candidates) > 1 and sender:
        candidates = list(asked.filter(recipient_email__iexact=sender)[:2])
    return candidates[0] if len(candidates) == 1 else None


def _verdict_failures(inbound: InboundEmail, msg: parsing.ParsedMessage) -> list[str]:
    """Why the provider doubts the message: its spam flag, its SPF/DKIM/DMARC/virus
    verdicts from the payload, and those it wrote into the topmost headers (lower ones
    were written by other hops, or by the sender). Only failures count: a sender who
    forges a header can forge a pass, never make us miss a fail."""
    verdicts = inbound.verdicts
    failures = ["the provider marked it as spam"] if verdicts.get("spam_detected") else []
    for name in ("spf", "dkim", "dmarc", "virus"):
        if str(verdicts.get(name, "")).lower() in providers.FAILED:
            failures.append(f"{name.upper()} {str(verdicts[name]).lower()}")
    results = msg.header("authentication-results") or ""
    failures += [f"{m.group(1).upper()} {m.group(2).lower()}" for m in
                 _FAILED_VERDICT.finditer(results)]  # fmt: skip
    for header, name in _VERDICT_HEADERS.items():
        value = (msg.header(header) or "").strip().split(" ", 1)[0].lower()
        if value in providers.FAILED:
            failures.append(f"{name} {value}")
    return list(dict.fromkeys(failures))


def _note(
    incident: SecurityIncident | None,
    kind: str,
    summary: str,
    body: str = "",
    *,
    inbound: InboundEmail | None = None,
) -> None:
    if incident is None:
        return
    with transaction.atomic():
        timeline_record(
            incident=incident,
            kind=kind,
            actor=Actor.email_provider("Inbound email"),
            summary=summary,
            body=body,
            data={"inbound_email": inbound.pk} if inbound else None,
        )


def _analyst_task(incident: SecurityIncident | None, title: str, description: str) -> None:
    if incident is not None and incident.is_active:
        task_create(
            actor=Actor.system("Inbound email"),
            incident=incident,
            title=title,
            description=description,
        )


def _delay_noted(
    inbound: InboundEmail,
    msg: parsing.ParsedMessage,
    classification: parsing.Classification,
    links: dict[str, Any],
) -> None:
    """A delay, a moderation hold or a retry notice: the email may still arrive, so the
    question stays open. Noted on the incident only when tied to our email by a secret
    (the bounce or reply token, or our Message-ID): a subject tag is guessable."""
    if links["request"] is not None and links["correlation"] in TIES_A_BOUNCE:
        _note(
            links["incident"],
            kinds.REQUEST_DELAYED,
            "Delivery of the question delayed or held: it stays open",
            f"Subject: {msg.subject}\n{classification.reason}",
        )
    _finish(inbound, Status.IGNORED, f"Delay: {classification.reason}", **links)


def _finish(inbound: InboundEmail, status: str, reason: str, **fields: Any) -> None:
    InboundEmail.objects.filter(pk=inbound.pk).update(
        status=status, reason=reason[:2000], processed_at=timezone.now(), **fields
    )


def _our_domains() -> set[str]:
    hosts = {urlsplit(settings.SITE_URL).hostname or "", settings.REPLY_DOMAIN}
    hosts.add(domain_of(settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">")))
    return {host.lower() for host in hosts if host}
