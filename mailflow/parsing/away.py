"""When is the person back? The return date an out-of-office reply gives, and the sentence
it gives it in.

Pure: the text in, a date and a sentence out (mailflow.away decides what it changes).
Dates are found after a cue in one of the reply languages, then read by dateparser (month
names, weekday names, the six languages' spellings) or, for "14.12." and "14/12/2026", by
a pattern of our own: dateparser reads those in whatever order it guesses.

How a sentence is read, and why:

- "back on X", "return on X", "zurück am X", "de retour le X", "de vuelta el X",
  "terug op X", "di ritorno il X": back on X.
- "until X" ("bis X", "jusqu'au X", "hasta el X", "tot X", "fino al X"): back on X too.
  Outlook users write their own text, and "I am out of the office until Monday 14
  December" most often names the day they are back at their desk: the day they would
  otherwise have to name twice ("until the 13th, back on the 14th"). Reading it as the last
  day away would wait a day longer for every such reply; reading it as the return day
  costs a day only when the person meant the other, and the grace in working hours
  (AWAY_GRACE_WORKING_HOURS) still gives them their first morning back.
- "until X inclusive", "through X", "bis einschließlich X", "jusqu'au X inclus",
  "hasta el X incluido", "tot en met X", "fino al X compreso": X is the last day away,
  so back the day after.
- A range, "from 1 to 14 December" ("vom 1. bis 14. Dezember", "du 1er au 14 décembre"),
  names the days away: back the day after its end.
- "from X I am back again" ("ab dem X wieder", "à partir du X de retour"): back on X, but
  only with a word for "again" or "back": "ab 1. Dezember abwesend" starts an absence.
- A date without a year is the next such date on or after receipt; a date before receipt
  is ignored (an old reply left switched on), as is one more than a year ahead.
- Several readings: "back on" beats a range, which beats "until"; among equals the first
  in the text (the subject, then the body) wins.
"""

import re
import unicodedata
from datetime import date, datetime, timedelta
from typing import NamedTuple

import dateparser

REPLY_LANGUAGES = ("en", "de", "fr", "es", "nl", "it")
# An out-of-office text is short; a long message is read no further than this.
MAX_CHARS = 4000
MAX_SENTENCE = 300

_UNTIL = (
    r"until|till|til|up\s+to|bis(?:\s+(?:zum|zur|am|einschließlich|einschl\.|inkl\.|inklusive))*"
    r"|jusqu['\u2019]\s*(?:au|à\s+la|à|a)|hasta(?:\s+el)?(?:\s+d[ií]a)?"
    r"|tot(?:\s+en\s+met)?(?:\s+op)?|t/m|fino\s+(?:al|a|all['\u2019]|il)|sino\s+al"
)
_THROUGH = r"through|thru"
_INCLUSIVE = re.compile(
    r"\b(?:through|thru|inclusive|inclusively|including|einschließlich|einschl|inkl|inklusive"
    r"|inclus|incluse|incluido|incluida|inclusive|tot\s+en\s+met|compres[oa]|incluso)\b|t/m",
    re.IGNORECASE,
)
_BACK = (
    r"back(?:\s+(?:in\s+the\s+office|at\s+work|at\s+my\s+desk))?(?:\s+on)?"
    r"|return(?:ing)?(?:\s+to\s+(?:the\s+office|work))?(?:\s+on)?|returns?\s+on"
    r"|zurück(?:\s+(?:am|ab))?|wieder\s+(?:im\s+büro|erreichbar|da|verfügbar|zurück)\s+(?:am|ab)"
    r"|(?:de\s+)?retour(?:\s+au\s+bureau)?\s+(?:le|à\s+partir\s+du)|je\s+reviens\s+le"
    r"|de\s+vuelta(?:\s+en\s+la\s+oficina)?\s+el|regreso\s+el|volver[ée]\s+el|regresar[ée]\s+el"
    r"|terug\s+(?:op|vanaf)|weer\s+(?:aanwezig|op\s+kantoor|bereikbaar)\s+(?:op|vanaf)"
    r"|di\s+ritorno\s+(?:il|dal)|rientro\s+(?:il|previsto\s+(?:il|per\s+il))"
    r"|rientrer[òo](?:\s+in\s+ufficio)?(?:\s+il)?"
    r"|torner[òo]\s+il|in\s+ufficio\s+(?:il|dal)"
)
# "From X" starts an absence as often as it ends one: a return only with "again"/"back".
_FROM = r"from|ab(?:\s+dem)?|à\s+partir\s+du|a\s+partir\s+del|vanaf|a\s+partire\s+dal|dal"
_AGAIN = re.compile(
    r"\b(?:back|again|return\w*|wieder|zurück|retour|de\s+nouveau|à\s+nouveau|de\s+vuelta"
    r"|regres\w*|volver\w*|weer|terug|di\s+nuovo|nuovamente|rientr\w*|torn\w*)\b",
    re.IGNORECASE,
)
_RANGE_FROM = r"from|vom|von|du|del|dal|van|de"
_RANGE_TO = r"to|until|till|bis|zum|au|al|tot|hasta|a|-|\u2013|\u2014"

