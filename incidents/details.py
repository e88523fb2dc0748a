"""What happened, in fields: the structured details a detection tool sends with an incident
(`SecurityIncident.details`), one schema per category, keyed by the category's slug.

Every value is written by an outsider (a SIEM copies what an attacker typed into a login
form or named a file), so each is checked here at the edge and stored normalised: a time
as ISO 8601 in UTC, an IP address in its canonical form, text as one clean line. A
runbook shows them in the email to the affected person as plain text
(runbooks.placeholders). Every field is optional: a tool sends what it has, and a text
line naming a missing field is left out.
"""

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from core.text import INVISIBLE

# Kinds of value: a time (ISO 8601 with its offset), an IP address, one line of text, a
# whole number, a web site (a URL or a host name), a file hash (hexadecimal).
KINDS = ("time", "ip", "text", "int", "site", "hash")
MAX_TEXT = 200
MAX_SITE = 2000
MAX_INT = 10**9
_HASH = re.compile(r"[0-9a-fA-F]{32,128}")
_HOST = re.compile(r"(?=.{1,253}$)([A-Za-z0-9-]{1,63}\.)*[A-Za-z0-9-]{1,63}\.?")
# Control characters, line breaks and the Unicode line separators: a detail is one line.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class Field:
    kind: str
    help: str
    example: Any


SCHEMAS: dict[str, dict[str, Field]] = {
    "failed-login": {
        "time": Field("time", "When the attempts happened.", "2026-12-04T07:42:00Z"),
        "source_ip": Field("ip", "Where they came from.", "203.0.113.7"),
        "location": Field("text", "The place the address is in.", "Lisbon, Portugal"),
        "device": Field("text", "Browser, app or device named.", "Chrome on Windows"),
        "attempts": Field("int", "How many attempts.", 12),
    },
    "policy-violation": {
        "file_name": Field("text", "The file downloaded.", "invoice_2026.zip"),
        "site": Field("site", "Where from: a URL or a host name.", "files.example.net"),
        "time": Field("time", "When.", "2026-12-04T09:15:00+01:00"),
        "file_hash": Field(
            "hash",
            "The file's SHA-256 (or MD5, SHA-1).",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        ),
    },
    "phishing": {
        "sender": Field("text", "Who the message claims to come from.", "Parcel Service"),
        "subject": Field("text", "The message's subject.", "Your parcel is waiting"),
        "received_at": Field("time", "When it arrived.", "2026-12-04T08:01:00Z"),
    },
    "malware": {
        "file_name": Field("text", "The file detected.", "eicar.com"),
        "file_hash": Field(
            "hash",
            "The file's SHA-256 (or MD5, SHA-1).",
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f",
        ),
        "detection": Field("text", "The detection's name.", "EICAR-Test-File"),
        "time": Field("time", "When it was detected.", "2026-12-04T10:00:00Z"),
    },
}


def detail_names() -> set[str]:
    """Every name any schema declares: what `{details.<name>}` may name in a runbook."""
    return {name for schema in SCHEMAS.values() for name in schema}


def detail_kind(name: str) -> str | None:
    """The kind of a detail by name (the same name has one kind in every schema)."""
    return next((s[name].kind for s in SCHEMAS.values() if name in s), None)


class DetailsError(ValueError):
    """Bad details; `field` names the one at fault ("details.source_ip")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def details_clean(category_slug: str, value: Any) -> dict[str, Any]:
    """The details checked and normalised for the category; DetailsError says which field
    is wrong and why. A category without a schema takes no details (an empty object is
    fine): free-form data would reach emails unchecked."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DetailsError("details", "Must be an object of field names and values.")
    if not value:
        return {}
    schema = SCHEMAS.get(category_slug)
    if schema is None:
        takes = ", ".join(sorted(SCHEMAS))
        raise DetailsError(
            "details", f"The category {category_slug!r} takes no details (these do: {takes})."
        )
    cleaned: dict[str, Any] = {}
    for name, item in value.items():
        field = schema.get(name) if isinstance(name, str) else None
        if field is None:
            raise DetailsError(
                f"details.{str(name)[:40]}",
                f"Unknown field for {category_slug}; known: {', '.join(schema)}.",
            )
        if item is None or item == "":
            continue  # a tool that has no value sends null: the same as leaving it out
        try:
            cleaned[name] = _CLEANERS[field.kind](item)
        except ValueError as error:
            raise DetailsError(f"details.{name}", str(error)) from None
    return cleaned


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise ValueError("Must be text.")
    if _CONTROL.search(value):
        raise ValueError("Must be one line, without control characters.")
    # Invisible format characters (bidi overrides, zero-width) only disguise: they go.
    value = "".join(c for c in value if c not in INVISIBLE)
    value = " ".join(value.split())
    if not value:
        raise ValueError("Must not be blank.")
    if len(value) > limit:
        raise ValueError(f"At most {limit} characters.")
    return value


def _time(value: Any) -> str:
    text = _text(value, 40)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("Must be an ISO 8601 time, e.g. 2026-12-04T07:42:00Z.") from None
    if moment.tzinfo is None:
        raise ValueError("Needs its time zone offset, e.g. Z or +01:00.")
    return moment.astimezone(UTC).isoformat()


def _ip(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(_text(value, 45)))
    except ValueError:
        raise ValueError("Must be an IPv4 or IPv6 address.") from None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise ValueError(f"Must be a whole number from 0 to {MAX_INT}.")
    return value


def _site(value: Any) -> str:
    text = _text(value, MAX_SITE)
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme.lower() not in ("http", "https", "ftp") or not parts.hostname:
            raise ValueError("Must be an http, https or ftp URL, or a host name.")
        return text
    if " " in text or not _HOST.fullmatch(text.split("/", 1)[0]):
        raise ValueError("Must be a URL or a host name, e.g. files.example.net.")
    return text


def _hash(value: Any) -> str:
    text = _text(value, 128)
    if not _HASH.fullmatch(text):
        raise ValueError("Must be 32 to 128 hexadecimal digits.")
    return text.lower()


_CLEANERS = {"time": _time, "ip": _ip, "text": _text, "int": _int, "site": _site, "hash": _hash}


_LABELS = {"source_ip": "Source IP", "received_at": "Received"}


def detail_label(name: str) -> str:
    return _LABELS.get(name) or name.replace("_", " ").capitalize()
