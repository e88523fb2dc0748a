"""Raw MIME to a ParsedMessage, bounded in time and memory whatever the sender wrote.

The email package's default policy does the MIME work; this module decides how far to
trust it: header values are decoded by our own tolerant code (headers.py), the part tree
is walked with depth and count limits, and nothing larger than a limit is decoded."""

import email
import email.feedparser
import email.parser
import email.policy
import email.utils
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from typing import Any

from mailflow.parsing.headers import (
    clean_text,
    decode_bytes,
    decode_header_value,
    message_ids,
    normalise_message_id,
    parse_addresses,
    single_address,
)
from mailflow.parsing.htmltext import html_to_text

MAX_MESSAGE_BYTES = 60 * 1024 * 1024  # above this only the headers are read
MAX_DELIMITER_LINES = 1_200  # "--" lines parsed at most: bounds the parser on part floods
MAX_DEPTH = 20  # parts nested deeper than this are not read
MAX_PARTS = 500
# Multiparts nested inside each other that the parser enters at most. Each one it enters
# checks every later line against its boundary too, so parsing a message nested 1,000
# deep (which also exhausts the stack) costs 1,000 checks per line. Forwards of forwards
# stay far below this.
MAX_PARSE_DEPTH = 50
MAX_PART_BYTES = 30 * 1024 * 1024  # attachment content kept at most
MAX_BODY_BYTES = 1024 * 1024  # a text or HTML body is cut here before decoding
MAX_STORED_HEADER_CHARS = 2_000
MAX_HEADER_FIELDS = 300
FUTURE_TOLERANCE = timedelta(days=1)  # clocks drift; a Date beyond this is not believed
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Attachment:
    filename: str | None  # cleaned of control characters; still hostile for display
    content_type: str
    content: bytes  # b"" when the part was too large to keep (see problems)
    inline: bool  # embedded in the HTML body by Content-ID
    content_id: str | None
    size: int


@dataclass
class ParsedMessage:
    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    subject: str = ""
    from_name: str = ""
    from_address: str | None = None  # None unless From is exactly one plain address
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)
    # Lower-cased field name -> decoded, cleaned values (each at most 2,000 characters).
    headers: dict[str, list[str]] = field(default_factory=dict)
    date: datetime | None = None
    text: str = ""
    html: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    is_multipart_report: bool = False
    report_type: str | None = None  # "delivery-status", "disposition-notification", ...
    delivery_actions: list[str] = field(default_factory=list)  # "failed", "delayed", ...
    delivery_statuses: list[str] = field(default_factory=list)  # "5.1.1", "4.4.7", ...
    problems: list[str] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        return self.headers.get(name.lower(), [])


def parse_message(raw: bytes | str, *, now: datetime | None = None) -> ParsedMessage:
    """Parse raw MIME. Never raises: what could not be read is listed in `problems`."""
    if isinstance(raw, str):  # a provider field handed over as text
        raw = raw.encode("utf-8", errors="surrogateescape")
    raw = bytes(raw)
    problems: list[str] = []
    message = None
    if len(raw) > MAX_MESSAGE_BYTES:
        problems.append(f"message larger than {MAX_MESSAGE_BYTES} bytes: headers only")
    else:
        try:
            message = _parse_bytes(_bound_parts(raw, problems))
        except RecursionError:  # MimeTooDeep, or attached messages nested in each other
            problems.append("MIME nesting too deep to parse: headers only")
        except Exception as error:  # the parser is lenient; this is the last resort
            problems.append(f"unparsable MIME ({type(error).__name__}): headers only")
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    parsed = ParsedMessage(problems=problems)
    if message is None:
        _read_headers(_headers_only(raw), parsed, now)
    else:
        _read_headers(message, parsed, now)
        _read_parts(message, parsed)
    return parsed


class MimeTooDeep(RecursionError):
    """More than MAX_PARSE_DEPTH multiparts nested inside each other: refused like the
    RecursionError of a message nested too deep for the email package at all."""