_ORDINAL = r"(?:st|nd|rd|th|er|re|e|º|°|\.)?"
_DAY = rf"\d{{1,2}}{_ORDINAL}"
_WORD = r"[^\W\d_]{3,12}\.?"
_EN_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_NUMERIC = r"\d{1,2}[./-]\d{1,2}(?:[./-](?:\d{4}|\d{2}))?\.?"
_DATE = (
    rf"(?:{_NUMERIC}|{_DAY}\s*(?:de\s+|of\s+)?{_WORD}(?:,?\s+(?:de\s+)?\d{{4}})?"
    rf"|{_EN_MONTH}\s+{_DAY}(?:,?\s+\d{{4}})?)"
)
# Between a cue and its date: a weekday, "the", "dem", "le", "el", "il", "op" (two words).
_FILLER = r"(?:[^\W\d_]{1,14}[.,]?\s+){0,2}"
_CUED = re.compile(
    rf"\b(?:(?P<back>{_BACK})|(?P<through>{_THROUGH})|(?P<until>{_UNTIL})|(?P<from>{_FROM}))"
    rf"\s+{_FILLER}(?P<date>{_DATE})",
    re.IGNORECASE,
)
_RANGE = re.compile(
    rf"\b(?:{_RANGE_FROM})\s+{_FILLER}(?:{_DATE}|{_DAY})\s*(?:{_RANGE_TO})\s+{_FILLER}"
    rf"(?P<date>{_DATE})",
    re.IGNORECASE,
)
_NUMERIC_PARTS = re.compile(r"(\d{1,2})[./-](\d{1,2})(?:[./-](\d{4}|\d{2}))?\.?")
_YEAR = re.compile(r"\b\d{4}\b")
_ORDINAL_AFTER_DAY = re.compile(r"(\d)(?:st|nd|rd|th|er|re|e|º|°)\b", re.IGNORECASE)
# A sentence ends at a full stop followed by a capital (or at a blank line), but not the
# stop of a day number: "bis 14. Dezember", "am 14.12. Danach".
_SENTENCE_END = re.compile(
    r"(?<!\b\d\.)(?<!\b\d\d\.)(?<=[.!?])\s+(?=[¿¡]|[^\W\d_])|\n\s*\n|(?<=[.!?])\s*\n"
)
_PREFERENCE = {"back": 0, "range": 1, "through": 2, "until": 2, "from": 0}


class AwayReading(NamedTuple):
    returns_on: date
    sentence: str


def read_return_date(
    text: str,
    *,
    subject: str = "",
    received: datetime,
    languages: tuple[str, ...] = REPLY_LANGUAGES,
) -> AwayReading | None:
    """The day the person is back, and the sentence that says so; None when no sentence
    gives a usable date (see the module's docstring for how each is read)."""
    found: list[tuple[int, int, AwayReading]] = []
    for index, sentence in enumerate(_sentences(subject, text)):
        for kind, match in _cued_dates(sentence):
            returns_on = _return_day(kind, match, sentence, received, languages)
            if returns_on is not None:
                found.append((_PREFERENCE[kind], index, AwayReading(returns_on, sentence)))
                break
    if not found:
        return None
    return min(found, key=lambda item: item[:2])[2]


def _sentences(subject: str, text: str) -> list[str]:
    text = unicodedata.normalize("NFC", (text or "")[:MAX_CHARS]).replace("\r\n", "\n")
    # A quoted original (our question) may name dates of its own.
    text = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith(">"))
    parts = [subject or "", *_SENTENCE_END.split(text)]
    return [" ".join(part.split())[:MAX_SENTENCE] for part in parts if part and part.strip()]


def _cued_dates(sentence: str) -> list[tuple[str, re.Match]]:
    cued: list[tuple[str, re.Match]] = [("range", m) for m in _RANGE.finditer(sentence)]
    for match in _CUED.finditer(sentence):
        kind = next(k for k in ("back", "through", "until", "from") if match.group(k))
        if kind == "from" and not _AGAIN.search(sentence):
            continue
        cued.append((kind, match))
    return cued


def _return_day(
    kind: str, match: re.Match, sentence: str, received: datetime, languages: tuple[str, ...]
) -> date | None:
    day = _read_date(match.group("date"), received, languages)
    if day is None:
        return None
    after = sentence[match.end() : match.end() + 25]
    last_day_away = kind in ("range", "through") or (
        kind == "until" and bool(_INCLUSIVE.search(match.group(0) + " " + after))
    )
    if last_day_away:
        day += timedelta(days=1)
    if day < received.date() or day > received.date() + timedelta(days=366):
        return None
    return day


def _read_date(text: str, received: datetime, languages: tuple[str, ...]) -> date | None:
    numeric = _NUMERIC_PARTS.fullmatch(text.strip())
    if numeric:
        first, second, year = numeric.groups()
        # Day first, as the six languages write it; "12/14" can only be month first.
        day, month = int(first), int(second)
        if month > 12 and day <= 12:
            day, month = month, day
        explicit = int(year) + (2000 if len(year) == 2 else 0) if year else None
        return _dated(explicit, month, day, received)
    cleaned = _ORDINAL_AFTER_DAY.sub(r"\1", text).strip().rstrip(",")
    parsed = dateparser.parse(
        cleaned,
        languages=list(languages),
        settings={
            "DATE_ORDER": "DMY",
            "REQUIRE_PARTS": ["day", "month"],
            "RELATIVE_BASE": received.replace(tzinfo=None),
            "PREFER_DATES_FROM": "future",
        },
    )
    if parsed is None:
        return None
    explicit = parsed.year if _YEAR.search(cleaned) else None
    return _dated(explicit, parsed.month, parsed.day, received)


def _dated(year: int | None, month: int, day: int, received: datetime) -> date | None:
    """The date; without a year, the next such date on or after receipt."""
    today = received.date()
    for candidate_year in [year] if year else [today.year, today.year + 1]:
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            continue
        if year or candidate >= today:
            return candidate
    return None
