"""Inbound email: store what a provider posts (the receiver: the message anymail read in
the request, or a large post as it came, read here first), then process it (a task).

Processing, in order (pure reading in mailflow.parsing, every write through a service):
1. Classify: our own mail looping back, bounce, read receipt, auto-reply, or a reply.
2. Correlate: the reply+TOKEN address, then In-Reply-To/References against the
   Message-IDs we sent, then the [SIR…] subject tag. Never free subject text. Only the
   first two carry a secret of ours: a reply or bounce matched by the tag alone is held
   for an analyst to verify (mailflow.inbound_review) and moves nothing by itself.
3. Verify the sender: From must be the person asked; the provider's spam and
   SPF/DKIM/DMARC verdicts must not fail.
4. Read the answer from the reply without its quoted part; file the attachments.
5. Record it with answer_record, the same entry as the answer page.
"""

import hashlib
import logging
import re
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from email.message import Message
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

from anymail.webhooks.base import AnymailBaseWebhookView
from anymail.webhooks.mailgun import MailgunInboundWebhookView
from anymail.webhooks.postmark import PostmarkInboundWebhookView
from anymail.webhooks.sendgrid import SendGridInboundWebhookView
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.handlers.wsgi import WSGIRequest
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from core.actors import Actor
from core.enqueue import async_task, enqueue_on_commit, run_once_at
from core.text import storable, storable_json
from incidents.models import SecurityIncident
from incidents.services import task_create
from incidents.timeline import timeline_record
from mailflow import parsing, providers
from mailflow import timeline_kinds as kinds
from mailflow.inbound_review import unverified_email_hold
from mailflow.models import Answer, ConfirmationRequest, InboundEmail
from mailflow.parsing.headers import domain_of, normalise_message_id
from mailflow.parsing.message import walk_parts
from mailflow.reply_files import evidence_files
from mailflow.services import answer_record, request_mark_undeliverable
from mailflow.tokens import token_digest
from runbooks.actions import SUSPICIOUS
from runbooks.services import InlineAdvances, advance_inline
from soc.middleware import BAD_INPUT, bad_input_reason, use_body

logger = logging.getLogger(__name__)

Status = InboundEmail.Status
MAX_ATTEMPTS = 3
# Retries run after 1 and 2 minutes; a message still "received" well after that was lost.
STUCK_AFTER = timedelta(minutes=10)
_CHUNK = 64 * 1024
# Verdict headers providers add: Postmark's Received-SPF, Mailgun's X-Mailgun-*.
_VERDICT_HEADERS = {
    "received-spf": "SPF",
    "x-mailgun-spf": "SPF",
    "x-mailgun-dkim-check-result": "DKIM",
}
_FAILED_VERDICT = re.compile(r"\b(dmarc|spf|dkim)=(fail|softfail|permerror)\b", re.IGNORECASE)


# --- receiving --------------------------------------------------------------------------


class EmptyMessage(ValueError):
    """A post that carries no message at all (no address, subject, id or content): the
    webhook middleware answers 400, as for any other malformed payload."""


def _is_empty(message: Message) -> bool:
    if any(message.get(name) for name in ("From", "To", "Cc", "Subject", "Message-ID")):
        return False
    return not any(
        part.get_payload(decode=True) for part in walk_parts(message) if not part.is_multipart()
    )


def inbound_store(*, provider: str, event: Any) -> InboundEmail:
    """For a message anymail parsed in the request (Amazon SES): keep it under its
    de-duplication key and enqueue its processing after commit. The same message delivered
    again is the same row."""
    raw, key, fields = _describe(event)
    inbound = InboundEmail(provider=provider[:40], dedupe_key=key, **fields)
    inbound.raw.save("message.eml", ContentFile(raw), save=False)
    return _keep(inbound, inbound.raw)


@dataclass
class SpooledPost:
    """A request's body copied to a temporary file (on disk past 1 MB), with its hash."""

    file: tempfile.SpooledTemporaryFile
    sha256: str
    size: int


def spool_post(request: HttpRequest) -> SpooledPost:
    """Copy the request's body in _CHUNK pieces: a large message costs the web worker a
    buffer, not its size. The caller closes the file (inbound_receive does)."""
    digest = hashlib.sha256()
    spool = tempfile.SpooledTemporaryFile(max_size=16 * _CHUNK)  # noqa: SIM115
    while chunk := request.read(_CHUNK):
        digest.update(chunk)
        spool.write(chunk)
    return SpooledPost(spool, digest.hexdigest(), spool.tell())


