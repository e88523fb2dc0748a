"""Text from outside (emails, provider events, forms, files, titles, names), made fit for
where it goes.

The database: PostgreSQL refuses NUL in text and in JSON, where SQLite keeps it; a lone
surrogate (a JSON "\\ud800") cannot be encoded for either. So at each edge NUL is removed
from free text and refused in identifiers (addresses, numbers, filter values), the same on
both databases, and the database never sees what it would refuse.

An email header and an analyst's screen: outsider-written titles, names and subjects lose
their line breaks for a header, and their invisible characters are made visible for an
analyst.
"""

import re
from typing import Any

NUL = "\x00"
# In a Python string every surrogate is a lone one: JSON's pairs are joined when parsed.
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """Free text without NUL, lone surrogates shown as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text.replace(NUL, ""))


def storable_json(value: Any) -> Any:
    """A JSON value (dict, list, string, number) with storable() applied to every string
    in it, keys too."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_json(key): storable_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(item) for item in value]
    return value


def has_nul(text: str) -> bool:
    """For identifiers: a NUL in one is refused, never removed (removing it would make
    another address or number out of it)."""
    return NUL in text


# Format characters that draw nothing yet change what the text around them looks like:
# bidi overrides, embeddings, isolates and marks make "invoice\u202efdp.exe" read as
# "invoiceexe.pdf"; zero-width characters split or join words unseen (a name that looks
# like another, a keyword a filter misses); Unicode tags hide ASCII text.
_INVISIBLE_RANGES = [
    (0x00AD, 0x00AD),  # soft hyphen
    (0x061C, 0x061C),  # Arabic letter mark
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0x200B, 0x200F),  # zero-width space, non-joiner, joiner; left-to-right, right-to-left marks
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x206F),  # bidi isolates, deprecated format characters
    (0xFEFF, 0xFEFF),  # zero-width no-break space (byte order mark)
    (0xFFF9, 0xFFFB),  # interlinear annotation
    (0xE0000, 0xE007F),  # tags
]
INVISIBLE = frozenset(
    chr(code) for start, end in _INVISIBLE_RANGES for code in range(start, end + 1)
)
# As ranges, not one character each: a class of 160 single characters made a search of a
# large page many times slower, and every admin page is searched (core.reveal_invisible).
_INVISIBLE = re.compile(
    "[" + "".join(f"{chr(start)}-{chr(end)}" for start, end in _INVISIBLE_RANGES) + "]"
)

# Characters that end a header line or that mail libraries treat as one: C0 (CR, LF, VT,
# FF, FS...), DEL, C1 (NEL among them), and the Unicode line and paragraph separators.
# Python's str.splitlines() breaks at VT, FF, FS, GS, RS and NEL, so one of these in a
# subject can start a header line of its own.
_LINE_BREAKING = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_text(value: str) -> str:
    """One line fit for an email header: control characters and line separators become
    one space, invisible format characters go, white space is collapsed."""
    value = _INVISIBLE.sub("", value)
    value = _LINE_BREAKING.sub(" ", value)
    return re.sub(r"\s+", " ", value).strip()


def reveal_invisible(value: str) -> str:
    """The text with each invisible format character written out as ⟨U+202E⟩, so an
    analyst sees it instead of the browser obeying it."""
    return _INVISIBLE.sub(lambda match: f"\u27e8U+{ord(match.group()):04X}\u27e9", value)


def has_invisible(value: str) -> bool:
    return _INVISIBLE.search(value) is not None
