"""The ask_approval action: one or more approvers approve or deny, and the run branches
on `approved`, `denied` or `no_answer` (and `undeliverable`, `no_target`).

Declared here with its parameters and validation; mailflow carries it out
(mailflow.approvals: one request per approver, and the tally that decides). The generic
executor only waits, like ask_user's.
"""

from incidents.timeline import timeline_record
from runbooks import timeline_kinds as kinds
from runbooks.actions import StepContext, StepOutcome, action, wait_for_answer
from runbooks.params import Param

APPROVED = "approved"
DENIED = "denied"
# What the steps after an ask_approval step branch on, as guards name them: the run's
# outcome, not the approvers' votes (approve / deny, mailflow.approvals).
APPROVAL_OUTCOMES = [
    {"key": APPROVED, "label": "Approved"},
    {"key": DENIED, "label": "Denied"},
]


@action(
    "ask_approval",
    "Ask for approval",
    "Email one or more approvers to approve or deny, and wait for the decision: approved "
    "once the quorum approves, denied once denials leave it out of reach, no_answer at the "
    "deadline. Steps after it branch on approved / denied / no_answer.",
    question=Param("template", "What is to be approved, e.g. 'Disable the account of "
                   "{person_name}?'", required=True, translatable=True),
    approvers=Param(
        "approvers",
        "One per line: manager (the person's manager), person:<email> (someone in the "
        "directory or a staff user), group:<name> (the active members of that group).",
        required=True,
    ),
    quorum=Param("int", "How many approvals are needed; 0: every approver.", default=0,
                 label="Approvals needed"),
    subject=Param("template", "Email subject (the incident number is added).", default="",
                  translatable=True),
    body=Param("template", "Why it is asked: text before the question in the email.",
               default="", translatable=True),
    deadline_hours=Param("int", "Give up waiting after this long.", default=24,
                         label="Deadline after", unit="hours"),
)  # fmt: skip
def ask_approval(ctx: StepContext) -> StepOutcome:
    """Suspend the run until run_resume; mailflow's version emails the approvers."""
    timeline_record(
        incident=ctx.incident,
        kind=kinds.RUNBOOK_WAITING,
        actor=ctx.actor,
        summary=f"Waiting for approval: {ctx.render(ctx.params['question'])}",
        body="Approvers: " + ", ".join(ctx.params["approvers"]),
    )
    return wait_for_answer(ctx)
