"""Reads for the incident page: which runbooks apply to an incident, and what ran."""

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db.models import Case, Count, F, Q, When, Window
from django.db.models.functions import RowNumber

from incidents.models import SecurityIncident
from runbooks.models import Runbook, RunbookRun, Trigger
from runbooks.starting import runbook_matches

# Runs listed one by one under each runbook; more are counted, with a link to the list (a
# runbook that asked the recipients of a phishing email has a run per person).
RUNS_SHOWN = 3
# Runs in the incident's summary header, those still going first.
HEADER_RUNS = 3
UNFINISHED = [RunbookRun.State.RUNNING, RunbookRun.State.WAITING, RunbookRun.State.FAILED]


@dataclass
class IncidentRunbook:
    """A runbook as it concerns one incident."""

    runbook: Runbook
    matches: bool
    runs: list[RunbookRun] = field(default_factory=list)  # the newest, up to RUNS_SHOWN
    run_count: int = 0
    states: Counter = field(default_factory=Counter)  # run state -> count

    @property
    def manual(self) -> bool:
        return self.runbook.trigger == Trigger.MANUAL

    @property
    def more_runs(self) -> int:
        return self.run_count - len(self.runs)

    @property
    def state_summary(self) -> str:
        """The counts by state, in the order of the states: like "2 waiting for an
        answer, 1 completed"."""
        return ", ".join(
            f"{self.states[state]} {label.lower()}"
            for state, label in RunbookRun.State.choices
            if self.states[state]
        )

    @property
    def startable(self) -> bool:
        """Offered on the start page: active, and the incident meets its conditions."""
        return self.runbook.active and self.matches


def incident_runbooks(incident: SecurityIncident) -> list[IncidentRunbook]:
    """The active runbooks whose conditions the incident meets, and every runbook that has
    run on it (matching or not any more), in name order; the runs shown come with their
    step results (for their path). Six queries, whatever the number of runs."""
    counts = (
        RunbookRun.objects.filter(incident=incident)
        .values_list("runbook_id", "state")
        .annotate(count=Count("id"))
        .order_by()
    )
    states: dict[int, Counter] = defaultdict(Counter)
    for runbook_id, state, count in counts:
        states[runbook_id][state] = count
    runbooks = Runbook.objects.filter(Q(active=True) | Q(pk__in=list(states))).prefetch_related(
        "categories"
    )
    rows = {
        runbook.pk: IncidentRunbook(
            runbook=runbook,
            matches=runbook_matches(runbook, incident),
            states=states[runbook.pk],
            run_count=sum(states[runbook.pk].values()),
        )
        for runbook in runbooks
    }
    # Ranked over ids alone, then fetched: a campaign's thousands of runs, each with its
    # definition, would otherwise be sorted whole (on disk) to keep three of each.
    newest_ids = list(
        RunbookRun.objects.filter(incident=incident)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("runbook_id")],
                order_by=[F("created_at").desc(), F("id").desc()],
            )
        )
        .filter(rank__lte=RUNS_SHOWN)
        .values_list("pk", flat=True)
    )
    newest = (
        RunbookRun.objects.filter(pk__in=newest_ids)
        .select_related("person")
        .prefetch_related("results")
        .order_by("-created_at", "-id")
    )
    for run in newest:
        rows[run.runbook_id].runs.append(run)
    return [row for row in rows.values() if row.startable or row.run_count]


@dataclass
class HeaderRuns:
    """The runs the incident's summary header names, and how many there are in all."""

    runs: list[RunbookRun]
    total: int
    states: Counter

    @property
    def more(self) -> int:
        return self.total - len(self.runs)

    @property
    def state_summary(self) -> str:
        return ", ".join(
            f"{self.states[state]} {label.lower()}"
            for state, label in RunbookRun.State.choices
            if self.states[state]
        )


def incident_header_runs(incident: SecurityIncident) -> HeaderRuns:
    """The incident's runs still going (waiting, running, failed) before finished ones,
    newest first, up to HEADER_RUNS; and the count of all by state. Three queries."""
    states = Counter(
        dict(
            RunbookRun.objects.filter(incident=incident)
            .values_list("state")
            .annotate(count=Count("id"))
            .order_by()
        )
    )
    # The few ids first, over narrow rows; then those runs with what the card shows.
    ids = list(
        RunbookRun.objects.filter(incident=incident)
        .annotate(finished=Case(When(state__in=UNFINISHED, then=0), default=1))
        .order_by("finished", "-created_at", "-id")
        .values_list("pk", flat=True)[:HEADER_RUNS]
    )
    runs = sorted(
        RunbookRun.objects.filter(pk__in=ids).select_related("runbook", "person"),
        key=lambda run: ids.index(run.pk),
    )
    return HeaderRuns(runs=runs, total=sum(states.values()), states=states)
