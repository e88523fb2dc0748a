"""Email addresses from what an analyst pastes: a list as mail clients write it ("Name
<addr>; other@x"), or a message-trace export with a header row, from which only the
recipient column is read. Every line that gives no address is reported with its number
and the reason, never dropped in silence."""

import csv
import io
import re
from dataclasses import dataclass, field

from mailflow.parsing.headers import clean_text, parse_addresses

# Header names, compared without case, spaces, underscores, hyphens or dots. The recipient
# names are in order of preference: a trace with both "RecipientAddress" and "To" means the
# first. Exchange's historical search has only "recipient_status", holding
# "addr##Receive, Deliver" per recipient.
RECIPIENT_COLUMNS = [
    "recipientaddress",
    "recipient",
    "recipients",
    "recipientaddresses",
    "recipientemail",
    "to",
    "toaddress",
    "rcptto",
    "envelopeto",
    "recipientstatus",
]
SENDER_COLUMNS = {
    "senderaddress",
    "sender",
    "senderemail",
    "from",
    "fromaddress",
    "mailfrom",
    "envelopefrom",
    "p1sender",
    "p2sender",
}
_DELIMITERS = ",;\t"
_HEADER_FIELD = re.compile(r"[\w .#()/-]{1,64}")
_STATUS = re.compile(r"##[^;]*")  # "addr##Receive, Deliver" in Exchange traces
SHOWN_CHARS = 80
SAMPLE_ROWS = 500  # rows that choose the recipient column when no header names it


@dataclass(frozen=True)
class SkippedLine:
    line: int
    text: str
    reason: str


@dataclass
class PastedAddresses:
    addresses: list[str] = field(default_factory=list)  # lower-case, first seen first
    skipped: list[SkippedLine] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)  # from a trace's sender column
    duplicates: int = 0
    column: str = ""  # the trace column read, when the paste was a trace

    def add(self, address: str) -> None:
        if address in self._seen:
            self.duplicates += 1
        else:
            self._seen.add(address)
            self.addresses.append(address)

    def add_sender(self, addresses: list[str]) -> None:
        self.senders.extend(a for a in addresses if a not in self.senders)

    def skip(self, line: int, text: str, reason: str) -> None:
        self.skipped.append(SkippedLine(line, clean_text(text, limit=SHOWN_CHARS), reason))

    def __post_init__(self) -> None:
        self._seen: set[str] = set(self.addresses)


def read_pasted_addresses(text: str) -> PastedAddresses:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    header = _trace_header(text)
    if header is None:
        return _read_list(text)
    return _read_trace(text, delimiter=header)


def normalise_column(name: str) -> str:
    return re.sub(r"[\s_.\-]+", "", name).lower()


# --- a list as mail clients write it --------------------------------------------------------


def _read_list(text: str) -> PastedAddresses:
    result = PastedAddresses()
    for number, line in enumerate(text.split("\n"), start=1):
        for piece in _pieces(line):
            address, reason = _address(piece)
            if address:
                result.add(address)
            else:
                result.skip(number, piece, reason)
    return result


def _pieces(line: str) -> list[str]:
    """The entries of one line, split at commas and semicolons outside quoted names, angle
    brackets and comments, so that "Smith, Jane" <jane@x> stays one entry."""
    pieces, current = [], []
    in_quotes = escaped = False
    depth = 0
    for char in _STATUS.sub("", line):
        if in_quotes:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif char in "<(":
            depth += 1
        elif char in ">)":
            depth = max(depth - 1, 0)
        elif char in ",;" and depth == 0:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    entries = []
    for piece in (p.strip() for p in pieces if p.strip()):
        # Bare addresses separated by spaces; a piece with a display name keeps its spaces.
        spaced = "@" in piece and not set(piece) & set('<"(')
        entries.extend(piece.split() if spaced else [piece])
    return entries


def _address(piece: str) -> tuple[str, str]:
    """(address, "") or ("", why not)."""
    if "@" not in piece:
        return "", "no email address"
    pairs = parse_addresses(piece)
    if not pairs:
        return "", "not a valid email address"
    if len(pairs) > 1:
        return "", "more than one address in one entry"
    return pairs[0][1], ""


# --- a message-trace export -----------------------------------------------------------------


def _trace_header(text: str) -> str | None:
    """The delimiter of a header row on the first line with text, or None when the paste
    does not start with one. A header names columns: it has no address, and either names a
    sender or recipient column or has at least three columns."""
    first = next((line for line in text.split("\n") if line.strip()), "")
    if "@" in first:
        return None
    best_fields, best_delimiter = [], ""
    for delimiter in _DELIMITERS:
        fields = next(csv.reader([first], delimiter=delimiter), [])
        if len(fields) > len(best_fields):
            best_fields, best_delimiter = fields, delimiter
    names = [normalise_column(f) for f in best_fields]
    if len(names) < 2 or not all(_HEADER_FIELD.fullmatch(f.strip()) for f in best_fields):
        return None
    known = set(names) & (set(RECIPIENT_COLUMNS) | SENDER_COLUMNS)
    return best_delimiter if known or len(names) >= 3 else None


def _read_trace(text: str, *, delimiter: str) -> PastedAddresses:
    result = PastedAddresses()
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header:
                rows.append((reader.line_num, row))
            else:
                header = [cell.strip() for cell in row]
    except csv.Error as error:
        result.skip(reader.line_num, "", f"the rest is not readable as CSV ({error})")
    names = [normalise_column(name) for name in header]
    senders = [i for i, name in enumerate(names) if name in SENDER_COLUMNS]
    column = _recipient_column(names, rows, senders)
    if column is None:
        for number, row in rows:
            result.skip(number, " ".join(row), "no column holds email addresses")
        return result
    result.column = header[column]
    for number, row in rows:
        _read_row(result, number, row, column)
        for i in senders:
            if i < len(row):
                result.add_sender(_cell_addresses(row[i])[0])
    return result


def _recipient_column(
    names: list[str], rows: list[tuple[int, list[str]]], senders: list[int]
) -> int | None:
    """By header name, else the column holding addresses in most rows. A column repeating
    one address throughout is a trace's sender: it is read only when no other column holds
    addresses."""
    for wanted in RECIPIENT_COLUMNS:
        if wanted in names:
            return names.index(wanted)
    scores = {}
    for i in range(len(names)):
        found = [_cell_addresses(row[i])[0] for _, row in rows[:SAMPLE_ROWS] if i < len(row)]
        filled, distinct = sum(1 for a in found if a), len({x for a in found for x in a})
        if filled and i not in senders:
            scores[i] = (distinct > 1, filled, distinct)
    return max(scores, key=scores.__getitem__, default=None)


def _read_row(result: PastedAddresses, number: int, row: list[str], column: int) -> None:
    cell = row[column] if column < len(row) else ""
    addresses, bad = _cell_addresses(cell)
    for address in addresses:
        result.add(address)
    for piece, reason in bad:
        result.skip(number, piece, reason)
    if not addresses and not bad:  # empty, or only a status such as "##Receive, Fail"
        result.skip(number, " ".join(row), f"no address in column {result.column!r}")


def _cell_addresses(cell: str) -> tuple[list[str], list[tuple[str, str]]]:
    addresses, bad = [], []
    for piece in _pieces(cell):
        address, reason = _address(piece)
        if address:
            addresses.append(address)
        else:
            bad.append((piece, reason))
    return addresses, bad
