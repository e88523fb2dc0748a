"""Header values as safe text: charsets, encoded words, addresses and Message-IDs.

Everything here takes whatever a sender put in a header and either returns clean text or
gives up (None, an empty list). Nothing raises on hostile input."""

import base64
import binascii
import codecs
import email.policy
import email.quoprimime
import email.utils
import inspect
import re
import unicodedata

from core.text import INVISIBLE

# Python gained getaddresses(strict=...) in security releases (3.11.10, 3.12.6); older
# interpreters get the same checks from _strict_enough below.
_HAS_STRICT = "strict" in inspect.signature(email.utils.getaddresses).parameters

MAX_HEADER_CHARS = 20_000  # read at most this much of one header value
MAX_ADDRESSES = 100  # recipients kept from one header

# A practical addr-spec: dot-atom local part, dotted host name. Quoted local parts, IP
# literals and internationalised addresses are refused: a reply from one of those is
# flagged for an analyst rather than matched against a person.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS_RE = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z][A-Za-z0-9-]{{1,62}}")

_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([bBqQ])\?([^?\s]*)\?=")
# No control characters: an id with NUL is nobody's, and the database cannot even look it up.
_MESSAGE_ID = re.compile(r"<([^<>\s\x00-\x1f\x7f]{1,900})>")


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _ascii_compatible(name: str) -> bool:
    # UTF-16 and UTF-32 text of plain letters is valid UTF-8 too (letters and NULs), and
    # UTF-7 is plain ASCII: for those the declared charset is the only reading.
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return True
    return not codec.startswith(("utf-16", "utf-32", "utf-7"))


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes to text: UTF-8 when non-ASCII bytes are valid UTF-8, else the declared
    charset if it works, else UTF-8 with replacements, else Latin-1.

    Valid UTF-8 wins over a declared legacy charset because such a label is usually wrong
    (a client or gateway that labels every body with the user's locale, Big5 or
    windows-1252) and a legacy text is almost never valid UTF-8 by chance; mail clients
    read it the same way. UTF-8 with replacement characters is kept when only a few bytes
    are broken (a cut or damaged UTF-8 body); when many are, the text was probably a
    legacy 8-bit charset, which Latin-1 shows more readably. Latin-1 decodes anything, so
    this never fails."""
    if charset:
        name = charset.strip().strip("\"'")[:64]
        if not data.isascii() and _ascii_compatible(name) and _valid_utf8(data):
            return data.decode("utf-8")
        try:
            return data.decode(name)
        except (LookupError, UnicodeError, ValueError):
            # Unknown names, non-text codecs (base64, rot13) and wrong labels all land here.
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    if text.count("\ufffd") <= max(2, len(text) // 100):
        return text
    return data.decode("latin-1")


def _unsurrogate(value: str) -> str:
    # The bytes parser keeps 8-bit header bytes as lone surrogates; give them their bytes
    # back and decode those as text.
    if not any("\udc80" <= char <= "\udcff" for char in value):
        return value
    return decode_bytes(value.encode("utf-8", errors="surrogateescape"), "utf-8")


def _unfold(raw: str) -> str:
    value = _unsurrogate(raw[:MAX_HEADER_CHARS])
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", " ").replace("\n", " ").strip()


def _decode_word(match: re.Match) -> str | None:
    charset, encoding, payload = match.group(1), match.group(2).lower(), match.group(3)
    charset = charset.split("*")[0]  # RFC 2231 language suffix: =?utf-8*en?q?...?=
    try:
        if encoding == "b":
            data = base64.b64decode(payload + "=" * (-len(payload) % 4))
        else:
            data = email.quoprimime.header_decode(payload).encode("latin-1")
    except (binascii.Error, ValueError, UnicodeError):
        return None  # a broken word stays as it was written
    return decode_bytes(data, charset)


def decode_header_value(raw: str) -> str:
    """Unfold a raw header value and decode its RFC 2047 encoded words (not cleaned)."""
    value = _unfold(raw)
    parts: list[str] = []
    position = 0
    previous_decoded = False
    for match in _ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        decoded = _decode_word(match)
        # RFC 2047: white space between two adjacent encoded words is not displayed.
        if not (previous_decoded and decoded is not None and not gap.strip()):
            parts.append(gap)
        parts.append(match.group(0) if decoded is None else decoded)
        previous_decoded = decoded is not None
        position = match.end()
    parts.append(value[position:])
    return "".join(parts)


def clean_text(value: str, *, limit: int = 2_000) -> str:
    """One line of display text: no control, bidi or zero-width characters, collapsed
    white space."""
    characters = []
    for char in value:
        if char in INVISIBLE:
            continue
        category = unicodedata.category(char)
        if category == "Cc" or char in "\u2028\u2029":
            characters.append(" ")
        elif category != "Cs":  # lone surrogates cannot be stored or encoded
            characters.append(char)
    return re.sub(r"\s+", " ", "".join(characters)).strip()[:limit]


def is_address(value: str) -> bool:
    return len(value) <= 254 and ADDRESS_RE.fullmatch(value) is not None


def _strict_enough(value: str, pairs: list[tuple[str, str]]) -> bool:
    """The checks strict getaddresses makes, for interpreters without it: as many
    addresses as the commas outside quoted names promise, and no half-parsed ones."""
    if any(not address or "[" in address for _, address in pairs):
        return False
    unquoted = re.sub(r'"(?:[^"\\]|\\.)*"', "", value)
    return len(pairs) == unquoted.count(",") + 1


def parse_addresses(raw: str) -> list[tuple[str, str]] | None:
    """(display name, address) pairs from an address header, or None when unparsable.

    Addresses are lower-cased; display names are decoded and cleaned. None means the header
    did not parse cleanly as a list of plain addresses."""
    value = _unfold(raw)
    if not value or re.fullmatch(r"[^:,<>@\"]{0,100}:\s*;", value):
        return []  # empty, or an empty group such as "undisclosed-recipients:;"
    try:
        if _HAS_STRICT:
            pairs = email.utils.getaddresses([value], strict=True)
        else:
            pairs = email.utils.getaddresses([value])
            if not _strict_enough(value, pairs):
                return None
    except Exception:  # the parser has raised on odd input in some versions
        return None
    result = []
    for name, address in pairs:
        if not is_address(address):
            return None
        result.append((clean_text(decode_header_value(name), limit=200), address.lower()))
    return result


def single_address(raw: str) -> tuple[str, str] | None:
    """The one (display name, address) of a header such as From, or None.

    Two independent parsers (getaddresses and the email package's RFC 5322 header parser)
    must agree on exactly one address: a header crafted so that parsers disagree is how a
    display name like "bob@corp.example.com" <evil@example.net> gets mistaken for Bob."""
    pairs = parse_addresses(raw)
    if not pairs or len(pairs) != 1:
        return None
    try:
        header = email.policy.default.header_factory("from", _unfold(raw))
        addresses = [a.addr_spec.lower() for a in header.addresses]
    except Exception:
        return None
    if addresses != [pairs[0][1]]:
        return None
    return pairs[0]


def address_matches(address: str | None, expected: str) -> bool:
    """Whether a parsed address is exactly the expected one.

    Both must be bare addresses (no display name, no angle brackets). The comparison
    ignores case in both parts: the domain is case-insensitive by standard and the local
    part is treated so by practically every provider."""
    if not address or not expected:
        return False
    left, right = address.strip(), expected.strip()
    if not (is_address(left) and is_address(right)):
        return False
    return left.lower() == right.lower()


def domain_of(address: str | None) -> str:
    return address.rsplit("@", 1)[1].lower() if address and "@" in address else ""


def normalise_message_id(raw: str | None) -> str | None:
    """`<local@domain>`, stripped and lower-cased, or None when there is nothing usable."""
    if not raw:
        return None
    ids = message_ids(raw)
    if ids:
        return ids[0]
    # Some clients drop the angle brackets; accept one bare token that looks like an id.
    value = re.sub(r"\s+", "", _unsurrogate(raw[:1000])).strip("<>").lower()
    if "@" in value and not re.search(r"[<>\x00-\x1f\x7f]", value) and len(value) <= 900:
        return f"<{value}>"
    return None


def message_ids(raw: str, *, limit: int = 100) -> list[str]:
    """All `<...>` ids of a header such as References, normalised, in order, no repeats.

    A long References header keeps its first and last ids: the thread's root (our
    question) comes first and the direct parent last."""
    found: list[str] = []
    for match in _MESSAGE_ID.finditer(_unsurrogate(raw[:MAX_HEADER_CHARS])):
        value = f"<{match.group(1).lower()}>"
        if value not in found:
            found.append(value)
    if len(found) > limit:
        found = found[: limit // 2] + found[-(limit // 2) :]
    return found


def message_id_domain(message_id: str | None) -> str:
    if not message_id or "@" not in message_id:
        return ""
    return message_id.strip("<>").rsplit("@", 1)[1].lower()
