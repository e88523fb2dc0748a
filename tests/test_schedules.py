"""The migrations schedule the sweepers: each recurring django-q schedule they create."""

import pytest
from django_q.models import Schedule

SWEEPERS = {
    ("Dispatch timeline entries left behind by a crash", "incidents.tasks.sweep_timeline", 1),
    ("Send reminders and expire unanswered questions", "mailflow.tasks.process_due_requests", 1),
    ("Process inbound email left unprocessed", "mailflow.tasks.sweep_inbound", 5),
    ("Process delivery events left unprocessed", "mailflow.tasks.sweep_tracking_events", 5),
    ("Make tasks of held answers nobody confirmed", "mailflow.tasks.sweep_held_answers", 5),
    ("Resume runbook runs left behind by a crash", "runbooks.tasks.sweep_runs", 1),
    ("Poll mailboxes", "mailflow.tasks.poll_mailboxes", 1),
}


@pytest.mark.django_db
def test_the_migrations_schedule_every_sweeper_to_repeat_forever():
    schedules = Schedule.objects.filter(schedule_type=Schedule.MINUTES)
    assert {(s.name, s.func, s.minutes) for s in schedules} == SWEEPERS
    assert {s.repeats for s in schedules} == {-1}
    assert all(s.next_run for s in schedules)
