"""Logging that keeps secrets and personal data out of the logs, in plain text or JSON.

Answer-link tokens travel in URL paths (/respond/<token>/), reply and bounce tokens in
addresses (reply+<token>@..., bounce+<token>@...); Django logs request paths (runserver's
request lines, "Not Found: ...", "Too Many Requests: ..."), so all are rewritten before any
handler writes the record, in the message and in the traceback alike: an exception's text
often quotes the value it choked on. Email addresses are personal data and rarely needed
to debug.
"""

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from core import log_context

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
# What each line carries besides its message (core.log_context).
CONTEXT_FIELDS = ("request_id", "incident", "task")


def redact_reply_tokens(text: str) -> str:
    """Reply and bounce addresses without their token, for pages that show mail headers."""
    pattern, replacement = _REPLY_TOKEN
    return pattern.sub(replacement, text)


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Render the message and the traceback, redact them, and store the results on the
    record itself, so every handler after this one (and any formatter) sees only the
    redacted text. The exception itself is dropped from the record: a formatter would
    otherwise render its traceback again, unredacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call; leave it to logging's own error handling
            return True
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, ()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class ContextFilter(logging.Filter):
    """Copy the request id, incident number and task name onto the record when it is made,
    in the thread or task that logs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in log_context.current().items():
            setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for a SIEM: the time in UTC (ISO 8601), level, logger,
    message, the context fields (null when unknown) and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **{name: getattr(record, name, None) for name in CONTEXT_FIELDS},
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def logging_config(level: str, log_format: str) -> dict[str, Any]:
    """settings.LOGGING: everything through one console handler that adds the context and
    redacts, formatted as `log_format` ("plain" or "json")."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "json": {"()": "core.logging.JsonFormatter"},
        },
        # Answer-link and reply tokens and email addresses never reach a log line.
        "filters": {
            "context": {"()": "core.logging.ContextFilter"},
            "redact": {"()": "core.logging.RedactSecretsFilter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django-q": {"level": "WARNING" if level == "INFO" else level},
            # Django's defaults give these their own, unfiltered handlers (runserver's
            # request lines carry the answer links' tokens): everything goes through
            # "console" instead.
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
            # aiosmtpd logs every sender and recipient at INFO and message lines at DEBUG;
            # the SMTP receiver logs what went wrong itself, without them.
            "mail.log": {"level": "WARNING"},
        },
    }
