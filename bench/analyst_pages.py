"""Benchmark 4, analyst pages at scale: server time and query count of the pages analysts
and integrations read most, on a large case record and on a small baseline.

    uv run python bench/analyst_pages.py                 # builds the databases on first use
    uv run python bench/analyst_pages.py --regenerate    # rebuild them
    uv run python bench/analyst_pages.py --requests 50 --rounds 3 --only api
    uv run python bench/analyst_pages.py --only metrics      # the Prometheus scrape alone

Two PostgreSQL databases (created with autocommit if missing, migrated, filled by
`python -m bench.make_case_record`): the large one (100,000 incidents, 1,000,000 timeline
entries, 200,000 tasks) and the baseline (1,000 / 10,000 / 2,000), both with incidents
whose timeline holds 5,000 entries. Each also holds a campaign built through the services
by `python -m bench.campaign_record`: 10,000 people asked on the large one, 100 on the
baseline. Each is measured in a child process of this run, in-process with Django's test
client (no network, no web server: server time only), signed in as an analyst of the SOC
analyst group or calling the API with a read token. Per page: median and p95 of N
requests after warm-up, and the query count of one more request; small and large
alternate for a few rounds and each page keeps its best round. The ratio large/small
shows what size costs; the query counts must be equal. The dashboard is measured twice:
computed (its cache cleared before each request) and from its one-minute cache. Any query
over 50 ms is printed with its EXPLAIN ANALYZE.

Goal (issues 7 and 25): under 300 ms each, query count independent of size.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.campaign_record import TITLE as CAMPAIGN_TITLE  # noqa: E402

SERVER = "postgres://postgres@127.0.0.1:5432"
SIZES = {
    # name: (database, incidents, timeline entries, tasks, people asked in the campaign)
    "small": ("bench_scale_small", 1_000, 10_000, 2_000, 100),
    "large": ("bench_scale", 100_000, 1_000_000, 200_000, 10_000),
}
GOAL_MS = 300
SLOW_QUERY_MS = 50
WARM_UP = 3
# The benchmark's own: /metrics is off without a token (or allowed addresses).
METRICS_TOKEN = "bench-analyst-pages-metrics-token"  # noqa: S105


# --- databases (parent) -----------------------------------------------------------------


def _psql(database_url: str, statement: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        cursor = conn.execute(statement, params)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


def _database_url(name: str) -> str:
    return urlunsplit(urlsplit(SERVER)._replace(path=f"/{name}"))


def _env(database_url: str) -> dict[str, str]:
    """Production-like settings: DEBUG off (cached templates, no debug toolbar of queries),
    the test client's host allowed, and no API rate limit to trip over."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "ALLOW_LOCAL_MAILBOX": "true",  # nothing is sent here (soc.E005 otherwise)
        "SECRET_KEY": "bench-analyst-pages-not-a-secret-used-by-the-benchmark-only",
        "SITE_URL": "http://testserver",
        "ALLOWED_HOSTS": "testserver",
        "ANYMAIL_WEBHOOK_SECRET": "bench:bench",
        "API_RATE_PER_MINUTE": "1000000",
        "METRICS_TOKEN": METRICS_TOKEN,
        "DJANGO_SETTINGS_MODULE": "soc.settings",
    }


def _counts(database_url: str) -> tuple[int, int, int] | None:
    try:
        # The case record's rows, not the campaign's (built afterwards, on its incident).
        row = _psql(
            database_url,
            "WITH campaign AS (SELECT id FROM incidents_securityincident"
            " WHERE short_description = %s)"
            " SELECT (SELECT count(*) FROM incidents_securityincident"
            "   WHERE id NOT IN (SELECT id FROM campaign)),"
            " (SELECT count(*) FROM incidents_timelineentry"
            "   WHERE incident_id NOT IN (SELECT id FROM campaign)),"
            " (SELECT count(*) FROM incidents_responsetask"
            "   WHERE incident_id NOT IN (SELECT id FROM campaign))",
            (CAMPAIGN_TITLE,),
        )
    except Exception:  # a missing database or tables: build it
        return None
    return row[0]


