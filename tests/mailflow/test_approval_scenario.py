"""The documented example (docs/approvals.md) run through: after a "no", the account is
disabled only once an approver approves."""

import re
from pathlib import Path

import pytest

from core.actors import Actor
from mailflow.models import ConfirmationRequest
from runbooks.files import runbook_import
from runbooks.models import RunbookRun
from tests.builders.approvals import approval_world, tasks, vote
from tests.factories import open_incident

DOC = Path(__file__).resolve().parents[2] / "docs" / "approvals.md"


def documented_runbook() -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return next(b for b in blocks if b.startswith("name:"))


@pytest.fixture
def example(db, bob):
    world = approval_world(bob)
    runbook_import(documented_runbook(), actor=Actor.system(), source="approvals.md")
    return world


def answer_the_question(committed, bob, key: str):
    incident = committed(open_incident, affected_user=bob)
    question = ConfirmationRequest.objects.get(incident=incident, kind="question")
    vote(committed, question, key)
    return incident


def test_after_a_no_the_account_is_disabled_only_once_approved(example, committed, bob, analyst):
    incident = answer_the_question(committed, bob, "no")
    asked = ConfirmationRequest.objects.filter(incident=incident, kind="approval")
    # The manager and the SOC analysts (Alice and Carla) are asked; one approval will do.
    assert sorted(r.recipient_email for r in asked) == [
        "alice@soc.example.com", "carla@soc.example.com", "maya@corp.example.com"
    ]  # fmt: skip
    assert tasks(incident) == []

    vote(committed, asked.get(recipient_email="maya@corp.example.com"), "approve")

    assert tasks(incident) == ["Disable the account of Bob Builder"]
    assert RunbookRun.objects.get(incident=incident).state == RunbookRun.State.COMPLETED


def test_after_a_no_a_denied_approval_disables_nothing(example, committed, bob, analyst):
    incident = answer_the_question(committed, bob, "no")
    approvers = ConfirmationRequest.objects.filter(incident=incident, kind="approval")

    for seat in approvers.order_by("seat"):
        vote(committed, seat, "deny")  # one approval would do: only all three deny

    assert tasks(incident) == []
    notes = list(incident.timeline.filter(kind="note.added").values_list("body", flat=True))
    assert notes == ["Not disabling the account of Bob Builder: the approval was denied."]


def test_after_a_yes_nobody_is_asked_for_approval(example, committed, bob):
    incident = answer_the_question(committed, bob, "yes")

    assert not ConfirmationRequest.objects.filter(incident=incident, kind="approval").exists()
    assert tasks(incident) == []
