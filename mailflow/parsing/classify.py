"""What kind of inbound mail this is: a person's reply, or something automatic.

Only a "reply" may ever be read as an answer. Everything else is flagged (auto-replies,
read receipts, loops) or makes the request undeliverable (bounces). When in doubt the
rules lean towards "automatic": a real answer flagged for an analyst costs a minute, an
out-of-office read as "yes" sends a runbook down the wrong branch."""

import re
from dataclasses import dataclass

from mailflow.parsing.headers import domain_of, message_id_domain
from mailflow.parsing.message import ParsedMessage

REPLY = "reply"
AUTO_REPLY = "auto_reply"
BOUNCE = "bounce"
READ_RECEIPT = "read_receipt"
LOOP = "loop"


@dataclass(frozen=True)
class Classification:
    kind: str  # one of REPLY, AUTO_REPLY, BOUNCE, READ_RECEIPT, LOOP
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
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undelivered mail returned to sender|undeliverable\b|undelivered\b"
    r"|delivery status notification \(failure\)|mail delivery failed|delivery (?:has )?failed"
    r"|delivery failure|failure notice|returned mail\b|message not delivered"
    r"|unzustellbar|nicht zustellbar|non remis|no se puede entregar|onbestelbaar"
    r"|non recapitabile)",
    re.IGNORECASE,
)
_RECEIPT_SUBJECT = re.compile(
    r"^\s*(?:read|not read|gelesen|nicht gelesen|lu|non lu|le[íi]do|no le[íi]do|gelezen"
    r"|niet gelezen|letto|non letto)\s*:",
    re.IGNORECASE,
)
_BOUNCE_LOCAL_PARTS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}
# For From headers too odd to parse as one address, e.g. a bare "MAILER-DAEMON".
_BOUNCE_SENDER = re.compile(r"(?:^|[\s<\"])(?:mailer-daemon|postmaster)(?:@|>|\s*\(|\s*$)", re.I)
# The Message-IDs mailflow.services gives our questions: 32 hex digits at our host. The
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
    """Classify inbound mail; bounces first, then our own mail, receipts, auto-replies.

    `our_domains` are the hosts this app sends from and names its Message-IDs after. A
    Message-ID counts as ours only in the form we generate (32 hex digits), so the
    company's own mail domain may be among them."""
    ours = {d.strip().strip(".").lower() for d in our_domains if d and d.strip()}

    if msg.report_type == "delivery-status":
        if msg.delivery_actions and "failed" not in msg.delivery_actions:
            # "delayed" or "relayed": the mail may still arrive, so nothing is undeliverable.
            return Classification(AUTO_REPLY, "delivery report without a failure")
        return Classification(BOUNCE, "multipart/report; report-type=delivery-status")

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

    if msg.from_address and msg.from_address.split("@")[0] in _BOUNCE_LOCAL_PARTS:
        return Classification(BOUNCE, "sent by a mailer daemon or postmaster")
    if not msg.from_address and _BOUNCE_SENDER.search(msg.header("from") or ""):
        return Classification(BOUNCE, "sent by a mailer daemon or postmaster")
    if _BOUNCE_SUBJECT.match(msg.subject):
        return Classification(BOUNCE, "bounce subject")

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
