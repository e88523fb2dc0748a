"""Text from outside (emails, provider events, forms, files) as every database stores it.

PostgreSQL refuses NUL in text and in JSON, where SQLite keeps it; a lone surrogate (a JSON
"\\ud800") cannot be encoded for either. So at each edge NUL is removed from free text
and refused in identifiers (addresses, numbers, filter values), the same on both
databases, and the database never sees what it would refuse."""

import re
from typing import Any

NUL = "\x00"
# In a Python string every surrogate is a lone one: JSON's pairs are joined when parsed.
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """Free text without NUL, lone surrogates shown as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text.replace(NUL, ""))


def storable_json(value: Any) -> Any:
    """A JSON value (dict, list, string, number) with storable() applied to every string
    in it, keys too."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return {storable_json(key): storable_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(item) for item in value]
    return value


def has_nul(text: str) -> bool:
    """For identifiers: a NUL in one is refused, never removed (removing it would make
    another address or number out of it)."""
    return NUL in text