class _DepthLimitedInput(email.feedparser.BufferedSubFile):
    """The parser's input, which keeps one boundary check per multipart the parser is in:
    refuses to enter more than MAX_PARSE_DEPTH of them."""

    def push_eof_matcher(self, pred: Any) -> None:
        if len(self._eofstack) >= MAX_PARSE_DEPTH:
            raise MimeTooDeep(f"multiparts nested deeper than {MAX_PARSE_DEPTH}")
        super().push_eof_matcher(pred)


def _parse_bytes(raw: bytes) -> Message:
    """email.message_from_bytes, with the parser's nesting bounded (MimeTooDeep)."""
    parser = email.feedparser.BytesFeedParser(policy=email.policy.default)
    # The standard library offers no hook for this: the parser reads its input from this
    # private attribute. The tests of deep nesting fail if a Python version changes it.
    parser._input = _DepthLimitedInput()
    parser.feed(raw)
    return parser.close()


# "Content-Type: multipart/" as raw MIME, a form field or a JSON string may hold it.
_MULTIPART_TYPE = re.compile(rb"(?i)content-type(?::|%3a)[\s+]*multipart(?:/|%2f)")


def refuse_deep_nesting(data: bytes, raw: Callable[[], bytes | None]) -> None:
    """Raise MimeTooDeep when the message in `data` (raw MIME, or a provider's post that
    holds it; `raw` extracts it) nests more multiparts than our parser enters, before
    another parser (anymail's) spends minutes on it. Counting multipart headers is fast
    and settles almost every message; only one with more of them than the limit is
    parsed to tell deep from merely wide."""
    for count, _ in enumerate(_MULTIPART_TYPE.finditer(data), start=1):
        if count > MAX_PARSE_DEPTH:
            message = raw()
            if message:
                _parse_bytes(_bound_parts(message, []))
            return


def walk_parts(message: Message) -> Iterator[Message]:
    """Message.walk() within our reading limits: parts nested deeper than MAX_DEPTH are
    not entered, and at most MAX_PARTS are yielded. Iterative, so no nesting can exhaust
    the stack as Message.walk()'s recursion does."""
    stack = [(message, 0)]
    for _ in range(MAX_PARTS):
        if not stack:
            return
        part, depth = stack.pop()
        yield part
        children = _safe(part.get_payload, None) if part.is_multipart() else None
        if isinstance(children, list) and depth < MAX_DEPTH:
            stack.extend((child, depth + 1) for child in reversed(children))


def _headers_only(raw: bytes) -> Message:
    try:
        parser = email.parser.BytesHeaderParser(policy=email.policy.default)
        return parser.parsebytes(raw[:MAX_BODY_BYTES])
    except Exception:
        return EmailMessage()


def _bound_parts(raw: bytes, problems: list[str]) -> bytes:
    # The parser's time grows with the number of parts; a flood of thousands of tiny parts
    # is cut before parsing. Every boundary line starts with "--", so counting those
    # lines over-counts (signatures, rules) but never under-counts.
    if raw.count(b"\n--") <= MAX_DELIMITER_LINES:
        return raw
    position = 0
    for _ in range(MAX_DELIMITER_LINES):
        position = raw.find(b"\n--", position) + 1
    problems.append(f"more than {MAX_DELIMITER_LINES} MIME delimiter lines: the rest ignored")
    return raw[:position]


def _safe(function: Any, default: Any) -> Any:
    # The default policy parses structured headers lazily and has raised on odd input in
    # some Python versions; one bad header must not lose the whole message.
    try:
        return function()
    except Exception:
        return default