def inbound_receive(
    *, provider: str, request: HttpRequest, spooled: SpooledPost | None = None
) -> InboundEmail:
    """For an authenticated post of a provider in POST_PARSERS: keep the post as it came
    (`spooled`, when the view has copied it already), streamed to disk, and enqueue its
    parsing and processing. The same post again (a provider's retry) is the same row; the
    same message in another post is found when the worker parses it."""
    post = spooled or spool_post(request)
    with post.file:
        if not post.size:
            raise EmptyMessage("The webhook post is empty.")
        inbound = InboundEmail(
            provider=provider[:40],
            dedupe_key=f"post:{post.sha256}",
            post_content_type=request.META.get("CONTENT_TYPE", "")[:200],
            size=post.size,
        )
        inbound.post.save("post", File(post.file), save=False)
    return _keep(inbound, inbound.post)


def _keep(inbound: InboundEmail, written: FieldFile) -> InboundEmail:
    """Insert the row whose file was just written; the file goes if the row does not. A
    message or post stored before is found by its unique key (no lookup first: repeats
    are rare, and the insert must guard against concurrent ones anyway)."""
    try:
        with transaction.atomic():
            inbound.save()
            # robust: once the row is committed, a failed enqueue after it (Redis gone at
            # that instant) must not delete the file below and answer 503; the message
            # stays "received" and the sweeper enqueues it.
            enqueue_on_commit("mailflow.tasks.process_inbound", inbound.pk, robust=True)
    except IntegrityError:
        # The same message or post was stored first.
        written.delete(save=False)
        return InboundEmail.objects.get(dedupe_key=inbound.dedupe_key)
    except BaseException:
        # No row, no file: the webhook answers 503 and the provider posts it again.
        written.delete(save=False)
        raise
    return inbound


def _describe(event: Any) -> tuple[bytes, str, dict[str, Any]]:
    """The message anymail parsed: its raw MIME, its de-duplication key and the row's
    fields."""
    message = event.message
    if _is_empty(message):
        raise EmptyMessage("The webhook post holds no email message.")
    raw = providers.raw_mime(event)
    message_id = normalise_message_id(message.get("Message-ID")) or ""
    recipient = (getattr(message, "envelope_recipient", None) or "").lower()
    if message_id:
        key = f"mid:{message_id}|to:{recipient}"
    else:
        key = f"sha256:{hashlib.sha256(raw).hexdigest()}"
    # What the sender wrote is stored without what the database refuses (NUL); the raw
    # message keeps every byte.
    fields = {
        "provider_event_id": (getattr(event, "event_id", None) or "")[:200],
        "message_id": message_id[:250],
        "envelope_sender": (getattr(message, "envelope_sender", None) or "")[:254],
        "envelope_recipient": recipient[:254],
        "from_header": str(message.get("From", ""))[:500],
        "to_header": str(message.get("To", ""))[:5000],
        "subject": str(message.get("Subject", ""))[:500],
        "size": len(raw),
        "extra_addresses": providers.recipient_fields(event),
        "verdicts": providers.verdicts(event),
    }
    return raw, storable(key[:400]), storable_json(fields)


# --- processing -------------------------------------------------------------------------


def _our_domains() -> set[str]:
    hosts = {urlsplit(settings.SITE_URL).hostname or "", settings.REPLY_DOMAIN}
    hosts.add(domain_of(settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">")))
    return {host.lower() for host in hosts if host}


# Providers whose inbound posts the webhook keeps as they came (mailflow.webhooks); the
# worker parses them with anymail's own view. Their posts carry one message each.
POST_PARSERS: dict[str, type[AnymailBaseWebhookView]] = {
    "Postmark": PostmarkInboundWebhookView,
    "Mailgun": MailgunInboundWebhookView,
    "SendGrid": SendGridInboundWebhookView,
}


class MalformedPost(ValueError):
    """A stored post anymail cannot read: failed at once, since reading it again cannot
    succeed; the post stays for an analyst."""


