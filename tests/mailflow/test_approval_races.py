"""Approvers voting at the same moment, on PostgreSQL only: each vote is tallied after the
other under the run's lock, so the run moves on once, with no deadlock and no vote lost."""

import pytest

from mailflow.answers import answer_record
from mailflow.models import Answer
from runbooks.models import RunbookRun
from tests.builders.approvals import BOARD, DISABLE, approval_world, ask_for_approval, seats, tasks
from tests.builders.threads import together

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def votes_at_once(requests: list, key: str) -> None:
    queue = list(requests)

    def one() -> None:
        request = queue.pop()
        answer_record(request=request, option_key=key, channel=Answer.Channel.PAGE)

    together(one, count=len(requests))


@pytest.mark.parametrize("key, outcome", [("approve", "approved"), ("deny", "denied")])
def test_three_approvers_voting_at_once_decide_once(bob, key, outcome):
    approval_world(bob)
    incident = ask_for_approval(lambda f, *a, **k: f(*a, **k), bob, [f"group:{BOARD}"], quorum=2)

    votes_at_once(seats(incident), key)

    run = RunbookRun.objects.get(incident=incident)
    assert run.state == RunbookRun.State.COMPLETED
    assert incident.timeline.filter(kind="approval.decided", data__outcome=outcome).count() == 1
    assert incident.timeline.filter(kind="runbook.resumed").count() == 1
    # Two votes decided; the third was cast at the same moment: counted before the
    # decision, or recorded late, never lost.
    assert Answer.objects.filter(request__incident=incident).count() == 3
    assert (DISABLE in tasks(incident)) == (outcome == "approved")
