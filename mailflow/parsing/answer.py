"""The person's own words in a reply, and the option they chose, if unambiguous.

A reply quotes our question, and the quote contains every option: reading an answer
before the quote is gone would find all of them. So quotes and signatures go first
(mail-parser-reply, then our own cut as a safety net), and only the first few lines of
what is left count. Anything unclear is "unrecognised" and goes to an analyst."""

import re
from dataclasses import dataclass

from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage

DEFAULT_LANGUAGES = ("en", "de", "fr", "es", "nl", "it")
UNRECOGNISED = "unrecognised"
MAX_STRIP_CHARS = 20_000  # the answer is at the top; the library's regexes need a bound
# The library's "On ... wrote:" pattern backtracks quadratically on long lines, so text
# with longer lines gets only our own cut.
MAX_LIBRARY_LINE = 1_000
MAX_ANSWER_TEXT = 2_000
HEAD_LINES = 3

# "On Mon, 1 Jan 2026 at 10:00, SOC <soc@x> wrote:" and its translations (Gmail, Apple
# Mail, Thunderbird); Gmail wraps long ones over two lines.
_WROTE_START = re.compile(r"^\s*(?:>\s*)*(?:on|am|le|el|op|il)\s", re.IGNORECASE)
_WROTE = re.compile(
    r"^\s*(?:>\s*)*(?:on|am|le|el|op|il)\s.{0,300}?"
    r"\b(?:wrote|schrieb|a écrit|escribió|schreef|ha scritto)\b.{0,300}:\s*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^\s*(?:-{2,}\s*(?:original message|ursprüngliche nachricht|message d'origine"
    r"|mensaje original|oorspronkelijk bericht|messaggio originale|forwarded message"
    r"|weitergeleitete nachricht)\s*-{2,}|_{10,})\s*$",
    re.IGNORECASE,
)
# Outlook's quote header: "From:" (or a translation) followed closely by "Sent:"/"Date:"...
_FROM_FIELD = re.compile(r"^\s*\*?(?:from|von|de|van|da)\s*\*?\s*:", re.IGNORECASE)
_OTHER_FIELD = re.compile(
    r"^\s*\*?(?:sent|date|to|subject|gesendet|datum|an|betreff|envoyé|à|objet|enviado"
    r"|fecha|para|asunto|verzonden|aan|onderwerp|inviato|data|a|oggetto)\s*\*?\s*:",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(
    r"^\s*(?:--\s*$|sent from my\b|get outlook for\b|von meinem\b.{0,40}\bgesendet"
    r"|gesendet von meinem\b|envoyé de mon\b|envoyé depuis\b|enviado desde mi\b"
    r"|verzonden (?:vanaf|met) mijn\b|verstuurd vanaf mijn\b|inviato da\b)",
    re.IGNORECASE,
)


def _wrote_header_lines(lines: list[str], index: int) -> int:
    """How many lines (0, 1 or 2) a "... wrote:" header starting at `index` takes."""
    line = lines[index]
    if not _WROTE_START.match(line):
        return 0
    if _WROTE.match(line):
        return 1
    if index + 1 < len(lines) and _WROTE.match(line + " " + lines[index + 1].strip()):
        return 2
    return 0


def _starts_quote(lines: list[str], index: int) -> bool:
    line = lines[index]
    if line.lstrip().startswith(">") or _SEPARATOR.match(line):
        return True
    if _wrote_header_lines(lines, index):
        return True
    if _FROM_FIELD.match(line):
        return any(_OTHER_FIELD.match(following) for following in lines[index + 1 : index + 5])
    return False


def _own_cut(text: str) -> str:
    """Text above the first quote or signature; a bottom-posted reply when nothing is."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if _SIGNATURE.match(line):
            return "\n".join(lines[:index]).strip()
        if _starts_quote(lines, index):
            above = "\n".join(lines[:index]).strip()
            return above or _bottom_posted(lines[index:])
    return text.strip()


def _bottom_posted(lines: list[str]) -> str:
    # Thunderbird answers below the quote by default. Only a ">" quote is trusted to end
    # where the marks end; an unmarked (Outlook) quote runs to the end of the mail.
    kept: list[str] = []
    marked = False
    index = 0
    while index < len(lines):
        line = lines[index]
        header = _wrote_header_lines(lines, index)
        if line.lstrip().startswith(">"):
            marked = True
        elif header:
            index += header
            continue
        elif _SIGNATURE.match(line) or _starts_quote(lines, index):
            break
        else:
            kept.append(line)
        index += 1
    return "\n".join(kept).strip() if marked else ""


def _library_reply(text: str, languages: tuple[str, ...]) -> str | None:
    """mail-parser-reply's newest reply without signatures and disclaimers; None when the
    text starts with a quote header, i.e. there is no reply above the quote."""
    known = [language for language in languages if language in MAIL_LANGUAGES]
    if any(len(line) > MAX_LIBRARY_LINE for line in text.split("\n")):
        return ""
    try:
        message = EmailMessage(text=text, languages=known, keep_hyphen_lists=True).read()
    except Exception:  # a library bug must not stop the queue; our own cut still stands
        return ""
    if not message.replies:
        return ""
    first = message.replies[0]
    # With nothing above the first quote header the library's first "reply" is the quoted
    # original itself, with every option in it.
    if first.headers:
        return None
    return first.body


def strip_quoted(text: str, *, languages: tuple[str, ...] = DEFAULT_LANGUAGES) -> str:
    """The newest part of a reply: without quoted mail, quote headers and signatures.

    Our own cut (first quote header, ">" block or signature delimiter) bounds what the
    library sees, so a quote either of them recognises is gone. The library then removes
    what it knows beyond that (closings, disclaimers, other languages' quote headers);
    when it returns nothing for a non-empty text, our cut stands. `keep_hyphen_lists`
    stops the library from taking "- No" for a signature."""
    if not text or not text.strip():
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n")[:MAX_STRIP_CHARS]
    own = _own_cut("\n".join(line.strip() for line in text.split("\n")))
    if not own:
        return ""
    reply = _library_reply(own, tuple(languages))
    if reply is None:
        return ""
    return _own_cut(reply) if reply.strip() else own


@dataclass(frozen=True)
class AnswerReading:
    key: str  # an option key, or UNRECOGNISED
    reason: str
    text: str  # the stripped reply, at most 2,000 characters, for the analyst


_GREETING = (
    r"(?i:hi|hello|hey|dear|good\s+(?:morning|afternoon|evening)|hallo|guten\s+(?:morgen|tag"
    r"|abend)|liebe[rs]?|sehr\s+geehrte[rs]?|moin|servus|bonjour|bonsoir|salut|cher|chère"
    r"|madame|monsieur|hola|buenos\s+días|buenas\s+tardes|estimad[oa]s?|hoi|beste"
    r"|goedemorgen|goedemiddag|ciao|salve|buongiorno|gentile|gentili)"
)
# A greeting with an optional capitalised name and punctuation, before the answer.
_GREETING_PREFIX = re.compile(rf"^{_GREETING}(?:\s+[A-ZÀ-Ý][\w.'-]*){{0,3}}\s*[,!:;.]\s*")
_GREETING_LINE = re.compile(rf"^{_GREETING}(?:\s+[A-ZÀ-Ý][\w.'-]*){{0,3}}\s*$")

# Words that make an answer uncertain, whatever else the line says.
_HEDGES = re.compile(
    r"(?<!\w)(?:not sure|unsure|(?:(?:don'?t|do not) know|no idea)(?! (?:where|how|why|what|who))"
    r"|dunno|maybe|perhaps"
    r"|probably|possibly|i think|(?:can'?t|cannot|don'?t|do not) (?:remember|recall)"
    r"|wei(?:ß|ss) (?:ich )?nicht|keine ahnung|vielleicht|nicht sicher|unsicher"
    r"|wahrscheinlich|je ne sais pas|sais pas|peut-?[êe]tre|pas s[ûu]re?|aucune idée"
    r"|no s[ée]\b|quiz[áa]s?|tal vez|no estoy segur|ni idea|weet (?:ik )?niet|misschien"
    r"|niet zeker|geen idee|non (?:lo )?so\b|forse|non sono sicur|non ricordo)",
    re.IGNORECASE,
)
_NEUTRAL = re.compile(r"(?<!\w)no (?:problem|worries|prob)(?!\w)")
_NO_PHRASES = re.compile(
    r"(?<!\w)(?:not me|(?:wasn'?t|was not) me|i did(?: not|n'?t)|i have(?: not|n'?t)"
    r"|not correct|not mine|nicht ich|war ich nicht|ich war es nicht|ha(?:be)? ich nicht"
    r"|ich nicht|nicht von mir|pas moi|ce n'?(?:est|était) pas moi|je n'?ai pas|no fui yo"
    r"|no he sido yo|no era yo|yo no|niet ik|was ik niet|ik niet|heb ik niet|non sono stat[oa] io"
    r"|non ero io|non io|non l'?ho fatto)(?!\w)"
)
_YES_PHRASES = re.compile(
    r"(?<!\w)(?:(?:it|that) was me|(?:it|that)'?s me|was me|i did|das war ich|ich war es"
    r"|c'?(?:est|était) moi|fui yo|he sido yo|era yo|dat was ik|sono stat[oa] io|ero io)(?!\w)"
)
_YES_WORDS = {
    "yes", "yeah", "yep", "yup", "y", "correct", "ja", "jawohl", "jep", "jup", "oui",
    "ouais", "sí", "si", "sì",
}  # fmt: skip
_NO_WORDS = {"no", "nope", "n", "nah", "nein", "nö", "non", "nee", "neen"}
# An approval's votes (keys approve / deny) in the six languages, besides yes / no.
_APPROVE_WORDS = {
    "approve", "approved", "approves", "genehmigt", "genehmige", "genehmigen", "freigegeben",
    "einverstanden", "approuvé", "approuvée", "approuve", "approuver", "aprobado",
    "aprobada", "apruebo", "aprobar", "goedgekeurd", "goedkeuren", "akkoord", "approvato",
    "approvata", "approvo", "approvare",
}  # fmt: skip
_DENY_WORDS = {
    "deny", "denied", "denies", "reject", "rejected", "abgelehnt", "ablehnen", "lehne",
    "refusé", "refusée", "refuse", "refuser", "rechazado", "rechazada", "rechazo",
    "denegado", "afgewezen", "afwijzen", "geweigerd", "weiger", "respinto", "respinta",
    "rifiutato", "rifiuto", "negato", "rechazar", "denegar", "rifiutare",
}  # fmt: skip
_VOTE_KEYS = {"approve", "deny"}
_YES_VOTE = frozenset(_YES_WORDS | {"approve"})
_NO_VOTE = frozenset(_NO_WORDS | {"deny"})
# "not approved", "nicht genehmigt", "pas approuvé", "no aprobado", "niet goedgekeurd",
# "non approvato": a negated vote word reads as neither.
_NEGATED_VOTE = re.compile(
    r"(?<!\w)(?:not|don'?t|do not|nicht|kein|pas|ne|no|niet|non)\s+(?:\w+\s+)?"
    r"(?:approv|genehm|freigeg|einverst|approuv|aprob|apruebo|goedgek|akkoord|deny|denied"
    r"|reject|abgelehnt|refus|rechaz|deneg|afgewez|geweig|respint|rifiut|negat)"
    # "No objection" holds a no that means yes.
    r"|(?<!\w)(?:no objections?|keine einw[äa]nde|pas d'objection|sin objeci[oó]n"
    r"|geen bezwaar|nessuna obiezione)"
)
_NUMBER_LINE = re.compile(r"^\(?\s*(\d{1,2})\s*[.)]?\s*$")


def _normalise(value: str) -> str:
    value = value.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    return re.sub(r"\s+", " ", value).strip().lower()


def _head_lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.split("\n")]
    lines = [line for line in lines if re.search(r"\w", line)]
    while lines:
        if _GREETING_LINE.match(lines[0]):
            lines.pop(0)
            continue
        rest = _GREETING_PREFIX.sub("", lines[0], count=1)
        if rest != lines[0]:
            if not re.search(r"\w", rest):
                lines.pop(0)
                continue
            lines[0] = rest
        break
    return lines[:HEAD_LINES]


def _polarity_key(options: list[dict], words: set[str] | frozenset[str]) -> str | None:
    """The one option a yes-ish (or no-ish) word means: key "yes", or a label starting
    with Yes; None when no option, or more than one, fits."""
    fitting = []
    for option in options:
        key = str(option.get("key", "")).lower()
        first_word = (re.findall(r"\w+", _normalise(str(option.get("label", "")))) or [""])[0]
        if key in words or first_word in words:
            fitting.append(str(option["key"]))
    return fitting[0] if len(fitting) == 1 else None


def read_answer(
    reply_text: str, options: list[dict], *, languages: tuple[str, ...] = DEFAULT_LANGUAGES
) -> AnswerReading:
    """Read the chosen option from a reply's first lines, or UNRECOGNISED.

    `options` are the question's [{"key": ..., "label": ...}]. An option counts when its
    key, its whole label, its number alone on a line, or a common yes/no word in one of
    the languages appears; exactly one option must be meant."""
    stripped = strip_quoted(reply_text or "", languages=languages)
    text = stripped[:MAX_ANSWER_TEXT]
    head_lines = _head_lines(stripped[:MAX_ANSWER_TEXT])

    def unrecognised(reason: str) -> AnswerReading:
        return AnswerReading(UNRECOGNISED, reason, text)

    if not head_lines:
        return unrecognised("no text above the quoted mail")
    head = _normalise(" ".join(head_lines))
    if _HEDGES.search(head):
        return unrecognised("the reply is hedged (not sure, maybe, ...)")

    found: dict[str, list[str]] = {}
    for option in options:
        label = _normalise(str(option.get("label", "")))
        pattern = rf"(?<!\w){re.escape(label)}(?!\w)" if label else None
        if pattern and re.search(pattern, head):
            found.setdefault(str(option["key"]), []).append("its label")
            head = re.sub(pattern, " ", head)  # a label's own words are no further signal
    for line in head_lines:
        number = _NUMBER_LINE.match(line)
        if number and 1 <= int(number.group(1)) <= len(options):
            found.setdefault(str(options[int(number.group(1)) - 1]["key"]), []).append("its number")

    head = _NEUTRAL.sub(" ", head)
    # An approval's options (approve / deny): its vote words count, and yes means approve.
    # (The reply reader adds "suspicious", which every email offers.)
    votes = {str(o.get("key", "")).lower() for o in options} - {"suspicious"} == _VOTE_KEYS
    if votes and _NEGATED_VOTE.search(head):
        return unrecognised("a negated approve or deny word, or no objection")
    yes_words, no_words = (_YES_VOTE, _NO_VOTE) if votes else (_YES_WORDS, _NO_WORDS)
    polarities: list[tuple[set[str] | frozenset[str], str]] = []
    if _NO_PHRASES.search(head):
        polarities.append((no_words, "a no phrase"))
        head = _NO_PHRASES.sub(" ", head)
    if _YES_PHRASES.search(head):
        polarities.append((yes_words, "a yes phrase"))
    words = set(re.findall(r"[\w']+", head))
    if words & _NO_WORDS:
        polarities.append((no_words, "a no word"))
    if words & _YES_WORDS:
        polarities.append((yes_words, "a yes word"))
    if votes and words & _APPROVE_WORDS:
        polarities.append((yes_words, "an approve word"))
    if votes and words & _DENY_WORDS:
        polarities.append((no_words, "a deny word"))
    for option in options:
        key = str(option.get("key", "")).lower()
        if key and re.search(rf"(?<![\w-]){re.escape(key)}(?![\w-])", head):
            found.setdefault(str(option["key"]), []).append("its key")
    for polarity_words, reason in polarities:
        key = _polarity_key(options, polarity_words)
        if key is None:
            return unrecognised(f"{reason} that no single option means")
        found.setdefault(key, []).append(reason)

    if not found:
        return unrecognised("no option, number or yes/no word in the first lines")
    if len(found) > 1:
        return unrecognised("more than one option: " + ", ".join(sorted(found)))
    (key, reasons), *_ = found.items()
    return AnswerReading(key, "matched by " + ", ".join(dict.fromkeys(reasons)), text)
