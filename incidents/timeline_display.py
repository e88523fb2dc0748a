"""How an incident's timeline reads: newest first, under a heading per day, filtered by kind
group, with bursts of the same kind (a mail scanner's visits, delivery reports) folded into
one line. Pure arrangement of entries already read: it costs no query."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import date_format

from incidents.models import TimelineEntry
from incidents.timeline_kinds import FOLDED_KINDS, KIND_GROUPS, kinds_in_group


@dataclass
class Fold:
    """Entries of one folded kind that follow each other, shown as one line."""

    kind: str
    entries: list[TimelineEntry]  # newest first, like the timeline
    is_fold = True

    @property
    def newest(self) -> datetime:
        return self.entries[0].created_at

    @property
    def oldest(self) -> datetime:
        return self.entries[-1].created_at

    @property
    def text(self) -> str:
        """Like "3 scanner visits, 10:02-10:05" (with an en dash)."""
        one, many = FOLDED_KINDS[self.kind]
        first = timezone.localtime(self.oldest).strftime("%H:%M")
        last = timezone.localtime(self.newest).strftime("%H:%M")
        span = first if first == last else f"{first}\u2013{last}"
        return f"{len(self.entries)} {many if len(self.entries) > 1 else one}, {span}"


@dataclass
class Day:
    day: date
    lines: list = field(default_factory=list)  # TimelineEntry or Fold, newest first

    @property
    def heading(self) -> str:
        today = timezone.localdate()
        if self.day == today:
            return f"Today, {date_format(self.day, 'j F Y')}"
        if self.day == today - timedelta(days=1):
            return f"Yesterday, {date_format(self.day, 'j F Y')}"
        return date_format(self.day, "l, j F Y")


def timeline_days(entries: Iterable[TimelineEntry]) -> list[Day]:
    """Entries given newest first, grouped by their local day; within a day, consecutive
    entries of a kind in FOLDED_KINDS become one Fold (a single one stays an entry)."""
    days: list[Day] = []
    for entry in entries:
        day = timezone.localdate(entry.created_at)
        if not days or days[-1].day != day:
            days.append(Day(day))
        lines = days[-1].lines
        if entry.kind in FOLDED_KINDS and lines:
            last = lines[-1]
            if isinstance(last, Fold) and last.kind == entry.kind:
                last.entries.append(entry)
                continue
            if isinstance(last, TimelineEntry) and last.kind == entry.kind:
                lines[-1] = Fold(entry.kind, [last, entry])
                continue
        lines.append(entry)
    return days


def timeline_group(value: str | None) -> str:
    """The group asked for in the query string, or "" (every entry) for anything else."""
    return value if value in KIND_GROUPS else ""


def timeline_filtered(entries: QuerySet, group: str) -> QuerySet:
    return entries.filter(kind__in=kinds_in_group(group)) if group else entries


def timeline_filter_links(group: str) -> list[dict]:
    """The filter's choices, "All" first, each with its query string and whether chosen."""
    return [
        {"label": label, "query": f"?group={key}" if key else "?", "chosen": key == group}
        for key, label in [("", "All"), *KIND_GROUPS.items()]
    ]