def _read_headers(message: Message, parsed: ParsedMessage, now: datetime) -> None:
    raw: dict[str, list[str]] = {}
    for count, (name, value) in enumerate(_safe(message.raw_items, [])):
        if count >= MAX_HEADER_FIELDS:
            parsed.problems.append(f"more than {MAX_HEADER_FIELDS} header fields: the rest ignored")
            break
        key = clean_text(str(name), limit=100).lower()
        raw.setdefault(key, []).append(str(value))
        decoded = clean_text(decode_header_value(str(value)), limit=MAX_STORED_HEADER_CHARS + 1)
        if len(decoded) > MAX_STORED_HEADER_CHARS:
            if f"header {key} truncated" not in parsed.problems:
                parsed.problems.append(f"header {key} truncated")
            decoded = decoded[:MAX_STORED_HEADER_CHARS]
        parsed.headers.setdefault(key, []).append(decoded)

    def first(name: str) -> str:
        return raw.get(name, [""])[0]

    parsed.message_id = normalise_message_id(first("message-id"))
    if parsed.message_id is None:
        parsed.problems.append("no usable Message-ID")
    replied = message_ids(first("in-reply-to"))
    parsed.in_reply_to = replied[0] if replied else normalise_message_id(first("in-reply-to"))
    parsed.references = message_ids(" ".join(raw.get("references", [])))
    parsed.subject = clean_text(decode_header_value(first("subject")))

    senders = raw.get("from", [])
    sender = single_address(senders[0]) if len(senders) == 1 else None
    if sender:
        parsed.from_name, parsed.from_address = sender
    else:
        parsed.problems.append("From is not exactly one plain address")

    for name in ("to", "cc", "reply-to"):
        addresses: list[str] = []
        for value in raw.get(name, []):
            pairs = parse_addresses(value)
            if pairs is None:
                parsed.problems.append(f"unparsable {name} header")
                continue
            for _, address in pairs:
                if address not in addresses:
                    addresses.append(address)
        setattr(parsed, name.replace("-", "_"), addresses[:100])

    parsed.date = _parse_date(first("date"), now, parsed.problems)


def _parse_date(raw: str, now: datetime, problems: list[str]) -> datetime | None:
    if not raw:
        return None
    try:
        value = email.utils.parsedate_to_datetime(clean_text(decode_header_value(raw), limit=200))
    except (TypeError, ValueError, IndexError, OverflowError):
        value = None
    if value is None:
        problems.append("unparsable Date")
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # "-0000": the zone is unknown; UTC is the convention
    if value > now + FUTURE_TOLERANCE:
        problems.append("Date in the future ignored")
        return None
    return value


@dataclass
class _Walk:
    parsed: ParsedMessage
    parts: int = 0
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    defects: set[str] = field(default_factory=set)


def _read_parts(message: Message, parsed: ParsedMessage) -> None:
    walk = _Walk(parsed)
    _walk(message, 0, walk)
    if walk.defects:
        parsed.problems.append("MIME defects: " + ", ".join(sorted(walk.defects)[:10]))
    parsed.html = "\n".join(walk.html)[:MAX_BODY_BYTES]
    parsed.text = "\n\n".join(walk.plain)[:MAX_BODY_BYTES].strip()
    if not parsed.text and parsed.html:
        parsed.text = html_to_text(parsed.html)


def _walk(part: Message, depth: int, walk: _Walk) -> None:
    if walk.parts >= MAX_PARTS:
        if walk.parts == MAX_PARTS:
            walk.parsed.problems.append(f"more than {MAX_PARTS} MIME parts: the rest ignored")
            walk.parts += 1
        return
    walk.parts += 1
    walk.defects.update(type(d).__name__ for d in getattr(part, "defects", [])[:10])
    content_type = _safe(part.get_content_type, "application/octet-stream")
    if content_type == "multipart/report" and not walk.parsed.is_multipart_report and depth <= 2:
        walk.parsed.is_multipart_report = True
        report_type = _safe(lambda: part.get_param("report-type"), None)
        if isinstance(report_type, tuple):  # RFC 2231 encoded parameter
            report_type = email.utils.collapse_rfc2231_value(report_type)
        if report_type is not None:
            walk.parsed.report_type = clean_text(str(report_type), limit=100).lower() or None
    if content_type.startswith("multipart/"):
        if depth >= MAX_DEPTH:
            walk.parsed.problems.append(f"MIME nesting deeper than {MAX_DEPTH}: not read")
            return
        children = _safe(part.get_payload, [])
        if not isinstance(children, list):
            walk.parsed.problems.append(f"{content_type} without readable parts")
            return
        for child in children:
            _walk(child, depth + 1, walk)
        return
    _leaf(part, content_type, walk)


