"""The analysts' dashboard, above the admin index's app list: counts and charts, each a
link to the filtered admin list behind it.

The frame lives here and knows no app above incidents. Each app contributes its figures
through settings.DASHBOARD_FIGURES, dotted paths to functions of (user, now) that return
a Figures holding only what that user may open. A contributor's answer is cached for a
minute per contributor and per permission set: analysts with the same groups share one
computation, and a user with fewer permissions never sees a cached figure of another's.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.module_loading import import_string

# The charts' window: today and the days before it, as calendar days in TIME_ZONE.
DAYS = 30
REFRESH_SECONDS = 60
CACHE_PREFIX = "dashboard:v1"


@dataclass(frozen=True)
class Figure:
    """One count and the list behind it. `attention`: shown highlighted when above 0."""

    label: str
    value: int
    url: str
    attention: bool = False


@dataclass(frozen=True)
class Breakdown:
    """A count split into parts, each a link (open incidents by state, say)."""

    label: str
    figures: tuple[Figure, ...]


@dataclass(frozen=True)
class Card:
    title: str
    figures: tuple[Figure, ...]
    breakdowns: tuple[Breakdown, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Cell:
    text: str
    url: str = ""


@dataclass(frozen=True)
class Chart:
    """A chart drawn on the server (incidents.dashboard_charts) and its numbers as a
    table, for screen readers and for reading exact values."""

    title: str
    svg: str
    url: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str = ""


@dataclass(frozen=True)
class Figures:
    cards: tuple[Card, ...] = ()
    charts: tuple[Chart, ...] = ()


@dataclass(frozen=True)
class Dashboard:
    cards: list[Card] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    as_of: datetime | None = None

    @property
    def empty(self) -> bool:
        return not self.cards and not self.charts


Contributor = Callable[[Any, datetime], Figures]


def window_days(now: datetime) -> list[date]:
    """The charts' days, oldest first, ending today in TIME_ZONE."""
    today = timezone.localdate(now, timezone.get_default_timezone())
    return [today - timedelta(days=back) for back in range(DAYS - 1, -1, -1)]


def day_start(day: date) -> datetime:
    """Midnight at the start of `day` in TIME_ZONE, aware."""
    return timezone.make_aware(
        datetime.combine(day, datetime.min.time()), timezone.get_default_timezone()
    )


def window_start(now: datetime) -> datetime:
    return day_start(window_days(now)[0])


def list_url(changelist: str, **params: Any) -> str:
    """An admin list's address with its filters, values formatted as the admin reads them
    back (datetimes in ISO form with their offset)."""
    query = {k: v.isoformat(sep=" ") if isinstance(v, datetime) else v for k, v in params.items()}
    return f"{changelist}?{urlencode(query)}" if query else changelist


def _permission_key(user: Any) -> str:
    # get_all_permissions() gives a superuser every permission, so they share a key too.
    perms = "\n".join(sorted(user.get_all_permissions()))
    return hashlib.sha256(f"{user.is_superuser}\n{perms}".encode()).hexdigest()[:24]


def _contribution(path: str, user: Any, now: datetime) -> tuple[datetime, Figures]:
    key = f"{CACHE_PREFIX}:{path}:{_permission_key(user)}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    computed = (now, import_string(path)(user, now))
    cache.set(key, computed, REFRESH_SECONDS)
    return computed


def dashboard_for(user: Any, now: datetime | None = None) -> Dashboard:
    """Every contributor's figures for this user, cached for REFRESH_SECONDS. `as_of` is
    when the oldest of them was computed."""
    now = now or timezone.now()
    cards: list[Card] = []
    charts: list[Chart] = []
    times: list[datetime] = []
    for path in getattr(settings, "DASHBOARD_FIGURES", []):
        computed_at, figures = _contribution(path, user, now)
        if figures.cards or figures.charts:
            cards.extend(figures.cards)
            charts.extend(figures.charts)
            times.append(computed_at)
    return Dashboard(cards=cards, charts=charts, as_of=min(times) if times else None)
