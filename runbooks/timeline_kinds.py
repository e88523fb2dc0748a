"""The timeline kinds runbooks write (registered in settings.TIMELINE_KINDS)."""

from incidents.timeline_kinds import Kind

RUNBOOK_STARTED = "runbook.started"
RUNBOOK_WAITING = "runbook.waiting"
RUNBOOK_RESUMED = "runbook.resumed"
RUNBOOK_COMPLETED = "runbook.completed"
RUNBOOK_FAILED = "runbook.failed"
RUNBOOK_CANCELLED = "runbook.cancelled"
RUNBOOK_RETRIED = "runbook.retried"
# A question had nobody to ask (no manager, an address not in the directory).
RUNBOOK_NO_TARGET = "runbook.no_target"

KINDS = [
    # One run, or a campaign of runs started for many people at once.
    Kind(
        RUNBOOK_STARTED,
        "Runbook started",
        frozenset({"run", "runbook", "version", "people", "runs"}),
    ),
    Kind(RUNBOOK_WAITING, "Runbook waiting for an answer"),
    Kind(RUNBOOK_RESUMED, "Runbook resumed", frozenset({"run", "outcome", "channel"})),
    Kind(RUNBOOK_COMPLETED, "Runbook completed", frozenset({"run"})),
    Kind(RUNBOOK_FAILED, "Runbook failed", frozenset({"run", "position"})),
    Kind(RUNBOOK_CANCELLED, "Runbook cancelled", frozenset({"run"})),
    Kind(RUNBOOK_RETRIED, "Runbook retried", frozenset({"run"})),
    Kind(RUNBOOK_NO_TARGET, "Nobody to ask", frozenset({"run", "position", "target"})),
]
