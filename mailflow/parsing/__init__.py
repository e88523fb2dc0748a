"""Pure functions for inbound mail: parse, classify, correlate, read the answer.

No database and no models here: the inbound task stores what these return. Split from one
module into a package by concern once it grew past a few hundred lines."""

from mailflow.parsing.answer import UNRECOGNISED, AnswerReading, read_answer, strip_quoted
from mailflow.parsing.classify import (
    AUTO_REPLY,
    BOUNCE,
    DELAY,
    LOOP,
    READ_RECEIPT,
    REPLY,
    Classification,
    classify,
)
from mailflow.parsing.correlate import (
    bounce_tokens,
    original_message_ids,
    original_reply_tokens,
    referenced_message_ids,
    reply_tokens,
    subject_incident_numbers,
)
from mailflow.parsing.headers import address_matches
from mailflow.parsing.htmltext import html_to_text
from mailflow.parsing.message import Attachment, ParsedMessage, parse_message

__all__ = [
    "AUTO_REPLY",
    "BOUNCE",
    "DELAY",
    "LOOP",
    "READ_RECEIPT",
    "REPLY",
    "UNRECOGNISED",
    "AnswerReading",
    "Attachment",
    "Classification",
    "ParsedMessage",
    "address_matches",
    "bounce_tokens",
    "classify",
    "html_to_text",
    "original_message_ids",
    "original_reply_tokens",
    "parse_message",
    "read_answer",
    "referenced_message_ids",
    "reply_tokens",
    "strip_quoted",
    "subject_incident_numbers",
]