def _parse_post(inbound: InboundEmail, written: list[FieldFile]) -> bytes | None:
    """Turn the locked row's stored post into the message it carries: the row gets the
    raw MIME (its file added to `written`, for the caller to remove if the transaction
    rolls back), the message's fields and its de-duplication key; the post file goes after
    commit. Returns the raw MIME, or None when the message was received before in another
    post (the provider sent it again with a new event id): then the row is a duplicate."""
    with inbound.post.open("rb") as handle:
        body = handle.read()
    raw, key, fields = _describe(_event_from_post(inbound, body))
    post, post_key = inbound.post.name, inbound.dedupe_key
    inbound.raw.save("message.eml", ContentFile(raw), save=False)
    written.append(inbound.raw)
    for name, value in fields.items():
        setattr(inbound, name, value)
    inbound.post, inbound.dedupe_key = "", key
    try:
        with transaction.atomic():
            inbound.save(update_fields=["raw", "post", "dedupe_key", *fields])
    except IntegrityError:
        original = InboundEmail.objects.get(dedupe_key=key)
        inbound.dedupe_key, inbound.status = post_key, Status.DUPLICATE
        inbound.reason = f"The same message as inbound email {original.pk}, delivered again."
        inbound.processed_at = timezone.now()
        inbound.save(update_fields=["raw", "post", "status", "reason", "processed_at", *fields])
        raw = None
    transaction.on_commit(lambda: inbound.post.storage.delete(post), robust=True)
    return raw


def _event_from_post(inbound: InboundEmail, body: bytes) -> Any:
    """anymail's event for a stored post, read by the provider's own webhook view from a
    request rebuilt around the post (the checks ran when it arrived)."""
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "443",
            "wsgi.url_scheme": "https",
            "CONTENT_TYPE": inbound.post_content_type,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": BytesIO(body),
        }
    )
    try:
        use_body(request, body)
        providers.refuse_deep_post(request)
        events = POST_PARSERS[inbound.provider]().parse_events(request)
    except BAD_INPUT as error:
        raise MalformedPost(
            f"The provider's post could not be read ({bad_input_reason(error)}); it is kept "
            "as it came."
        ) from error
    if len(events) != 1:
        raise MalformedPost(f"The provider's post holds {len(events)} messages, not one.")
    return events[0]


def inbound_process(inbound_id: int) -> None:
    """Process one stored message, all or nothing (one transaction, the row locked so a
    second worker waits and then finds it done). Attempts are counted before trying, so
    even a message that kills its worker ends as failed after MAX_ATTEMPTS, with the
    reason, visible in the admin and reprocessable there."""
    counted = InboundEmail.objects.filter(
        pk=inbound_id, status=Status.RECEIVED, attempts__lt=MAX_ATTEMPTS
    ).update(attempts=F("attempts") + 1)
    if not counted:
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
                    raw = _parse_post(inbound, written)
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
            _fail(inbound_id, error)


def _fail(inbound_id: int, error: Exception) -> None:
    """A post anymail cannot read, or one without a message, fails at once: reading it
    again cannot succeed. Anything else is tried again, up to MAX_ATTEMPTS."""
    if isinstance(error, MalformedPost | EmptyMessage):
        logger.warning("Inbound email %s: %s", inbound_id, type(error).__name__)
        InboundEmail.objects.filter(pk=inbound_id).update(
            status=Status.FAILED, reason=str(error), processed_at=timezone.now()
        )
    else:
        logger.exception("Inbound email %s failed", inbound_id, exc_info=error)
        _record_failure(inbound_id, f"{type(error).__name__}: {error}"[:2000])


def _record_failure(inbound_id: int, reason: str) -> None:
    inbound = InboundEmail.objects.get(pk=inbound_id)
    if inbound.attempts >= MAX_ATTEMPTS:
        InboundEmail.objects.filter(pk=inbound_id).update(
            status=Status.FAILED, reason=reason, processed_at=timezone.now()
        )
        return
    InboundEmail.objects.filter(pk=inbound_id).update(reason=reason)
    run_once_at(
        "mailflow.tasks.process_inbound",
        inbound_id,
        name=f"Retry inbound email {inbound_id} ({inbound.attempts})",
        at=timezone.now() + timedelta(minutes=inbound.attempts),
    )


