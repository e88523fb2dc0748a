"""A logging filter that keeps secrets and personal data out of the logs.

Answer-link tokens travel in URL paths (/respond/<token>/), reply and bounce tokens in
addresses (reply+<token>@..., bounce+<token>@...); Django logs request paths (runserver's
request lines, "Not Found: ...", "Too Many Requests: ..."), so all are rewritten before any
handler writes the record. Email addresses are personal data and rarely needed to debug.
"""

import logging
import re

_REPLY_TOKEN = (
    re.compile(r"(reply|bounce)\+[^@\s\"'<>]+@", re.IGNORECASE),
    r"\1+[redacted]@",
)
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Any segment after /respond/ except the token-free thanks page.
    (re.compile(r"/respond/(?!thanks/)[^/\s?#\"']+/?"), "/respond/[redacted]/"),
    _REPLY_TOKEN,
    # REST API tokens (core.api.services.TOKEN_PREFIX), should one be pasted into a logged value.
    (re.compile(r"\bsoc_[A-Za-z0-9_-]{20,}"), "soc_[redacted]"),
    # Needs at least one local-part character before "@": "reply+[redacted]@" stays.
    (re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
)


def redact_reply_tokens(text: str) -> str:
    """Reply and bounce addresses without their token, for pages that show mail headers."""
    pattern, replacement = _REPLY_TOKEN
    return pattern.sub(replacement, text)


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Render the message, redact it, and store the result on the record itself, so every
    handler after this one (and any formatter) sees only the redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call; leave it to logging's own error handling
            return True
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, ()
        return True
