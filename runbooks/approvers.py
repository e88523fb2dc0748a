"""How a runbook names approvers (ask_approval's `approvers` parameter), checked without
touching the database: whom they are is read when the step runs (mailflow.approvers)."""

import re
from typing import Any

# An approver: "manager" (the asked person's manager in the directory), "person:<email>"
# (a directory person or a staff user with that address) or "group:<name>" (the active
# members of that Django group who have an email address).
MANAGER = "manager"
_APPROVER = re.compile(r"(?:manager|person:[^\s@]+@[^\s@]+\.[^\s@]+|group:\S.{0,149})")
MAX_APPROVERS = 50


def clean_approvers(value: Any) -> list[str]:
    """The approver list, stripped and without repeats; ValueError says what is wrong. A
    text with one approver per line (the admin's field) is read as that list."""
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, list):
        raise ValueError('must be a list such as ["manager", "person:ciso@example.com"]')
    approvers: list[str] = []
    for entry in value:
        if not isinstance(entry, str):
            raise ValueError("each approver must be text")
        entry = entry.strip()
        if not entry:
            continue
        if entry.lower() == MANAGER:
            entry = MANAGER
        elif entry.lower().startswith("person:"):
            entry = "person:" + entry[len("person:") :].strip().lower()
        elif entry.lower().startswith("group:"):
            entry = "group:" + entry[len("group:") :].strip()
        if not _APPROVER.fullmatch(entry):
            raise ValueError(
                f"{entry[:60]!r} is not an approver: write manager, person:<email> or "
                "group:<group name>"
            )
        if entry not in approvers:
            approvers.append(entry)
    if not approvers:
        raise ValueError("name at least one approver")
    if len(approvers) > MAX_APPROVERS:
        raise ValueError(f"at most {MAX_APPROVERS} approvers")
    return approvers