def inbound_reprocess(*, inbound: InboundEmail) -> bool:
    """After a fix: process a failed message again from its stored original."""
    updated = InboundEmail.objects.filter(pk=inbound.pk, status=Status.FAILED).update(
        status=Status.RECEIVED, attempts=0, reason=""
    )
    if updated:
        enqueue_on_commit("mailflow.tasks.process_inbound", inbound.pk)
    return bool(updated)


def inbound_sweep(stuck_after: timedelta = STUCK_AFTER) -> tuple[int, int]:
    """Scheduled: bring back messages left "received" (the enqueue after commit was lost,
    or a worker was killed mid-processing with no retry scheduled). Those with attempts
    left are enqueued again (processing claims the row, so a copy still queued is
    harmless); those whose every attempt was cut short end as failed, reprocessable.
    Returns (enqueued, failed)."""
    stuck = InboundEmail.objects.filter(
        status=Status.RECEIVED, received_at__lt=timezone.now() - stuck_after
    )
    failed = stuck.filter(attempts__gte=MAX_ATTEMPTS).update(
        status=Status.FAILED,
        reason=f"Processing stopped without finishing on all {MAX_ATTEMPTS} attempts "
        "(a worker was killed or timed out). Reprocess it once the cause is fixed.",
        processed_at=timezone.now(),
    )
    ids = list(stuck.filter(attempts__lt=MAX_ATTEMPTS).values_list("pk", flat=True)[:1000])
    for inbound_id in ids:
        async_task("mailflow.tasks.process_inbound", inbound_id)
    return len(ids), failed


def _finish(inbound: InboundEmail, status: str, reason: str, **fields: Any) -> None:
    InboundEmail.objects.filter(pk=inbound.pk).update(
        status=status, reason=reason[:2000], processed_at=timezone.now(), **fields
    )


# Correlations that prove the sender had our email: the reply token is a secret, and so
# are our Message-IDs (random). Anyone can write "[SIR0001234]" in a subject.
TIED_TO_OUR_EMAIL = ("reply address", "message id")


def _correlate(
    inbound: InboundEmail, msg: parsing.ParsedMessage, kind: str
) -> tuple[ConfirmationRequest | None, SecurityIncident | None, str]:
    """The request (and incident) a message belongs to, and how we know: one of
    TIED_TO_OUR_EMAIL, "subject tag" or "none"."""
    requests = ConfirmationRequest.objects.select_related("incident")
    tokens = parsing.reply_tokens(
        msg,
        reply_domain=settings.REPLY_DOMAIN,
        extra_addresses=[inbound.envelope_recipient, *inbound.extra_addresses],
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
        request = requests.filter(message_id__in=message_ids).first()
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
    (the reply token or our Message-ID): a subject tag is guessable."""
    if links["request"] is not None and links["correlation"] in TIED_TO_OUR_EMAIL:
        _note(
            links["incident"],
            kinds.REQUEST_DELAYED,
            "Delivery of the question delayed or held: it stays open",
            f"Subject: {msg.subject}\n{classification.reason}",
        )
    _finish(inbound, Status.IGNORED, f"Delay: {classification.reason}", **links)


def _process(inbound: InboundEmail, msg: parsing.ParsedMessage, inline: InlineAdvances) -> None:
    classification = parsing.classify(msg, our_domains=_our_domains())
    kind = classification.kind
    request, incident, how = _correlate(inbound, msg, kind)
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
        if request is None or how not in TIED_TO_OUR_EMAIL:
            # Anyone can write a bounce naming an incident: without our secret it only
            # tells an analyst, and the question stays open.
            _note(
                incident,
                kinds.BOUNCE_UNVERIFIED,
                f"A bounce from {sender} names this incident but not our email: nothing changed",
                f"Subject: {msg.subject}\n{classification.reason}. It carries neither a "
                "reply address nor a Message-ID of ours, so it cannot end a question.",
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
        why = (
            "it names the incident in its subject but carries neither our reply address nor "
            "a Message-ID of ours"
            if incident
            else "it matches none of our questions (unknown or expired reply address)"
        )
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
    return _finish(
        inbound, Status.ANSWERED, f"Read as {reading.key}: {reading.reason}{unfiled}",
        answer=answer, reply_text=reading.text, **links,
    )  # fmt: skip
