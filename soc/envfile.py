"""The local `.env` file: settings for one checkout, so that every `manage.py` command
works on a laptop without exporting variables. `manage.py up` writes it on its first run;
the settings read it when present. A variable set in the environment always wins, so a
server configured through its environment is never overridden by a stray file.

The format is the common one: `NAME=value` lines, blank lines and `#` comments, an
optional `export ` before the name, and values optionally in single or double quotes (no
escapes inside). An unquoted value ends at ` #`, where a comment may follow."""

import os
import re
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_ASSIGNMENT = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)")
_QUOTED = re.compile(r"""(["'])(.*?)\1\s*(?:#.*)?""")
_COMMENT = re.compile(r"\s#")

HEADER = """\
# Local settings for this checkout, written by `manage.py up` on its first run, which
# never overwrites this file. Every manage.py command reads it; a variable set in the
# environment wins. Keep it private and out of version control (.gitignore lists it):
# SECRET_KEY signs sign-in sessions and the answer links in emails, so changing it breaks
# the links already sent. For a server, set environment variables instead (.env.example
# lists them all).
"""


def env_file_path(base_dir: Path) -> Path:
    """ENV_FILE when set, else `.env` in the project folder."""
    return Path(os.environ.get("ENV_FILE", "").strip() or base_dir / ".env")


def read_env_file(path: Path) -> dict[str, str]:
    """The variables the file sets; none when there is no file. A line that is not
    `NAME=value` stops startup with its number (not its text, which may hold a secret)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ImproperlyConfigured(f"The settings file {path} cannot be read: {exc}") from None
    variables = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assignment = _ASSIGNMENT.fullmatch(line)
        value = _value(assignment[2]) if assignment else None
        if value is None:
            raise ImproperlyConfigured(
                f"{path}, line {number}: expected NAME=value (a quoted value needs its "
                "closing quote)"
            )
        variables[assignment[1]] = value
    return variables


def _value(raw: str) -> str | None:
    """The value as written after `=`; None when a quote is not closed."""
    if raw[:1] in ("'", '"'):
        quoted = _QUOTED.fullmatch(raw)
        return quoted[2] if quoted else None
    return _COMMENT.split(raw, maxsplit=1)[0].rstrip()


def load_env_file(path: Path) -> None:
    """Put the file's variables into the environment, except those already there (even
    empty): the environment wins."""
    for name, value in read_env_file(path).items():
        os.environ.setdefault(name, value)


def create_local_env_file(path: Path) -> bool:
    """Write DEBUG=true and a new SECRET_KEY to `path` unless a file is there already;
    True when written. Readable by its owner only: it holds the key."""
    content = f"{HEADER}DEBUG=true\nSECRET_KEY={secrets.token_urlsafe(50)}\n"
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(content)
    return True
