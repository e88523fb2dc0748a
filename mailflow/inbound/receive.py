"""Receiving: what the webhook side keeps of a provider's post, under a de-duplication
key, before anything reads it for meaning. A message anymail parsed in the request
(Amazon SES) is stored as raw MIME; a large post of the other providers is copied to disk
as it came (spooled) and stored as the post. Either way the row's processing is enqueued
after commit (mailflow.inbound.process)."""

import email.parser
import email.policy
import email.utils
import hashlib
import tempfile
from dataclasses import dataclass
from email.message import Message
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, transaction
from django.db.models.fields.files import FieldFile
from django.http import HttpRequest

from core.enqueue import enqueue_on_commit
from core.text import storable, storable_json
from mailflow import providers
from mailflow.models import InboundEmail
from mailflow.parsing.headers import normalise_message_id
from mailflow.parsing.message import walk_parts

_CHUNK = 64 * 1024
# Header blocks past this are cut short for the row's fields; the raw message keeps all.
_HEADER_BYTES = 256 * 1024


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
    raw, key, fields = describe_event(event)
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


def inbound_store_raw(
    *, source: str, raw: bytes, envelope_recipient: str = "", envelope_sender: str = ""
) -> tuple[InboundEmail, bool]:
    """For a message read from a mailbox (IMAP, Microsoft Graph) or received by our own
    SMTP server: keep its raw MIME under the key a webhook would give it and enqueue its
    processing after commit. Returns the row and whether it is new: the same message seen
    before (through a webhook, an earlier poll cut short) is the same row.

    Without an envelope (a mailbox), the recipient is the first address of the reply
    domain the message's delivery headers name, as the provider's envelope would."""
    headers = _headers(raw)
    message_id = normalise_message_id(headers.get("Message-ID")) or ""
    recipient = (envelope_recipient or _reply_domain_recipient(headers)).lower()
    fields = {
        "message_id": message_id[:250],
        "envelope_sender": envelope_sender[:254],
        "envelope_recipient": recipient[:254],
        "from_header": str(headers.get("From", ""))[:500],
        "to_header": str(headers.get("To", ""))[:5000],
        "subject": str(headers.get("Subject", ""))[:500],
        "size": len(raw),
    }
    inbound = InboundEmail(
        provider=source[:40],
        dedupe_key=storable(_dedupe_key(message_id, recipient, raw)[:400]),
        **storable_json(fields),
    )
    inbound.raw.save("message.eml", ContentFile(raw), save=False)
    kept = _keep(inbound, inbound.raw)
    return kept, kept is inbound


def _headers(raw: bytes) -> Message:
    """The header block alone (compat32 keeps values as they came): the body is read by
    the worker, not here."""
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    try:
        return parser.parsebytes(raw[:_HEADER_BYTES])
    except Exception:  # an unreadable header block is stored and flagged, not refused
        return Message()


def _reply_domain_recipient(headers: Message) -> str:
    domain = f"@{settings.REPLY_DOMAIN}".lower()
    for name in ("Delivered-To", "X-Original-To", "To", "Cc"):
        for value in headers.get_all(name) or []:
            for _, address in email.utils.getaddresses([str(value)]):
                if address.lower().endswith(domain):
                    return address
    return ""


def _dedupe_key(message_id: str, recipient: str, raw: bytes) -> str:
    """The same message to the same address is one row, however it arrived: by its
    Message-ID and recipient, or by its bytes when it has no Message-ID."""
    if message_id:
        return f"mid:{message_id}|to:{recipient}"
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def describe_event(event: Any) -> tuple[bytes, str, dict[str, Any]]:
    """The message anymail parsed: its raw MIME, its de-duplication key and the row's
    fields."""
    message = event.message
    if _is_empty(message):
        raise EmptyMessage("The webhook post holds no email message.")
    raw = providers.raw_mime(event)
    message_id = normalise_message_id(message.get("Message-ID")) or ""
    recipient = (getattr(message, "envelope_recipient", None) or "").lower()
    key = _dedupe_key(message_id, recipient, raw)
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
