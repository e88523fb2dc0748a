"""A large, realistic case record for the analyst-pages benchmark (built by
`python -m bench.make_case_record`, or call_command(Command(), ...) in a test).

BENCHMARK ONLY. This is the one place in the project that writes incidents, tasks and
timeline entries without going through `incidents.services`: a million entries through
the services would take hours, and the benchmark measures reading, not writing. Rows are
written by `_BulkWriter` alone (PostgreSQL COPY, or bulk_create elsewhere), no timeline
entry is dispatched to subscribers (all are marked dispatched), and no runbook starts.
Never run it against a database that holds real cases.

What it builds (seeded, so two runs with the same options build the same shape):
1. Directory: people, configuration items and analysts (staff in the SOC analyst group).
2. Incidents numbered from the SIR sequence, opened over the past year in number order;
   older ones mostly closed, recent ones spread over the response phases.
3. Tasks numbered from the SIT sequence, states following their incident's.
4. Timeline entries: `incident.opened` first, a `task.created` per task, then notes, state
   changes, questions and answers. A few incidents get very long timelines (5,000 entries
   at full size), the rest about ten each.
5. The number sequences are moved past the numbers used, and on PostgreSQL the tables are
   vacuumed and analysed so the planner sees the real sizes.
"""

import json
import random
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from core.actors import ActorKind
from incidents import groups
from incidents.models import (
    Category,
    ConfigurationItem,
    NumberSequence,
    Person,
    ResponseTask,
    SecurityIncident,
    TimelineEntry,
)
from incidents.numbering import FIRST_VALUE

State = SecurityIncident.State
TaskState = ResponseTask.State

_ACTIVE = [State.DRAFT, State.ANALYSIS, State.CONTAIN, State.ERADICATE, State.RECOVER,
           State.REVIEW]  # fmt: skip
# Incidents older than a month are mostly finished; recent ones are still being worked.
_OLD_STATES = ([State.CLOSED] * 85) + ([State.CANCELLED] * 8) + _ACTIVE + [State.REVIEW]
_RECENT_STATES = ([State.CLOSED] * 30) + ([State.CANCELLED] * 3) + (_ACTIVE * 10)
_PRIORITY_WEIGHTS = [5, 20, 45, 30]  # critical, high, moderate, low
_OPEN_TASK_STATES = [TaskState.OPEN, TaskState.IN_PROGRESS, TaskState.AWAITING_USER]
_DONE_TASK_STATES = [TaskState.COMPLETED] * 8 + [TaskState.INCOMPLETE, TaskState.CANCELLED]
_DEPARTMENTS = ["Finance", "Sales", "Engineering", "HR", "Legal", "Support", "Marketing"]
_FIRST = ["Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas",
          "Kim", "Lena", "Marco", "Nina", "Omar", "Paula", "Quentin", "Rosa", "Sven"]  # fmt: skip
_LAST = ["Smith", "Meyer", "Garcia", "Rossi", "Novak", "Dubois", "Jensen", "Kowalski", "Silva",
         "Brown", "Schmidt", "Martin", "Lopez", "Weber", "Costa", "Berg"]  # fmt: skip
_SUBJECTS = {
    "failed-login": "Repeated failed sign-ins for {who}",
    "policy-violation": "Unapproved download on {ci} by {who}",
    "phishing": "Phishing email reported by {who}",
    "malware": "Malware detected on {ci}",
    "data-loss": "Large upload to personal cloud storage by {who}",
    "unauthorised-access": "Sign-in from an unusual country for {who}",
}
_TASK_TITLES = ["Confirm with the user", "Reset the password", "Isolate the host",
                "Collect browser history", "Block the sender", "Review mailbox rules",
                "Scan the laptop", "Revoke sessions", "Check DLP logs"]  # fmt: skip
# Kinds after the opening entry and the task entries, weighted as a busy SOC writes them.
_LATER_KINDS = (["note.added"] * 4 + ["incident.state_changed"] * 2 + ["incident.assigned",
                "request.sent", "request.delivered", "answer.received", "task.completed",
                "task.started", "incident.updated"])  # fmt: skip


