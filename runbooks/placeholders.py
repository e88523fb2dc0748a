"""Filling in a runbook text: `{first_name}` and the other named values, and
`{details.<name>}`, a field of what happened (incidents.details).

A detail is written by an outsider (a SIEM copies what an attacker typed or named), so it
goes in as plain text: the HTML email escapes it like every other value, and a web
address in it is defanged ("hxxps://files.example[.]net/x") so that neither our email nor
the person's mail program turns it into a link they could click.

A line naming a detail the incident lacks is left out rather than printed half empty:
"Source IP: {details.source_ip}" disappears when the tool sent no source_ip (or the
incident's category has no such field). Should that leave nothing at all (a one-line
question), the line is kept with a dash for what is missing.
"""

import re
from datetime import datetime
from typing import Any

from django.utils import timezone

from incidents.details import detail_kind, detail_names

DETAILS_PREFIX = "details."
MISSING = "—"
_SCHEME = re.compile(r"\b(h)(tt)(ps?)(://)", re.IGNORECASE)
_FTP = re.compile(r"\b(f)(t)(p)(://)", re.IGNORECASE)
_WWW = re.compile(r"\bwww\.", re.IGNORECASE)


def placeholder_known(name: str, named: set[str]) -> bool:
    """Whether a runbook text may name this placeholder: one of `named`, or a detail any
    category's schema declares."""
    if name.startswith(DETAILS_PREFIX):
        return name.removeprefix(DETAILS_PREFIX) in detail_names()
    return name in named


def render_text(
    template: str, pattern: re.Pattern[str], values: dict[str, str], details: dict[str, Any]
) -> str:
    """The template with its placeholders filled in as plain text; lines naming a missing
    detail left out."""
    shown = {name: detail_text(name, value) for name, value in (details or {}).items()}
    shown = {name: text for name, text in shown.items() if text}

    def fill(match: re.Match[str], missing: str | None = None) -> str:
        name = match.group(1)
        if name.startswith(DETAILS_PREFIX):
            text = shown.get(name.removeprefix(DETAILS_PREFIX))
            return text if text is not None else (missing or "")
        return values.get(name, match.group(0))

    def complete(line: str) -> bool:
        return all(
            m.group(1).removeprefix(DETAILS_PREFIX) in shown
            for m in pattern.finditer(line)
            if m.group(1).startswith(DETAILS_PREFIX)
        )

    lines = template.split("\n")
    kept = [pattern.sub(fill, line) for line in lines if complete(line)]
    rendered = "\n".join(kept)
    if len(kept) < len(lines):
        rendered = rendered.rstrip()  # no blank lines left before what was dropped
    if rendered.strip() or not template.strip():
        return rendered
    return pattern.sub(lambda m: fill(m, MISSING), template)


def detail_text(name: str, value: Any) -> str:
    """One detail as the person reads it: a time in the site's time zone, a web address
    defanged, the rest as stored (checked on the way in)."""
    if value is None:
        return ""
    kind = detail_kind(name)
    text = str(value).strip()
    if kind == "time":
        return _local_time(text)
    if kind == "site":
        return defang_site(text)
    if kind == "text":
        return defang_text(text)
    return text


def _local_time(text: str) -> str:
    try:
        moment = timezone.localtime(datetime.fromisoformat(text))
    except ValueError:
        return text
    # Numbers read the same in every language the emails speak.
    return f"{moment:%Y-%m-%d %H:%M} ({moment:%Z})"


def defang_site(text: str) -> str:
    """'https://files.example.net/a.zip' -> 'hxxps://files[.]example[.]net/a.zip': the
    reader still sees where, nothing makes a link of it."""
    text = _FTP.sub(r"fxp\4", _SCHEME.sub(r"hxx\3\4", text))
    scheme, sep, rest = text.rpartition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.replace('.', '[.]')}{slash}{path}"


def defang_text(text: str) -> str:
    """A web address inside free text (a device name, a subject) loses its scheme and www
    so no mail program makes a link of it; the rest of the text is unchanged."""
    text = _FTP.sub(r"fxp\4", _SCHEME.sub(r"hxx\3\4", text))
    return _WWW.sub("www[.]", text)


def details_help() -> str:
    """The `{details.<name>}` placeholders, for the authors' lists of placeholders."""
    names = ", ".join("{details." + name + "}" for name in sorted(detail_names()))
    return (
        f"what happened, as the detection tool reported it: {names}; a line naming one "
        "the incident lacks is left out"
    )
