"""Is this a delivery notice, and does it say the email will never arrive?

Mail servers word their notices in many ways, so no single signal decides. First the
signals that a mail server wrote the message (who sent it, its return path, its report
parts, its subject); then, for a notice, an ordered list of what it says, the most
specific first: the report's own Action, words that a server has given up, words that it
will try again, words of failure, status codes. A notice that says it will try again (a
delay, a moderation hold, a full mailbox that will be retried) never ends a question:
only a permanent failure does.

Returns a Notice with named reasons, so the classification can say why."""

import re
from dataclasses import dataclass

from mailflow.parsing.answer import strip_quoted
from mailflow.parsing.message import ParsedMessage

PERMANENT = "permanent"
DELAYED = "delayed"
INFORMATIONAL = "informational"  # a report that something was relayed or delivered

# Who writes notices: local parts of mailer daemons and the system mailboxes of servers
# that do not call themselves that (MDaemon, Trend Micro InterScan, Exchange).
_DAEMON_LOCAL_PARTS = re.compile(
    r"^(?:mailer-daemon|mailerdaemon|mail-daemon|postmaster|mdaemon|interscan|imss"
    r"|microsoftexchange329e71ec88ae4615bbc36ab6ce41109e)$",
    re.IGNORECASE,
)
_DAEMON_NAMES = re.compile(
    r"\b(?:mail delivery (?:system|subsystem|service)|mailer[- ]daemon|postmaster|mdaemon"
    r"|interscan|trend ?micro|mail administrator|system administrator"
    r"|mail ?delivery ?system)\b",
    re.IGNORECASE,
)
# For From headers too odd to parse as one address, e.g. a bare "MAILER-DAEMON".
_DAEMON_IN_HEADER = re.compile(
    r"(?:^|[\s<\"])(?:mailer-daemon|postmaster|mdaemon)(?:@|>|\s*\(|\s*$)", re.IGNORECASE
)
_EMPTY_ADDRESS = re.compile(r"<\s*>")

# Server words in the subject. At its start (after "Re:", "AW:", "[EXTERNAL]" and the
# like, but not our own "[SIR…]" tag) they are a server's: "Unzustellbar: AW: [SIR…] …".
# Later in it they may be a person's reply to a question whose own subject has such
# words ("Re: [SIR…] Undelivered parcel notices"); they count only with more evidence.
_PREFIXES = r"(?:(?:re|aw|sv|antw|wg|fw|fwd|tr|rv|rif|r)\s*:\s*|\[(?!\s*sir\d)[^\]]{0,40}\]\s*)*"
_FAILURE_WORDS = (
    r"(?:undeliver(?:ed|able)\b|returned mail\b|delivery failure|delivery (?:has )?failed"
    r"|mail delivery failed|failure notice|permanent delivery failure"
    r"|(?:mail|message) could not be delivered|could not be delivered|non-delivery"
    r"|\bmail error\b|message not delivered|not delivered\b|delivery problem"
    r"|message status - undeliverable"
    r"|delivery status notification(?!\s*\((?:delay|delayed|success|relay|relayed)\))"
    r"|unzustellbar|nicht zustellbar|non remis|échec de (?:la )?remise"
    r"|no se puede entregar|no entregado|onbestelbaar|niet bezorgd|non recapitabile"
    r"|mancato recapito)"
)
_DELAY_WORDS = (
    r"(?:delayed mail|delivery delayed|delivery (?:has been )?delayed"
    r"|delivery status notification \((?:delay|delayed)\)|warning: .{0,80}delayed"
    r"|message delayed|still being retried|temporary delivery failure|delivery still pending"
    r"|your message to .{0,80}awaits moderator approval|awaits moderator approval"
    r"|pending (?:moderator )?approval|held for moderation"
    r"|requires (?:moderator )?approval|approval required"
    r"|zustellung verzögert|verzögert|remise (?:différée|retardée)|entrega retrasada"
    r"|bezorging vertraagd|consegna ritardata)"
)
_FAILURE_SUBJECT_START = re.compile(rf"\s*{_PREFIXES}{_FAILURE_WORDS}", re.IGNORECASE)
_DELAY_SUBJECT_START = re.compile(rf"\s*{_PREFIXES}{_DELAY_WORDS}", re.IGNORECASE)
_FAILURE_SUBJECT = re.compile(_FAILURE_WORDS, re.IGNORECASE)
_DELAY_SUBJECT = re.compile(_DELAY_WORDS, re.IGNORECASE)