def ensure_database(size: str, regenerate: bool) -> str:
    """The size's database, built (migrate + bench.make_case_record) unless it already holds exactly
    the expected rows. Prints the generation time when it builds."""
    from psycopg import sql

    name, incidents, timeline, tasks, people = SIZES[size]
    url = _database_url(name)
    manage = [sys.executable, str(ROOT / "manage.py")]
    if not regenerate and _counts(url) == (incidents, timeline, tasks):
        # Kept from an earlier run; new migrations (indexes) still apply.
        subprocess.run([*manage, "migrate", "-v0"], env=_env(url), cwd=ROOT, check=True)  # noqa: S603
        ensure_campaign(url, people)
        return url
    print(f"building {size}: {incidents:,} incidents, {timeline:,} entries, {tasks:,} tasks")
    admin = _database_url("postgres")
    _psql(admin, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _psql(admin, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    subprocess.run([*manage, "migrate", "-v0"], env=_env(url), cwd=ROOT, check=True)  # noqa: S603
    started = time.monotonic()
    subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "-m", "bench.make_case_record", f"--incidents={incidents}",
         f"--timeline={timeline}", f"--tasks={tasks}"],
        env=_env(url), cwd=ROOT, check=True,
    )  # fmt: skip
    print(f"generated {size} in {time.monotonic() - started:.0f} s")
    ensure_campaign(url, people)
    return url


def ensure_campaign(url: str, people: int) -> None:
    """The campaign (bench.campaign_record), built once through the services; its emails
    go to a scratch folder."""
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as scratch:
        subprocess.run(  # noqa: S603 - fixed argv, no shell
            [sys.executable, "-m", "bench.campaign_record", f"--people={people}"],
            env={**_env(url), "VAR_DIR": scratch}, cwd=ROOT, check=True,
        )  # fmt: skip


# --- measuring (child process, one database) --------------------------------------------


