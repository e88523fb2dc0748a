"""Record numbers and email addresses typed in an admin search box, found through an index
instead of the admin's default scan."""

import re

INCIDENT_NUMBER = re.compile(r"SIR\d{7,}", re.IGNORECASE)
TASK_NUMBER = re.compile(r"SIT\d{7,}", re.IGNORECASE)
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def number_lookup(term: str, fields: dict[re.Pattern, str]) -> dict[str, str] | None:
    """{field: NUMBER} when the search term is a record number, else None. Numbers are
    stored upper-case, so an exact match uses the unique index where the admin's default
    `=number` (UPPER(number) = UPPER(term)) reads every row of a large table."""
    term = term.strip()
    for pattern, field in fields.items():
        if pattern.fullmatch(term):
            return {field: term.upper()}
    return None