class _Incident(NamedTuple):
    """An incident row, in the column order the writer gets (_INCIDENT_FIELDS)."""

    id: int
    number: str
    subject: str
    description: str
    category_id: int
    priority: int
    state: str
    affected_user_id: int | None
    affected_ci_id: int | None
    assigned_to_id: int | None
    assignment_group_id: int | None
    external_reference: str
    opened_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    details: dict  # what happened: none here (COPY needs every NOT NULL column)


_INCIDENT_FIELDS = [name if name != "subject" else "short_description"
                    for name in _Incident._fields]  # fmt: skip


class _Task(NamedTuple):
    """What the timeline needs of a task written earlier."""

    id: int
    number: str
    title: str
    created_at: datetime


class _BulkWriter:
    """BENCHMARK ONLY: inserts rows without services, signals or timeline dispatch.

    Rows are tuples in the order of `fields` (attribute names, `incident_id` for foreign
    keys, explicit `id`s). PostgreSQL gets one COPY per table (far faster than
    INSERT); other databases get bulk_create in batches.
    """

    def __init__(self, model: type[models.Model], fields: list[str], batch: int = 5000):
        self.model = model
        self.fields = fields
        self.batch = batch
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        self.columns = [by_attname[name].column for name in fields]
        self.json_positions = [
            i for i, name in enumerate(fields) if isinstance(by_attname[name], models.JSONField)
        ]

    def write(self, rows: Iterable[tuple]) -> int:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                return self._copy(rows)
            return self._bulk_create(rows)

    def _copy(self, rows: Iterable[tuple]) -> int:
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        written = 0
        sql = f"COPY {table} ({columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in rows:
                if self.json_positions:
                    row = list(row)
                    for i in self.json_positions:
                        row[i] = json.dumps(row[i])
                copy.write_row(row)
                written += 1
        return written

    def _bulk_create(self, rows: Iterable[tuple]) -> int:
        written = 0
        chunk: list[models.Model] = []
        for row in rows:
            chunk.append(self.model(**dict(zip(self.fields, row, strict=True))))
            if len(chunk) >= self.batch:
                self.model.objects.bulk_create(chunk)
                written += len(chunk)
                chunk = []
        if chunk:
            self.model.objects.bulk_create(chunk)
            written += len(chunk)
        return written


def _next_id(model: type[models.Model]) -> int:
    return (model.objects.aggregate(m=Max("id"))["m"] or 0) + 1


def _next_number(prefix: str) -> int:
    sequence = NumberSequence.objects.filter(prefix=prefix).first()
    return (sequence.last_value if sequence else FIRST_VALUE - 1) + 1


def _spread(total: int, buckets: int, rng: random.Random, minimum: int = 0) -> list[int]:
    """`total` items over `buckets`, at least `minimum` each, the rest at random (so counts
    vary around the mean the way real incidents do)."""
    counts = [minimum] * buckets
    extra = total - minimum * buckets
    if extra > 0 and buckets:
        for index, n in Counter(rng.choices(range(buckets), k=extra)).items():
            counts[index] += n
    return counts


