"""django-q2 as configured: successful tasks are not stored (its pruning of stored
successes locked and read all of them on every task; bench/reply_to_branch.py)."""

from django_q.models import Success
from django_q.tasks import async_task


def test_a_successful_task_is_not_stored(db):
    async_task("math.sqrt", 4.0)

    assert not Success.objects.exists()