# What a notice says, in the six languages the app reads. The server has given up:
_GIVEN_UP = re.compile(
    r"giving up|given up|not going to try again|will not be retried|won't be retried"
    r"|no further (?:delivery )?attempts will be made|deleted from (?:the )?queue"
    r"|permanent (?:error|failure|fatal errors?)|fatal errors? occurred"
    r"|failed permanently|permanently (?:failed|rejected|undeliverable)"
    r"|endgültig (?:fehlgeschlagen|gescheitert)|dauerhafte?r? fehler|permanenter fehler"
    r"|nicht (?:erneut|mehr|noch einmal) versuch|ne sera pas (?:retenté|réessayé)"
    r"|no se volverá a intentar|no se reintentará|non (?:verrà|sarà) ritentat"
    r"|niet opnieuw (?:worden )?geprobeerd"
    r"|erreur permanente|échec permanent|a échoué définitivement"
    r"|error permanente|fallo permanente"
    r"|permanente fout|definitief mislukt"
    r"|errore permanente",
    re.IGNORECASE,
)
# The server will try again, or someone has to approve it first:
_WILL_RETRY = re.compile(
    r"will (?:be )?retr(?:y|ied)|will (?:continue to |keep )?try(?:ing)?\b|will keep trying"
    r"|still (?:being )?(?:trying|retried)|not yet been delivered|has been delayed"
    r"|delivery (?:is |has been )?delayed|delivery incomplete|warning only|warning message only"
    r"|do not need to resend|no action is required|action: delayed|retry for \d"
    r"|awaits? (?:the )?moderator|moderator'?s? approval|pending (?:moderator )?approval"
    r"|awaiting approval|held for (?:moderation|approval)|requires approval"
    r"|gmail will retry|wird es (?:noch |erneut |weiter )?(?:(?!nicht|kein)[^.\n]){0,30}versuchen"
    r"|(?<!ne )va réessayer"
    r"|(?<!ne )réessaiera|(?<!no se )(?<!no )volverá a intentar|(?<!no )reintentará"
    r"|(?<!niet )probeert het (?:nog|opnieuw)|(?<!non )riproverà"
    r"|noch nicht zugestellt|wird (?:weiterhin|erneut) versucht|erneut zugestellt"
    r"|zustellung verzögert|nur eine warnung|wartet auf (?:die )?(?:genehmigung|freigabe)"
    r"|pas encore été (?:remis|distribué|délivré)|sera (?:retenté|réessayé)"
    r"|nouvel(?:le)? (?:tentative|essai)|remise différée|en attente (?:d'approbation|de modération)"
    r"|todavía no se ha entregado|aún no se ha entregado|(?<!no )se (?:volverá a|seguirá) intent"
    r"|entrega retrasada|pendiente de (?:aprobación|moderación)"
    r"|nog niet (?:bezorgd|afgeleverd)|(?:wordt|zal) opnieuw (?:worden )?geprobeerd"
    r"|blijft proberen|wacht op goedkeuring"
    r"|non è ancora stato recapitato|(?<!non )(?:verrà|sarà) ritentat|(?<!nessun )nuovo tentativo"
    r"|in attesa di (?:approvazione|moderazione)",
    re.IGNORECASE,
)
# The email was not delivered (without saying whether that is final):
_FAILED = re.compile(
    r"could(?: not|n't) be delivered|was not delivered|wasn't delivered|not be delivered"
    r"|undeliverable|delivery (?:has )?failed|delivery to the following recipients? failed"
    r"|failed to deliver|unable to deliver|wasn't able to deliver|couldn't deliver"
    r"|user unknown|unknown user|no such (?:user|mailbox|recipient)|does(?: not|n't) exist"
    r"|mailbox (?:unavailable|not found|does not exist)|recipient rejected|address rejected"
    r"|address not found|unrouteable address|host unknown|not listed in|message rejected"
    r"|rejected your message|was (?:automatically )?rejected|returned to (?:the )?sender"
    r"|konnte nicht zugestellt werden|nicht zugestellt|unzustellbar|zustellung fehlgeschlagen"
    r"|empfänger unbekannt|benutzer unbekannt|existiert nicht|wurde abgelehnt"
    r"|n'a pas pu être (?:remis|délivré|distribué)|non remis|échec de (?:la )?remise"
    r"|destinataire inconnu|utilisateur inconnu|adresse introuvable|n'existe pas"
    r"|no se (?:pudo|ha podido|puede) entregar|no pudo ser entregado|usuario desconocido"
    r"|no existe|entrega fallida|falló la entrega|fue rechazado"
    r"|kon niet (?:worden )?(?:bezorgd|afgeleverd)|kan niet worden bezorgd|onbestelbaar"
    r"|niet (?:bezorgd|afgeleverd)|onbekende (?:gebruiker|ontvanger)|bestaat niet"
    r"|non è stato possibile (?:recapitare|consegnare)|impossibile recapitare|non recapitabile"
    r"|non è stato recapitato|utente sconosciuto|non esiste|recapito non riuscito",
    re.IGNORECASE,
)
# RFC 3463 enhanced status codes and plain SMTP replies: "5.1.1", "550 ", "553-".
_STATUS = re.compile(
    r"(?<![\d.])([45])\.\d{1,3}\.\d{1,3}(?![\d.])|(?<![\d.])([45][0-5]\d)[ -](?=\D)"
)
_ACTION_LINE = re.compile(r"(?im)^\s*action:\s*([a-z-]+)")
_STATUS_LINE = re.compile(r"(?im)^\s*status:\s*([245])\.\d{1,3}\.\d{1,3}")

