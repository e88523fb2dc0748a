"""What the apps' migrations share. Migrations import this for as long as they exist, so
what a helper does to the database must never change: add a new helper instead."""

from collections.abc import Callable

from django.db import migrations
from django.utils import timezone


def schedule_every(apps, *, name: str, func: str, minutes: int) -> None:
    """Schedule the django-q task `func` (dotted path) every `minutes` from now, forever,
    unless a schedule of that name exists. An interval schedule does not catch up on runs
    missed while the cluster was down."""
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        name=name,
        defaults={
            "func": func,
            "schedule_type": "I",  # every `minutes`
            "minutes": minutes,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


def unschedule(apps, *, name: str) -> None:
    apps.get_model("django_q", "Schedule").objects.filter(name=name).delete()


def add_schedule(
    *, name: str, func: str, minutes: int, removed_on_reverse: bool = True
) -> migrations.RunPython:
    """The migration operation of schedule_every; reversed by removing the schedule, or
    by nothing for the migrations that were written that way."""

    def forwards(apps, schema_editor) -> None:
        schedule_every(apps, name=name, func=func, minutes=minutes)

    def backwards(apps, schema_editor) -> None:
        unschedule(apps, name=name)

    reverse: Callable = backwards if removed_on_reverse else migrations.RunPython.noop
    return migrations.RunPython(forwards, reverse)


def postgresql_only(sql: str, reverse_sql: str) -> migrations.RunPython:
    """Run `sql` on PostgreSQL and nothing elsewhere (an index SQLite cannot have, such as
    a trigram index): the migration still applies on the embedded database."""

    def run(statement: str) -> Callable:
        def operation(apps, schema_editor) -> None:
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(statement)

        return operation

    return migrations.RunPython(run(sql), run(reverse_sql))