def _leaf(part: Message, content_type: str, walk: _Walk) -> None:
    disposition = _safe(part.get_content_disposition, None)
    raw_filename = _safe(part.get_filename, None)
    filename = clean_text(str(raw_filename), limit=255) if raw_filename else None
    filename = filename or None
    content_id = re.sub(r"[<>\s]", "", str(part.get("content-id", "") or ""))[:250] or None
    if content_type.startswith("message/"):
        # Attached mail (a bounce's original, a forward) is evidence, never the body: its
        # text was written by someone else.
        content = _message_bytes(part, walk.parsed.problems)
        if walk.parsed.is_multipart_report and walk.parsed.report_type is None:
            # A multipart/report without its report-type parameter: the machine part says
            # what kind of report it is.
            walk.parsed.report_type = _REPORT_TYPES.get(content_type)
        if content_type == "message/delivery-status":
            _read_delivery_status(content, walk.parsed)
        _attach(walk, filename, content_type, content, disposition, content_id, len(content))
        return
    encoded = _safe(part.get_payload, "")
    encoded_size = len(encoded) if isinstance(encoded, str | bytes) else 0
    # Base64 is 4/3 of the data plus line breaks: refuse before decoding, not after.
    if encoded_size > MAX_PART_BYTES * 1.4:
        walk.parsed.problems.append(f"part {filename or content_type} too large: not decoded")
        _attach(walk, filename, content_type, b"", disposition, content_id, encoded_size * 3 // 4)
        return
    data = _safe(lambda: part.get_payload(decode=True), b"") or b""
    body = content_type in ("text/plain", "text/html") and disposition != "attachment"
    if body and not filename:
        if len(data) > MAX_BODY_BYTES:
            walk.parsed.problems.append(f"{content_type} body cut at {MAX_BODY_BYTES} bytes")
            data = data[:MAX_BODY_BYTES]
        text = _body_text(decode_bytes(data, _safe(part.get_content_charset, None)))
        (walk.plain if content_type == "text/plain" else walk.html).append(text)
        return
    size = len(data)
    if size > MAX_PART_BYTES:
        walk.parsed.problems.append(f"part {filename or content_type} too large: not kept")
        data = b""
    _attach(walk, filename, content_type, data, disposition, content_id, size)


_REPORT_TYPES = {
    "message/delivery-status": "delivery-status",
    "message/disposition-notification": "disposition-notification",
}


def _read_delivery_status(content: bytes, parsed: ParsedMessage) -> None:
    # Words as the server wrote them: some write "failure" or "Failed" where RFC 3464 says
    # "failed"; the classification decides what they mean.
    actions = re.findall(rb"(?im)^action:\s*([a-z-]+)", content)
    parsed.delivery_actions.extend(a.decode().lower() for a in actions[:50])
    statuses = re.findall(rb"(?im)^status:\s*([245]\.\d{1,3}\.\d{1,3}|[245]\d\d)\b", content)
    parsed.delivery_statuses.extend(s.decode() for s in statuses[:50])


def _body_text(text: str) -> str:
    # One newline convention, and no control characters: NUL cannot even be stored in a
    # PostgreSQL text column, and the others only ever serve to hide or garble text.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def _attach(
    walk: _Walk,
    filename: str | None,
    content_type: str,
    content: bytes,
    disposition: str | None,
    content_id: str | None,
    size: int,
) -> None:
    # Inline means embedded in the HTML by its Content-ID (signature logos are). Apple
    # Mail marks attached pictures "inline" without one; Postmark sends ContentID "".
    inline = content_id is not None and disposition != "attachment"
    walk.parsed.attachments.append(
        Attachment(filename, content_type, content, inline, content_id, size)
    )


def _message_bytes(part: Message, problems: list[str]) -> bytes:
    """The bytes of a message/* part: an attached message or delivery-status blocks."""
    payload = _safe(part.get_payload, None)
    try:
        if isinstance(payload, list):
            # compat32 writes headers back as they came instead of refolding them.
            pieces = [p.as_bytes(policy=email.policy.compat32) for p in payload[:MAX_PARTS]]
            content = b"\n".join(pieces)
        else:
            content = part.get_payload(decode=True) or b""
    except Exception:
        problems.append("attached message could not be written back: not kept")
        return b""
    if len(content) > MAX_PART_BYTES:
        problems.append("attached message too large: not kept")
        return b""
    return content