_FAILED_ACTIONS = {"failed", "failure", "fail", "bounced", "bounce", "rejected", "undeliverable"}
_DELAYED_ACTIONS = {"delayed", "delay", "deferred", "transient", "retrying"}
_BODY_CHARS = 20_000  # notices say what happened at the top; the original follows
_REPORT_CHARS = 100_000  # all parts read together, however many a sender attaches


@dataclass(frozen=True)
class Notice:
    outcome: str  # PERMANENT, DELAYED or INFORMATIONAL
    reason: str


def _local_part(address: str | None) -> str:
    return (address or "").split("@")[0]


def _sender_signals(msg: ParsedMessage) -> tuple[list[str], list[str]]:
    """Signals that a mail server, not a person, wrote the message: strong ones (its
    address or return path is a mailer daemon's) and weak ones, which people's mail can
    carry too (a display name such as "System Administrator", an empty address, an
    automatic rejection header) and which count only with a server's words."""
    strong, weak = [], []
    from_header = msg.header("from") or ""
    if _DAEMON_LOCAL_PARTS.match(_local_part(msg.from_address)) or (
        not msg.from_address and _DAEMON_IN_HEADER.search(from_header)
    ):
        strong.append("sent by a mailer daemon or postmaster")
    elif _DAEMON_NAMES.search(msg.from_name or ""):
        weak.append(f'sender named "{msg.from_name[:60]}"')
    elif not msg.from_address and _EMPTY_ADDRESS.search(from_header):
        weak.append("empty From address")
    for value in msg.header_values("return-path"):
        if _DAEMON_IN_HEADER.search(value) or "mailer-daemon" in value.lower():
            strong.append("Return-Path of a mailer daemon")
            break
    if "(rejected)" in (msg.header("auto-submitted") or "").lower():
        weak.append("Auto-Submitted: auto-replied (rejected)")
    return strong, weak


def _null_return_path(msg: ParsedMessage) -> bool:
    return any(v.strip() in ("<>", "") for v in msg.header_values("return-path"))


