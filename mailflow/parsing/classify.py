"""What kind of inbound mail this is: a person's reply, or something automatic.

Only a "reply" may ever be read as an answer. Everything else is flagged (auto-replies,
read receipts, loops), noted (delays: the mail may still arrive) or makes the request
undeliverable (bounces; mailflow.parsing.bounce weighs what makes one). When in doubt the
rules lean towards "automatic": a real answer flagged for an analyst costs a minute, an
out-of-office read as "yes" sends a runbook down the wrong branch."""

import re
from dataclasses import dataclass

from mailflow.parsing.bounce import DELAYED, INFORMATIONAL, read_notice
from mailflow.parsing.headers import domain_of, message_id_domain
from mailflow.parsing.message import ParsedMessage

REPLY = "reply"
AUTO_REPLY = "auto_reply"
BOUNCE = "bounce"
DELAY = "delay"  # a delay, a moderation hold, a retry: never ends the question
READ_RECEIPT = "read_receipt"
LOOP = "loop"


@dataclass(frozen=True)
class Classification:
    kind: str  # one of REPLY, AUTO_REPLY, BOUNCE, DELAY, READ_RECEIPT, LOOP
    reason: str


# "Re:", "AW:", "[EXTERNAL]" and the like that clients and gateways put in front.
_PREFIXES = r"(?:(?:re|aw|sv|antw|wg|fw|fwd|tr|rv|rif|r)\s*:\s*|\[[^\]]{0,40}\]\s*)*"
_OUT_OF_OFFICE = re.compile(
    rf"^\s*{_PREFIXES}(?:out[ -]of[ -](?:the[ -])?office|automatic reply|auto-? ?reply"
    r"|autoreply|away from|abwesenheitsnotiz|automatische antwort|abwesend"
    r"|r[ée]ponse automatique|absence|absent|respuesta autom[áa]tica|fuera de la oficina"
    r"|automatisch antwoord|afwezig|risposta automatica|fuori ufficio)\b",
    re.IGNORECASE,
)
_RECEIPT_SUBJECT = re.compile(
    r"^\s*(?:read|not read|gelesen|nicht gelesen|lu|non lu|le[íi]do|no le[íi]do|gelezen"
    r"|niet gelezen|letto|non letto)\s*:",
    re.IGNORECASE,
)
# The Message-IDs mailflow.sending gives our questions: 32 hex digits at our host. The
# form matters as much as the domain: Thunderbird and others put the sender's own domain in
# their Message-IDs, so a colleague replying from the company domain must not look like us.
_OUR_MESSAGE_ID = re.compile(r"<[0-9a-f]{32}@[^<>@\s]+>")
# Exactly what mailflow.emails sends; Exchange's own out-of-office says "All".
_OUR_SUPPRESS = {"oof", "autoreply"}
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponse")
_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}


def _first_token(value: str | None) -> str:
    # "auto-replied; owner-email=..." -> "auto-replied"
    return (value or "").split(";")[0].strip().lower()


def _on_domains(domain: str, ours: set[str]) -> bool:
    return bool(domain) and any(domain == d or domain.endswith("." + d) for d in ours)


def classify(msg: ParsedMessage, *, our_domains: set[str]) -> Classification:
    """Classify inbound mail: our own mail, delivery notices, receipts, auto-replies.

    `our_domains` are the hosts this app sends from and names its Message-IDs after. A
    Message-ID counts as ours only in the form we generate (32 hex digits), so the
    company's own mail domain may be among them."""
    ours = {d.strip().strip(".").lower() for d in our_domains if d and d.strip()}

    suppress = {
        t.strip().lower() for t in (msg.header("x-auto-response-suppress") or "").split(",")
    }
    if (
        _first_token(msg.header("auto-submitted")) == "auto-generated"
        and suppress == _OUR_SUPPRESS
        and _on_domains(domain_of(msg.from_address), ours)
    ):
        return Classification(LOOP, "our own automatic headers, from our domain")
    if _OUR_MESSAGE_ID.fullmatch(msg.message_id or "") and _on_domains(
        message_id_domain(msg.message_id), ours
    ):
        return Classification(LOOP, "our Message-ID, on our domain")

    # Before receipts and auto-replies: a notice carries their headers too (Precedence,
    # a null return path, a disposition-notification shape for a rejection).
    notice = read_notice(msg)
    if notice is not None:
        if notice.outcome == DELAYED:
            return Classification(DELAY, f"Not a final failure: {notice.reason}")
        if notice.outcome == INFORMATIONAL:
            return Classification(AUTO_REPLY, f"Delivery report: {notice.reason}")
        return Classification(BOUNCE, f"Permanent failure: {notice.reason}")

    if msg.report_type == "disposition-notification":
        return Classification(READ_RECEIPT, "multipart/report; disposition-notification")
    if _RECEIPT_SUBJECT.match(msg.subject):
        return Classification(READ_RECEIPT, "read receipt subject")

    reason = _auto_reply_reason(msg)
    if reason:
        return Classification(AUTO_REPLY, reason)
    return Classification(REPLY, "no sign of automatic mail")


def _auto_reply_reason(msg: ParsedMessage) -> str | None:
    auto_submitted = msg.header_values("auto-submitted")
    if auto_submitted and any(_first_token(v) != "no" for v in auto_submitted):
        return "Auto-Submitted header (RFC 3834)"
    for name in _AUTO_HEADERS:
        if msg.header(name) is not None:
            return f"{name} header"
    if _first_token(msg.header("precedence")) in _BULK_PRECEDENCE:
        return "Precedence header"
    if msg.header("x-ms-exchange-inbox-rules-loop") is not None:
        return "Exchange inbox-rule loop header"
    # Exchange names the agent that generated a message; inbox rules (out-of-office among
    # them) are the "Mailbox Rules Agent". Other agents are not about auto-replies.
    source = msg.header("x-ms-exchange-generated-message-source") or ""
    if "mailbox rules agent" in source.lower():
        return "generated by an Exchange mailbox rule"
    if any(v.strip() in ("<>", "") for v in msg.header_values("return-path")):
        return "null return path"
    if _OUT_OF_OFFICE.match(msg.subject):
        return "out-of-office subject"
    return None