class Command(BaseCommand):
    help = (
        "BENCHMARK ONLY: bulk-insert a large synthetic case record (bypasses the services). "
        "Example: python -m bench.make_case_record --incidents 100000 --timeline 1000000 "
        "--tasks 200000"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--incidents", type=int, default=1000)
        parser.add_argument("--timeline", type=int, default=10000, help="Entries in all.")
        parser.add_argument("--tasks", type=int, default=2000)
        parser.add_argument("--long-timelines", type=int, default=None,
                            help="Incidents with a very long timeline (default: 1 per 20,000, "
                            "at least 1).")  # fmt: skip
        parser.add_argument("--long-length", type=int, default=5000,
                            help="Entries per long timeline (at most half of all).")  # fmt: skip
        parser.add_argument("--analysts", type=int, default=25)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, **options: Any) -> None:
        incidents, timeline, tasks = options["incidents"], options["timeline"], options["tasks"]
        if incidents < 1 or timeline < incidents or tasks < 0:
            raise CommandError("Need at least one incident and one timeline entry per incident.")
        long_count = options["long_timelines"]
        if long_count is None:
            long_count = max(1, incidents // 20000)
        long_count = min(long_count, incidents)
        # At most half of all entries, and every other incident keeps at least one.
        long_length = max(
            1,
            min(
                options["long_length"],
                timeline // 2 // long_count,
                (timeline - (incidents - long_count)) // long_count,
            ),
        )
        self.rng = random.Random(options["seed"])
        self.now = timezone.now().replace(microsecond=0)
        started = time.monotonic()

        # Long timelines go to evenly spaced incidents, so both old and recent ones exist.
        step = incidents // long_count
        long_positions = {i * step for i in range(long_count)}

        people, cis, analysts, group_id = self._directory(incidents, options["analysts"])
        self._step("directory", started)
        incident_rows = self._incidents(
            incidents, people, cis, analysts, group_id, busy=long_positions
        )
        self._step(f"{incidents} incidents", started)
        long_ids = {incident_rows[i].id for i in long_positions}
        # Busy incidents also have many tasks; the rest are spread over all the others.
        busy = min(40, tasks // (2 * long_count))
        task_counts = _spread(tasks - busy * len(long_ids), incidents, self.rng)
        for i, row in enumerate(incident_rows):
            if row.id in long_ids:
                task_counts[i] += busy
        tasks_by_incident = self._tasks(incident_rows, task_counts, analysts)
        self._step(f"{tasks} tasks", started)

        ordinary = incidents - len(long_ids)
        entry_counts = _spread(timeline - long_length * len(long_ids), ordinary, self.rng, 1)
        counts = iter(entry_counts)
        per_incident = [
            long_length if row.id in long_ids else next(counts) for row in incident_rows
        ]
        self._timeline(incident_rows, per_incident, tasks_by_incident, analysts)
        self._step(f"{timeline} timeline entries", started)

        self._finish()
        self._step("sequences, vacuum and analyse", started)

    def _step(self, what: str, started: float) -> None:
        self.stdout.write(f"{time.monotonic() - started:8.1f} s  {what}")

    # --- 1. directory -------------------------------------------------------------------

    def _directory(self, incidents: int, analyst_count: int) -> tuple[list, list, list, int]:
        rng = self.rng
        people_count = max(20, incidents // 20)
        Person.objects.bulk_create(
            [
                Person(
                    email=f"bench.person{n}@corp.example.com",
                    first_name=rng.choice(_FIRST),
                    last_name=rng.choice(_LAST),
                    department=rng.choice(_DEPARTMENTS),
                    title="Employee",
                )
                for n in range(people_count)
            ],
            batch_size=5000,
            ignore_conflicts=True,
        )
        people = list(
            Person.objects.filter(email__startswith="bench.person").values_list("id", "email")
        )
        ConfigurationItem.objects.bulk_create(
            [
                ConfigurationItem(
                    name=f"BENCH-LAPTOP-{n:06d}",
                    kind=ConfigurationItem.Kind.LAPTOP,
                    hostname=f"bench-laptop-{n:06d}.corp.example.com",
                    owner_id=people[n % len(people)][0],
                )
                for n in range(max(10, incidents // 30))
            ],
            batch_size=5000,
            ignore_conflicts=True,
        )
        cis = list(
            ConfigurationItem.objects.filter(name__startswith="BENCH-LAPTOP-").values_list(
                "id", "name"
            )
        )
        User = get_user_model()
        User.objects.bulk_create(
            [
                User(
                    username=f"bench.analyst{n:02d}",
                    first_name=_FIRST[n % len(_FIRST)],
                    last_name="Analyst",
                    is_staff=True,
                    password="!",  # noqa: S106 - unusable: nobody signs in as these
                )
                for n in range(analyst_count)
            ],
            ignore_conflicts=True,
        )
        analysts = list(
            User.objects.filter(username__startswith="bench.analyst").values_list("id", "username")
        )
        group = Group.objects.get(name=groups.SOC_ANALYST)
        group.user_set.add(*[pk for pk, _ in analysts])
        return people, cis, analysts, group.pk

    # --- 2. incidents -------------------------------------------------------------------

    def _incidents(
        self, count: int, people, cis, analysts, group_id: int, busy: set[int]
    ) -> list["_Incident"]:
        """Write the incidents; those at the `busy` positions (the long timelines) always
        have an affected user and CI, so their page shows everything an incident can."""
        rng, now = self.rng, self.now
        first_id, first_number = _next_id(SecurityIncident), _next_number("SIR")
        categories = list(Category.objects.values_list("id", "slug"))
        year = 365 * 24 * 3600
        # Sorted, so numbers grow with the opening time as they do in real life.
        offsets = sorted((rng.randrange(year) for _ in range(count)), reverse=True)
        rows = []
        for n, offset in enumerate(offsets):
            opened = now - timedelta(seconds=offset)
            old = offset > 30 * 24 * 3600
            state = rng.choice(_OLD_STATES if old else _RECENT_STATES)
            category_id, slug = rng.choice(categories)
            person = rng.choice(people) if n in busy or rng.random() < 0.9 else None
            ci = rng.choice(cis) if n in busy or rng.random() < 0.6 else None
            number = f"SIR{first_number + n:07d}"
            who = person[1] if person else "an unknown user"
            subject = _SUBJECTS.get(slug, "Suspicious activity by {who}").format(
                who=who, ci=ci[1] if ci else "a laptop"
            )
            finished = state in (State.CLOSED, State.CANCELLED)
            lifetime = timedelta(seconds=rng.randrange(3600, 14 * 24 * 3600))
            closed = min(opened + lifetime, now) if finished else None
            rows.append(
                _Incident(
                    first_id + n,
                    number,
                    subject[:200],
                    f"Alert from the SIEM. {subject}. Rule id {rng.randrange(1000, 9999)}.",
                    category_id,
                    rng.choices([1, 2, 3, 4], _PRIORITY_WEIGHTS)[0],
                    state,
                    person[0] if person else None,
                    ci[0] if ci else None,
                    rng.choice(analysts)[0] if rng.random() < 0.8 else None,
                    group_id if rng.random() < 0.7 else None,
                    f"bench-siem-{number}" if rng.random() < 0.5 else "",
                    opened,
                    closed or opened,
                    closed,
                    {},
                )
            )
        _BulkWriter(SecurityIncident, _INCIDENT_FIELDS).write(rows)
        return rows

    # --- 3. tasks -----------------------------------------------------------------------

    def _tasks(
        self, incidents: list["_Incident"], counts: list[int], analysts
    ) -> dict[int, list["_Task"]]:
        """Write the tasks; return them by incident id, for the timeline."""
        rng = self.rng
        first_id, first_number = _next_id(ResponseTask), _next_number("SIT")
        by_incident: dict[int, list[_Task]] = {}

        def rows() -> Iterator[tuple]:
            n = 0
            for incident, count in zip(incidents, counts, strict=True):
                incident_id, opened, closed = incident.id, incident.opened_at, incident.closed_at
                done = incident.state in (State.CLOSED, State.CANCELLED)
                for _ in range(count):
                    created = opened + timedelta(seconds=rng.randrange(60, 6 * 3600))
                    task_state = rng.choice(_DONE_TASK_STATES if done or rng.random() < 0.5
                                            else _OPEN_TASK_STATES)  # fmt: skip
                    finished = task_state not in _OPEN_TASK_STATES
                    end = max(closed or self.now, created) if finished else None
                    title = rng.choice(_TASK_TITLES)
                    by_runbook = rng.random() < 0.6
                    analyst = rng.choice(analysts)[0] if rng.random() < 0.7 else None
                    number = f"SIT{first_number + n:07d}"
                    by_incident.setdefault(incident_id, []).append(
                        _Task(first_id + n, number, title, created)
                    )
                    yield (
                        first_id + n, number, incident_id, title, "", task_state, analyst,
                        created + timedelta(days=2),
                        ActorKind.RUNBOOK if by_runbook else ActorKind.ANALYST,
                        "Policy violation" if by_runbook else "Analyst",
                        None if by_runbook else analyst,
                        created, end or created, end, "",
                    )  # fmt: skip
                    n += 1

        fields = ["id", "number", "incident_id", "title", "description", "state", "assignee_id",
                  "due_at", "created_by_kind", "created_by_name", "created_by_user_id",
                  "created_at", "updated_at", "closed_at", "topic"]  # fmt: skip
        _BulkWriter(ResponseTask, fields).write(rows())
        return by_incident

    # --- 4. timeline --------------------------------------------------------------------

    def _timeline(
        self, incidents: list["_Incident"], counts: list[int], tasks: dict, analysts
    ) -> None:
        rng, now = self.rng, self.now
        first_id = _next_id(TimelineEntry)
        analyst_names = [name for _, name in analysts]

        def rows() -> Iterator[tuple]:
            entry_id = first_id
            for incident, count in zip(incidents, counts, strict=True):
                incident_id, number, subject = incident.id, incident.number, incident.subject
                opened, closed = incident.opened_at, incident.closed_at
                its_tasks = tasks.get(incident_id, [])
                # A long timeline belongs to an incident worked for months.
                span = (closed or now) - opened
                if count > 100:
                    span = max(span, min(timedelta(days=120), now - opened))
                seconds = max(int(span.total_seconds()), count)
                times = sorted(rng.randrange(1, seconds) for _ in range(count - 1))
                entries = [(opened, "incident.opened", None)]
                for task in its_tasks[: count - 1]:
                    entries.append((task.created_at, "task.created", task))
                for offset in times[len(entries) - 1 :]:
                    kind = rng.choice(_LATER_KINDS)
                    task = rng.choice(its_tasks) if kind.startswith("task.") and its_tasks else None
                    entries.append((opened + timedelta(seconds=offset), kind, task))
                entries.sort(key=lambda e: e[0])
                for created, kind, task in entries:
                    actor_kind, actor_name, summary, body = self._describe(
                        kind, number, subject, task, analyst_names
                    )
                    yield (
                        entry_id, incident_id, task.id if task else None, None, created, kind,
                        actor_kind, actor_name, None, summary, body,
                        {"task": task.number} if task else {}, created, 1,
                    )  # fmt: skip
                    entry_id += 1

        fields = ["id", "incident_id", "task_id", "evidence_id", "created_at", "kind",
                  "actor_kind", "actor_name", "actor_user_id", "summary", "body", "data",
                  "dispatched_at", "dispatch_attempts"]  # fmt: skip
        _BulkWriter(TimelineEntry, fields).write(rows())

    def _describe(self, kind: str, number: str, subject: str, task, analysts: list[str]):
        rng = self.rng
        if kind == "incident.opened":
            return ActorKind.INTEGRATION, "Splunk ES", f"Incident {number} opened: {subject}", ""
        if kind.startswith("task.") and task:
            summary = f"Task {task.number} {kind[5:]}: {task.title}"
            return ActorKind.RUNBOOK, "Policy violation", summary, ""
        if kind == "answer.received":
            return ActorKind.END_USER, "The affected user", "Answer: Yes, that was me", ""
        if kind.startswith("request."):
            return ActorKind.RUNBOOK, "Policy violation", f"Question {kind[8:]}", ""
        text = rng.choice(["Called the user.", "Checked the proxy logs: nothing further.",
                           "Waiting for the user's manager.", "Host re-imaged."])  # fmt: skip
        return ActorKind.ANALYST, rng.choice(analysts), kind.replace(".", " ").capitalize(), text

    # --- 5. sequences and statistics ----------------------------------------------------

    def _finish(self) -> None:
        with transaction.atomic():
            for prefix, model in (("SIR", SecurityIncident), ("SIT", ResponseTask)):
                last = model.objects.filter(number__startswith=prefix).aggregate(m=Max("number"))
                if last["m"]:
                    NumberSequence.objects.update_or_create(
                        prefix=prefix, defaults={"last_value": int(last["m"][len(prefix) :])}
                    )
        # Explicit ids were written: move the id sequences past them.
        statements = connection.ops.sequence_reset_sql(
            no_style(), [SecurityIncident, ResponseTask, TimelineEntry]
        )
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
            if connection.vendor == "postgresql":
                # Autovacuum would get there eventually; do it now so counts can use
                # index-only scans and the planner knows the sizes, as in production.
                # VACUUM cannot run in a transaction (a test's): ANALYZE alone then.
                command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
                for model in (SecurityIncident, ResponseTask, TimelineEntry, Person):
                    cursor.execute(f"{command} {model._meta.db_table}")