def measure(requests: int, only: str) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.cache import cache
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from core.actors import Actor
    from core.api.models import ApiToken
    from core.api.services import token_create
    from incidents import groups
    from incidents.models import SecurityIncident, TimelineEntry

    # No setup_test_environment(): its instrumented template rendering is not what
    # production runs, and it made template-heavy pages look slower than they are.
    # The benchmark's own reader: a plain member of the analyst group, not a superuser,
    # so permission checks cost what they cost analysts.
    viewer, _ = get_user_model().objects.get_or_create(
        username="bench.viewer", defaults={"is_staff": True}
    )
    viewer.groups.add(Group.objects.get(name=groups.SOC_ANALYST))
    admin = Client()
    admin.force_login(viewer)
    _, raw = token_create(
        actor=Actor.system("bench"),
        name=f"bench analyst pages {time.time_ns()}",
        user=viewer,
        scope=ApiToken.Scope.READ,
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    prometheus = Client(HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")

    # A typical incident from the middle of the range: about ten entries, a task, an
    # affected user and CI (each shown on the page costs its query: on both databases the
    # same shape, so the counts compare), and the one with the longest timeline.
    middle = SecurityIncident.objects.order_by("id")[SecurityIncident.objects.count() // 2]
    typical = (
        SecurityIncident.objects.filter(id__gte=middle.id, id__lt=middle.id + 500)
        .exclude(affected_user=None)
        .exclude(affected_ci=None)
        .exclude(assigned_to=None)
        .annotate(n=Count("timeline", distinct=True), n_tasks=Count("tasks", distinct=True))
        .filter(n__gte=8, n__lte=14, n_tasks__gte=1)
        .order_by("id")
        .first()
    )
    longest_id = (
        TimelineEntry.objects.exclude(incident__short_description=CAMPAIGN_TITLE)
        .values("incident")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("incident", flat=True)[0]
    )
    longest = SecurityIncident.objects.get(id=longest_id)
    person = typical.affected_user or SecurityIncident.objects.exclude(affected_user=None)[0]
    campaign = SecurityIncident.objects.get(short_description=CAMPAIGN_TITLE)
    asked = campaign.confirmation_requests.count()
    someone = campaign.confirmation_requests.order_by("id")[asked // 2].recipient_email
    base = "/admin/incidents/"
    people = f"{base}securityincident/{campaign.id}/campaign/"
    pages = [
        # Uncached: the worst minute, the one in which the figures are computed again.
        ("admin", "dashboard, computed", admin, "/admin/", cache.clear),
        ("admin", "dashboard, from the cache", admin, "/admin/"),
        ("admin", "incident list", admin, f"{base}securityincident/"),
        ("admin", "incident list, filtered", admin,
         f"{base}securityincident/?state__exact=closed&priority__exact=2"),
        ("admin", "incident list, search by email", admin,
         f"{base}securityincident/?q={person.email}"),
        ("admin", "incident list, search by number", admin,
         f"{base}securityincident/?q={typical.number}"),
        # Free words have no index: the search reads every description (the worst case).
        ("admin", "incident list, search a host name", admin,
         f"{base}securityincident/?q={typical.affected_ci.name}"),
        ("admin", f"incident page ({typical.timeline.count()} entries)", admin,
         f"{base}securityincident/{typical.id}/change/"),
        ("admin", f"incident page ({longest.timeline.count()} entries)", admin,
         f"{base}securityincident/{longest.id}/change/"),
        ("admin", "task list", admin, f"{base}responsetask/"),
        ("admin", "task list, completed", admin, f"{base}responsetask/?state__exact=completed"),
        ("admin", "timeline entry list", admin, f"{base}timelineentry/"),
        ("api", "/api/incidents/", api, "/api/incidents/"),
        ("api", "/api/incidents/?state=analysis", api, "/api/incidents/?state=analysis"),
        ("api", "/api/incidents/?state=closed", api, "/api/incidents/?state=closed"),
        ("api", "timeline, typical", api, f"/api/incidents/{typical.number}/timeline/"),
        ("api", "timeline, longest", api, f"/api/incidents/{longest.number}/timeline/"),
        ("api", "/api/tasks/", api, "/api/tasks/"),
        ("admin", f"campaign of {asked:,}: incident page", admin,
         f"{base}securityincident/{campaign.id}/change/"),
        ("admin", f"campaign of {asked:,}: people", admin, people),
        ("admin", f"campaign of {asked:,}: no answer yet, page 2", admin,
         f"{people}?outcome=waiting&page=2"),
        ("admin", f"campaign of {asked:,}: search an address", admin, f"{people}?q={someone}"),
        ("admin", f"campaign of {asked:,}: live figures", admin, f"{people}progress/"),
        ("admin", f"campaign of {asked:,}: CSV of everyone", admin, f"{people}people.csv"),
        ("api", f"campaign of {asked:,}: API", api, f"/api/incidents/{campaign.number}/campaign/"),
        # Every metric, read from the database at each scrape.
        ("metrics", "/metrics (Prometheus scrape)", prometheus, "/metrics"),
    ]  # fmt: skip
    results: dict[str, Any] = {}
    for group, label, client, url, *before in pages:
        if only not in ("all", group):
            continue
        for _ in range(WARM_UP):
            _get(client, url, *before)
        times = []
        for _ in range(requests):
            for prepare in before:
                prepare()
            started = time.perf_counter()
            _get(client, url)
            times.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as captured:
            _get(client, url, *before)
        slow = [
            {"ms": float(q["time"]) * 1000, "sql": q["sql"], "plan": _explain(q["sql"])}
            for q in captured.captured_queries
            if float(q["time"]) * 1000 > SLOW_QUERY_MS and q["sql"].lstrip().startswith("SELECT")
        ]
        results[label] = {
            "url": url,
            "median": statistics.median(times),
            "p95": _percentile(times, 95),
            "queries": len(captured.captured_queries),
            "slow": slow,
            "all": [(float(q["time"]) * 1000, q["sql"][:150]) for q in captured.captured_queries],
        }
    return results


def _get(client: Any, url: str, *before: Callable[[], None]) -> None:
    for prepare in before:
        prepare()
    response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)


def _explain(statement: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {statement}")
        return "\n".join(row[0] for row in cursor.fetchall())


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- report (parent) --------------------------------------------------------------------


def run_child(url: str, requests: int, only: str) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, __file__, "--measure", f"--requests={requests}", f"--only={only}"],
        env=_env(url), cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode:
        raise SystemExit(f"measuring {url} failed:\n{out.stderr}{out.stdout[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _keep_best(best: dict[str, Any], results: dict[str, Any]) -> None:
    for label, result in results.items():
        if label not in best or result["median"] < best[label]["median"]:
            best[label] = result


def report(small: dict[str, Any], large: dict[str, Any], requests: int, show_queries: bool) -> bool:
    headers = ["page", "large median", "large p95", "small median", "ratio", "queries L/S",
               "goal"]  # fmt: skip
    rows = []
    met = True
    for (label, big), little in zip(large.items(), small.values(), strict=True):
        same = big["queries"] == little["queries"]
        ok = big["median"] < GOAL_MS and same
        met &= ok
        rows.append([
            label, f"{big['median']:.1f} ms", f"{big['p95']:.1f} ms", f"{little['median']:.1f} ms",
            f"{big['median'] / little['median']:.2f}", f"{big['queries']} / {little['queries']}",
            "met" if ok else "MISSED",
        ])  # fmt: skip
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)))
    print(f"\n{requests} requests per page after {WARM_UP} warm-ups, best of the rounds; "
          f"goal: median under "
          f"{GOAL_MS} ms on the large database and the same query count on both.")  # fmt: skip
    for label, big in large.items():
        if show_queries:
            print(f"\n--- {label}: every query on the large database")
            for ms, statement in big["all"]:
                print(f"{ms:7.1f} ms  {statement}")
        for query in big["slow"]:
            print(f"\n--- {label}: query of {query['ms']:.0f} ms (over {SLOW_QUERY_MS} ms)")
            print(query["sql"][:600] + (" …" if len(query["sql"]) > 600 else ""))
            print(query["plan"])
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20, help="Measured requests per page.")
    parser.add_argument("--only", choices=["all", "admin", "api", "metrics"], default="all",
                        help="Measure only the admin pages, the API or /metrics.")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2, help="Rounds; best one kept.")
    parser.add_argument("--regenerate", action="store_true", help="Rebuild both databases.")
    parser.add_argument("--show-queries", action="store_true", help="Print every query.")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.requests, args.only)))
        return

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    print(f"Analyst pages at scale: {os.cpu_count()} cores, load average {load}, "
          f"Python {platform.python_version()}, {when}")  # fmt: skip
    urls = {size: ensure_database(size, args.regenerate) for size in SIZES}
    version = _psql(urls["large"], "SHOW server_version")[0][0]
    for size, (name, incidents, timeline, tasks, people) in SIZES.items():
        print(f"{size}: {name}, {incidents:,} incidents, {timeline:,} timeline entries, "
              f"{tasks:,} tasks, a campaign of {people:,} people "
              f"(PostgreSQL {version})")  # fmt: skip
    # One child per database, alternating for --rounds rounds; each page keeps its best
    # round. Other work on a shared machine only ever adds time, and a burst of it during
    # one child would otherwise show as a ratio that has nothing to do with table size.
    small: dict[str, Any] = {}
    large: dict[str, Any] = {}
    for _ in range(args.rounds):
        _keep_best(small, run_child(urls["small"], args.requests, args.only))
        _keep_best(large, run_child(urls["large"], args.requests, args.only))
    print()
    met = report(small, large, args.requests, args.show_queries)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average at the end: {load}; goals {'met' if met else 'NOT met'}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