def _report_text(msg: ParsedMessage, *, own_words_only: bool = False) -> str:
    """The notice's human-readable text and its machine parts (delivery-status and
    disposition blocks are ASCII by standard), never the returned original. With
    `own_words_only`, the text without its quoted part: a person's reply quotes our
    question, whose subject may speak of failed deliveries itself."""
    text = strip_quoted(msg.text[:_BODY_CHARS]) if own_words_only else msg.text[:_BODY_CHARS]
    parts = [text]
    for attachment in msg.attachments:
        if attachment.content_type in (
            "message/delivery-status",
            "message/disposition-notification",
        ):
            parts.append(attachment.content[:_BODY_CHARS].decode("ascii", "replace"))
    return "\n".join(parts)[:_REPORT_CHARS]


def _subject_signal(subject: str) -> tuple[str | None, bool]:
    """The subject's signal, if any, and whether it stands at the subject's start."""
    if _FAILURE_SUBJECT_START.match(subject):
        return "a failure subject", True
    if _DELAY_SUBJECT_START.match(subject):
        return "a delay subject", True
    if _FAILURE_SUBJECT.search(subject):
        return "a failure subject", False
    if _DELAY_SUBJECT.search(subject):
        return "a delay subject", False
    return None, False


def _statuses(text: str) -> set[str]:
    """The classes ("4", "5") of the status codes a text names."""
    return {m.group(1) or m.group(2)[0] for m in _STATUS.finditer(text)}


def read_notice(msg: ParsedMessage) -> Notice | None:
    """A Notice when the message is a delivery notice, else None."""
    report = msg.report_type == "delivery-status"
    signals, weak = _sender_signals(msg)
    if report:
        signals.insert(0, "a delivery-status report")
    subject, subject_at_start = _subject_signal(msg.subject)
    if subject and subject_at_start:
        signals.append(subject)
    if signals:
        text = _report_text(msg)
    else:
        # Weak signals alone (a sender's name, a null return path, an automatic header,
        # server words late in the subject) mark auto-replies and replies too; only with
        # a server's words about delivery in the message's own text do they make a notice.
        text = _report_text(msg, own_words_only=True)
        hints = [*weak, subject] if subject else weak
        if _null_return_path(msg) or msg.header("auto-submitted") not in (None, "no"):
            hints.append("an automatic message")
        if not (hints and (_FAILED.search(text) or _WILL_RETRY.search(text))):
            return None
        signals += [*hints, "words about delivery"]
    outcome, why = _outcome(msg, text, signals)
    return Notice(outcome, f"{why} ({', '.join(signals)})")


def _outcome(msg: ParsedMessage, text: str, signals: list[str]) -> tuple[str, str]:
    """Permanent or delayed, most specific evidence first."""
    actions = set(msg.delivery_actions) | {a.lower() for a in _ACTION_LINE.findall(text)}
    if actions & _FAILED_ACTIONS:
        return PERMANENT, "Action: failed"
    if actions & _DELAYED_ACTIONS:
        return DELAYED, "Action: delayed"
    # Retry words first: a delay warning promises to say when delivery "fails
    # permanently" (Gmail), which a final failure never needs to.
    if _WILL_RETRY.search(text) or "a delay subject" in signals:
        return DELAYED, "the server will try again or waits for approval"
    if _GIVEN_UP.search(text):
        return PERMANENT, "the server gave up"
    report_classes = {s[0] for s in msg.delivery_statuses} | set(_STATUS_LINE.findall(text))
    if "5" in report_classes:
        return PERMANENT, "a permanent status (5.x.x)"
    if "4" in report_classes:
        return DELAYED, "a temporary status (4.x.x)"
    if _FAILED.search(text):
        return PERMANENT, "says the email was not delivered"
    classes = _statuses(text)
    if "5" in classes:
        return PERMANENT, "a permanent status code"
    if "4" in classes:
        return DELAYED, "only temporary status codes"
    if actions:
        # "relayed", "delivered", "expanded": a report that says nothing failed.
        return INFORMATIONAL, f"a report without a failure (Action: {', '.join(sorted(actions))})"
    return PERMANENT, "a delivery notice"
