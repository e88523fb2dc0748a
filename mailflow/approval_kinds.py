"""The timeline kinds of approvals (registered in settings.TIMELINE_KINDS)."""

from incidents.timeline_kinds import Kind

APPROVAL_ASKED = "approval.asked"
APPROVAL_VOTED = "approval.voted"
APPROVAL_DECIDED = "approval.decided"

KINDS = [
    Kind(APPROVAL_ASKED, "Approval asked", frozenset({"run", "position", "requests", "quorum"})),
    Kind(
        APPROVAL_VOTED,
        "Approval vote",
        frozenset(
            {"request", "answer", "option", "channel", "flags", "approvals", "denials", "quorum"}
        ),
    ),
    Kind(
        APPROVAL_DECIDED,
        "Approval decided",
        frozenset({"run", "position", "outcome", "approvals", "denials", "quorum"}),
    ),
]
