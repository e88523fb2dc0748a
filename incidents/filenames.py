"""Make an attacker-chosen filename safe to show and to offer as a download name."""

import re
import unicodedata

MAX_LENGTH = 120

# Windows refuses these as file names whatever the extension; a download named "CON.txt"
# fails or worse on the analyst's workstation.
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def display_filename(raw: str | None) -> str:
    """Last path component, without control or bidi characters, reserved names or
    runaway length. Never empty."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    # Cc: NUL and other controls; Cf: right-to-left override, zero-width joiners and the
    # like, which make "invoice\u202Efdp.exe" read as "invoiceexe.pdf".
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf"))
    name = re.sub(r"\s+", " ", name).strip(" .")
    if _RESERVED.match(name):
        name = f"_{name}"
    if len(name) > MAX_LENGTH:
        stem, dot, ext = name.rpartition(".")
        # Long enough for ".settingcontent-ms": the extension decides the quarantine.
        if dot and 0 < len(ext) <= 24:
            name = f"{stem[: MAX_LENGTH - len(ext) - 1]}.{ext}"
        else:
            name = name[:MAX_LENGTH]
    return name or "unnamed"
