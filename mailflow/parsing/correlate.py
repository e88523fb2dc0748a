"""What an inbound message says about which question it belongs to.

These only extract candidates; the caller looks them up, in the order the reliability
brief gives: the bounce address (our envelope sender: only delivery reports belong
there), the reply token, then Message-IDs we sent, then the subject tag. Free subject text
is never a correlation input."""

import email.parser
import email.policy
import re
from collections.abc import Iterable

from mailflow.parsing.headers import (
    message_ids,
    normalise_message_id,
    parse_addresses,
)
from mailflow.parsing.message import ParsedMessage

# Our reply and bounce tokens: 160 bits as lower-case base32 (mailflow.tokens).
TOKEN_RE = re.compile(r"[a-z2-7]{32}")
_INCIDENT_TAG = re.compile(r"\[(SIR\d{7})\]", re.IGNORECASE)
_EMBEDDED_TYPES = (
    "message/rfc822",
    "message/global",
    "text/rfc822-headers",
    "message/global-headers",
    "message/disposition-notification",
)
_MAX_EMBEDDED = 5


def _dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _address_candidates(value: str) -> list[str]:
    # Delivered-To and provider fields are usually a bare address, sometimes "<addr>" or a
    # full "Name <addr>"; anything that does not parse is ignored.
    pairs = parse_addresses(value)
    return [address for _, address in pairs or []]


def _tokens_in(addresses: Iterable[str], reply_domain: str, prefix: str = "reply+") -> list[str]:
    domain = reply_domain.strip().lower()
    found = []
    for address in addresses:
        local, _, host = address.strip().lower().rpartition("@")
        if host != domain or not local.startswith(prefix):
            continue
        token = local.removeprefix(prefix)
        if TOKEN_RE.fullmatch(token):
            found.append(token)
    return _dedupe(found)


def _recipients(msg: ParsedMessage, extra_addresses: Iterable[str]) -> list[str]:
    """Where this copy was delivered first (the envelope, then the delivery headers), and
    only then the addresses the sender wrote: a message sent to two reply addresses
    arrives as one copy per address, and each copy answers its own question."""
    addresses: list[str] = []
    for value in extra_addresses:
        addresses.extend(_address_candidates(str(value)))
    for name in ("delivered-to", "x-original-to"):
        for value in msg.header_values(name):
            addresses.extend(_address_candidates(value))
    return [*addresses, *msg.to, *msg.cc]


def reply_tokens(
    msg: ParsedMessage, *, reply_domain: str, extra_addresses: Iterable[str] = ()
) -> list[str]:
    """Tokens of `reply+TOKEN@reply_domain` addresses the message was sent to.

    Looks at `extra_addresses` (the envelope recipient, provider fields), Delivered-To,
    X-Original-To, To and Cc, in that order. Only parsed addresses count, never display
    names."""
    return _tokens_in(_recipients(msg, extra_addresses), reply_domain)


def bounce_tokens(
    msg: ParsedMessage, *, reply_domain: str, extra_addresses: Iterable[str] = ()
) -> list[str]:
    """Tokens of `bounce+TOKEN@reply_domain` addresses (our envelope sender) the message
    was sent to, read from the same fields as reply_tokens. Whether a token is ours is
    for the caller to check: these are only its form."""
    return _tokens_in(_recipients(msg, extra_addresses), reply_domain, prefix="bounce+")


def referenced_message_ids(msg: ParsedMessage) -> list[str]:
    """In-Reply-To first, then References, normalised and without repeats."""
    return _dedupe([msg.in_reply_to or "", *msg.references])


def subject_incident_numbers(subject: str) -> list[str]:
    """Incident numbers from `[SIR0001234]` tags (exactly seven digits), upper-cased."""
    return _dedupe(m.group(1).upper() for m in _INCIDENT_TAG.finditer(subject or ""))


def _header_block(content: bytes) -> dict[str, list[str]]:
    # compat32 keeps the raw values: they are parsed again by the helpers that read them.
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    try:
        headers = parser.parsebytes(content[:200_000])
    except Exception:  # a broken original only means one fewer correlation input
        return {}
    block: dict[str, list[str]] = {}
    for name, value in headers.items()[:300]:
        block.setdefault(str(name).lower(), []).append(str(value))
    return block


def _embedded_headers(msg: ParsedMessage) -> list[dict[str, list[str]]]:
    """Raw header fields of the original messages a report or bounce carries."""
    blocks = []
    for attachment in msg.attachments:
        if attachment.content_type not in _EMBEDDED_TYPES or not attachment.content:
            continue
        block = _header_block(attachment.content)
        if attachment.content_type == "message/disposition-notification":
            # A read receipt names the original only in its Original-Message-ID field.
            block = {"message-id": block.get("original-message-id", [])}
        if block:
            blocks.append(block)
        if len(blocks) >= _MAX_EMBEDDED:
            break
    if not blocks and msg.text:
        # Bounces without a MIME report (qmail's "failure notice") quote the original's
        # headers in the text body.
        block = {}
        pattern = r"(?im)^(message-id|references|in-reply-to|reply-to):[ \t]*(.+)$"
        for name, value in re.findall(pattern, msg.text[:200_000]):
            block.setdefault(name.lower(), []).append(value)
        if block:
            blocks.append(block)
    return blocks


def original_message_ids(msg: ParsedMessage) -> list[str]:
    """Message-IDs of the original a bounce or receipt carries: its own Message-ID, then
    the ids it referred to (a reminder refers to the question's Message-ID).

    Meant for messages classified as bounces or read receipts; a reply's own headers are
    read with referenced_message_ids."""
    found = []
    for block in _embedded_headers(msg):
        found.append(normalise_message_id((block.get("message-id") or [""])[0]) or "")
        for name in ("in-reply-to", "references"):
            for value in block.get(name, []):
                found.extend(message_ids(value))
    return _dedupe(found)


def original_reply_tokens(msg: ParsedMessage, *, reply_domain: str) -> list[str]:
    """Reply tokens in the Reply-To of the original a bounce or receipt carries."""
    addresses = []
    for block in _embedded_headers(msg):
        for value in block.get("reply-to", []):
            addresses.extend(_address_candidates(value))
    return _tokens_in(addresses, reply_domain)
