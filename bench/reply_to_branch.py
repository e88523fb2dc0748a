"""Benchmark 2, reply to branch: from the webhook's acknowledgement of an email reply to the
follow-up task its answer creates, through a real qcluster, on the ORM broker
(PostgreSQL) and on Redis.

    uv run python bench/reply_to_branch.py            # 50 replies/s for 60 s, both brokers
    uv run python bench/reply_to_branch.py --quick    # 50 replies/s for 10 s
    uv run python bench/reply_to_branch.py --brokers orm --rate 20 --duration 30
    uv run python bench/reply_to_branch.py --cost 300 [--profile]   # a reply's own work
    uv run python bench/reply_to_branch.py --query-costs   # what its statement shapes cost

The world: incidents of the "Suspicious file download" runbook, opened through the
services, each waiting on its emailed question (built once into the template database
bench_reply_world, then cloned for each broker, so both start from the same state).
gunicorn (2 workers) takes Postmark inbound posts (raw MIME, basic auth) at a fixed rate,
open loop; the end of each reply's journey is the created_at of the task its answer
creates ("Analyse the evidence…" for yes, "Obtain further information" for no). Every
second the backlog is sampled: tasks queued in the broker, inbound emails still
"received", runs "running".

Baseline (same run, same processes): the same pipeline at 1 reply/s, where nothing
queues, so the ratio shows what the load adds to the pipeline's own latency.
"""

import argparse
import contextlib
import cProfile
import os
import pstats
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import qcluster_tools as qt
from bench.common import (
    ROOT,
    conditions,
    cpu_seconds,
    create_database,
    free_port,
    print_table,
    sql_query,
)

WORLD = "bench_reply_world"
TARGET = "bench_reply"
REDIS_URL = "redis://127.0.0.1:6379/5"  # our own DB number on the shared server
GOAL_P95 = 2.0
COMPARE_BLOCK = 50  # replies per block of --compare-prepared
WEBHOOK_HOP = "webhook (store, enqueue)"


@dataclass
class Phase:
    name: str
    rate: float
    replies: list = field(default_factory=list)
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)
    sent_in: float = 0.0
    drained_at: float = 0.0  # time.time() when the last follow-up existed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", default="orm,redis", help="comma-separated: orm, redis")
    parser.add_argument("--rate", type=float, default=50.0, help="replies per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--baseline-duration", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="10 s of load, 5 s of baseline")
    parser.add_argument("--settle", type=float, default=600.0, help="max seconds to drain")
    parser.add_argument("--var-dir", type=Path, default=Path(tempfile.gettempdir()) / "bench_reply")
    parser.add_argument("--fresh", action="store_true", help="rebuild the world from scratch")
    parser.add_argument(
        "--cost", type=int, default=0, metavar="N",
        help="only measure each hop's own work for N replies in this process, no broker",
    )  # fmt: skip
    parser.add_argument(
        "--profile", action="store_true",
        help="with --cost: also print where the processing hops spend their time (cProfile)",
    )  # fmt: skip
    parser.add_argument(
        "--compare-prepared", action="store_true",
        help=f"with --cost: alternate blocks of {COMPARE_BLOCK} replies without and with "
        "prepared statements",
    )  # fmt: skip
    parser.add_argument(
        "--query-costs", action="store_true",
        help="only time the statement shapes a reply is made of, in this process",
    )  # fmt: skip
    args = parser.parse_args()
    if args.query_costs:
        args.cost = args.cost or 10  # a small world is enough
    if args.quick:
        args.duration, args.baseline_duration = 10.0, 5.0
    return args


# --- the world --------------------------------------------------------------------------


def build_world(var_dir: Path, count: int, fresh: bool) -> None:
    """The template database with at least `count` waiting questions (built inline by
    bench/worlds.py in a manage.py shell; incremental, so a rerun only tops it up)."""
    url = qt.database_url(WORLD)
    create_database(url, fresh=fresh)
    env = qt.app_env(database=url, var_dir=var_dir, port=8000)
    qt.manage(env, "migrate", "--noinput")
    started = time.monotonic()
    qt.manage(
        env,
        "shell",
        "-c",
        f"from bench.worlds import ensure_waiting, DOWNLOAD; ensure_waiting({count}, DOWNLOAD)",
        quiet=False,
    )
    # Vacuumed and analysed, as a database in service is: each clone then starts without
    # the build's dead rows, so autovacuum does not wake up on them mid-run (which moved
    # p95 by seconds from one run to the next).
    sql_query(url, "VACUUM ANALYZE")
    print(f"world ready: {count} waiting questions ({time.monotonic() - started:.0f} s)")


def clone_world() -> None:
    import psycopg
    from django.conf import settings
    from django.db import connections

    if settings.configured:
        connections.close_all()  # ours to the clone about to be dropped
    with psycopg.connect(qt.database_url("postgres"), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{TARGET}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{TARGET}" TEMPLATE "{WORLD}"')


# --- measuring --------------------------------------------------------------------------


def backlog(broker: str, redis_client) -> tuple[int, int, int]:
    """(tasks waiting in the broker, inbound emails not processed yet, runs running)."""
    from django_q.models import OrmQ

    from mailflow.models import InboundEmail
    from runbooks.models import RunbookRun

    queued = redis_client.llen("django_q:soc:q") if broker == "redis" else OrmQ.objects.count()
    received = InboundEmail.objects.filter(status=InboundEmail.Status.RECEIVED).count()
    running = RunbookRun.objects.filter(state=RunbookRun.State.RUNNING).count()
    return queued, received, running


def drain(broker: str, redis_client, limit: float = 300) -> None:
    """Wait until nothing is queued, received or running: the baseline must start on an
    idle pipeline (a backlog at its start inflates the baseline's latencies)."""
    started = time.monotonic()
    first = backlog(broker, redis_client)
    while (left := backlog(broker, redis_client)) != (0, 0, 0):
        if time.monotonic() - started > limit:
            raise SystemExit(f"[{broker}] the pipeline did not drain before the baseline: {left}")
        time.sleep(1)
    if first != (0, 0, 0):
        waited = time.monotonic() - started
        print(f"[{broker}] drained a backlog of {first} (q/r/n) in {waited:.0f} s first")


def follow_ups_done(phase: Phase) -> int:
    from bench.worlds import FOLLOW_UPS
    from incidents.models import ResponseTask

    return ResponseTask.objects.filter(
        incident_id__in=[r.incident_id for r in phase.replies],
        title__in=list(FOLLOW_UPS.values()),
    ).count()


def run_phase(phase: Phase, poster, broker: str, redis_client, settle: float) -> None:
    """Post the phase's replies at its rate, sampling the backlog every second, then wait
    until every follow-up task exists."""
    from django.db import connection

    from bench.worlds import at_rate

    stop = threading.Event()

    def sample() -> None:
        try:
            while not stop.is_set():
                phase.samples.append((time.time(), *backlog(broker, redis_client)))
                stop.wait(1.0)
        finally:
            connection.close()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    phase.sent_in = at_rate(phase.replies, phase.rate, poster.post)
    deadline = time.monotonic() + settle
    while follow_ups_done(phase) < len(phase.replies) and time.monotonic() < deadline:
        time.sleep(0.25)
    phase.drained_at = time.time()
    stop.set()
    sampler.join()


def latencies(phase: Phase) -> dict[str, list[float]]:
    """Per reply: acknowledgement to follow-up task (the figure), and the hops between:
    webhook stored → answer recorded by process_inbound (queue wait + processing), answer
    → follow-up task (advance_run's queue wait + the steps)."""
    from bench.worlds import FOLLOW_UPS
    from incidents.models import ResponseTask
    from mailflow.models import InboundEmail

    incidents = [r.incident_id for r in phase.replies]
    tasks = {
        t.incident_id: t.created_at.timestamp()
        for t in ResponseTask.objects.filter(
            incident_id__in=incidents, title__in=list(FOLLOW_UPS.values())
        )
    }
    inbound = {
        e.request_id: (e.received_at.timestamp(), e.answer.received_at.timestamp())
        for e in InboundEmail.objects.filter(request__incident_id__in=incidents)
        .exclude(answer=None)
        .select_related("answer")
    }
    figures: dict[str, list[float]] = {"total": [], "to_answer": [], "to_task": []}
    for reply in phase.replies:
        end = tasks.get(reply.incident_id)
        if end is None or not reply.sends:
            continue
        figures["total"].append(end - reply.sends[0][1])
        if reply.request_id in inbound:
            stored, answered = inbound[reply.request_id]
            figures["to_answer"].append(answered - stored)
            figures["to_task"].append(end - answered)
    return figures


# --- the pipeline's own cost, without broker or server --------------------------------


def inline_cost(
    replies: list, secret: str, profile: bool = False, compare_prepared: bool = False
) -> None:
    """Each hop's own work per reply, measured in this process one task at a time (a
    single worker draining a FIFO queue): where the time goes when no task waits for
    another. The webhook hop goes through the same view and middleware gunicorn serves.
    With `compare_prepared`, blocks of replies alternate between a connection without
    and one with prepared statements (off, on, on, off, ...), so both see the same
    machine: its speed drifts too much between two runs to compare them."""
    import base64
    from collections import deque

    from django.db import connection
    from django.test import Client

    from bench.worlds import postmark_body, run_task, tasks_to

    queue: deque = deque()
    counts = {"statements": 0, "commits": 0}
    real_commit = connection._commit

    def counting_commit() -> None:
        counts["commits"] += 1
        real_commit()

    def counting_execute(execute, sql, params, many, context):
        counts["statements"] += 1
        return execute(sql, params, many, context)

    connection._commit = counting_commit
    client = Client(HTTP_HOST="127.0.0.1")
    auth = "Basic " + base64.b64encode(secret.encode()).decode()
    cost: dict[tuple[str, str], list[tuple[float, ...]]] = {}  # (variant, hop): runs
    options = dict(connection.settings_dict["OPTIONS"])
    if compare_prepared and not options:
        raise SystemExit("--compare-prepared needs DB_PREPARED_STATEMENTS on (the default)")

    def connect(prepared: bool) -> int:
        """A new connection, with or without prepared statements; its backend's pid."""
        connection.close()
        connection.settings_dict["OPTIONS"] = options if prepared else {}
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    backend = connect(prepared=bool(options))
    variant = ""

    profiler = cProfile.Profile() if profile else None

    def measure(name: str, call) -> None:
        before = dict(counts)
        profiling = profiler is not None and name != WEBHOOK_HOP
        with connection.execute_wrapper(counting_execute):
            if profiling:
                profiler.enable()
            started, cpu, cpu_db = time.perf_counter(), time.process_time(), cpu_seconds(backend)
            call()
            elapsed = time.perf_counter() - started
            cpu, cpu_db = time.process_time() - cpu, cpu_seconds(backend) - cpu_db
            if profiling:
                profiler.disable()
        cost.setdefault((variant, name), []).append(
            (
                elapsed,
                cpu,
                cpu_db,
                counts["statements"] - before["statements"],
                counts["commits"] - before["commits"],
            )
        )

    with tasks_to(lambda func, *args, **kwargs: queue.append((func, args))):
        for number, reply in enumerate(replies):
            if compare_prepared and number % COMPARE_BLOCK == 0:
                prepared = (number // COMPARE_BLOCK) % 4 in (1, 2)
                backend = connect(prepared)
                variant = f", prepared statements {'on' if prepared else 'off'}"
            measure(
                WEBHOOK_HOP,
                lambda reply=reply: client.post(
                    "/anymail/postmark/inbound/",
                    data=postmark_body(reply),
                    content_type="application/json",
                    HTTP_AUTHORIZATION=auth,
                ),
            )
            while queue:
                func, args = queue.popleft()
                measure(func.rsplit(".", 1)[-1], lambda func=func, args=args: run_task(func, *args))
    connection._commit = real_commit
    connection.settings_dict["OPTIONS"] = options

    def row(name: str, runs: list[tuple[float, ...]], count: int) -> list[object]:
        means = [sum(r[i] for r in runs) / count for i in range(5)]
        return [name, count, *(f"{m * 1000:.1f} ms" for m in means[:3]),
                f"{means[3]:.1f}", f"{means[4]:.1f}"]  # fmt: skip

    rows = []
    for label in sorted({label for label, _ in cost}):
        hops = {name: runs for (each, name), runs in cost.items() if each == label}
        rows += [row(name + label, runs, len(runs)) for name, runs in hops.items()]
        every = [run for runs in hops.values() for run in runs]
        rows.append(row("per reply" + label, every, len(hops[WEBHOOK_HOP])))
    print(f"Cost per hop, inline, one at a time ({conditions()})")
    if profiler is not None:
        print("Processing hops under cProfile (times inflated by it), by cumulative time:")
        ours = rf"{ROOT}/(?!\.venv)|psycopg.*wait|mailparser_reply|anymail|email/"
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(ours, 40)
    print_table(
        rows,
        ["hop", "runs", "mean wall time", "CPU: this process", "CPU: PostgreSQL",
         "SQL statements", "commits"],
    )  # fmt: skip


def query_costs(repeats: int = 500) -> None:
    """What the statement shapes a reply is made of cost from this process (the mean of
    `repeats`, all in one transaction): the yardstick for trimming a reply's statements,
    since Django building them and reading their rows is most of a worker's time."""
    from django.db import connection, transaction

    from incidents.models import SecurityIncident
    from mailflow import request_lifecycle
    from mailflow.models import ConfirmationRequest
    from runbooks import services as run_services

    requests = ConfirmationRequest.objects
    request = requests.filter(run__isnull=False).order_by("pk").first()

    def savepoint() -> None:
        with transaction.atomic():
            pass

    shapes = {
        "SELECT 1 (a round trip)": lambda: connection.cursor().execute("SELECT 1"),
        "a savepoint and its release (a nested atomic block)": savepoint,
        "an incident by primary key": lambda: SecurityIncident.objects.get(pk=request.incident_id),
        "a question by primary key": lambda: requests.get(pk=request.pk),
        "… with its incident joined (select_related)": lambda: requests.select_related(
            "incident"
        ).get(pk=request.pk),
        "… locked, with incident, run, person, task (answer_record)": lambda: (
            request_lifecycle.lock_request(request.pk)
        ),
        "a run locked, with incident and person (run_resume)": lambda: run_services._lock(
            request.run_id
        ),
    }
    rows = []
    with transaction.atomic():
        for name, run in shapes.items():
            run()  # the first call pays for imports and caches
            started = time.perf_counter()
            for _ in range(repeats):
                run()
            rows.append([name, f"{(time.perf_counter() - started) / repeats * 1000:.3f} ms"])
    print(f"Statement shapes of a reply, mean of {repeats} ({conditions()})")
    print_table(rows, ["statement", "cost"])


# --- one broker -------------------------------------------------------------------------


def run_broker(broker: str, args: argparse.Namespace, replies: list) -> list[list[object]]:
    from bench.worlds import Poster

    clone_world()
    port = free_port()
    redis_url = REDIS_URL if broker == "redis" else ""
    env = qt.app_env(
        database=qt.database_url(TARGET), var_dir=args.var_dir, port=port, broker=broker,
        redis_url=redis_url,
    )  # fmt: skip
    qt.manage(env, "migrate", "--noinput")
    redis_client = None
    if broker == "redis":
        import redis

        redis_client = redis.Redis.from_url(REDIS_URL)
        redis_client.flushdb()  # DB 5 is this benchmark's alone
    logs = args.var_dir / "logs"
    logs.mkdir(exist_ok=True)
    server = qt.start_gunicorn(env, port, logs / f"gunicorn-{broker}.log")
    cluster = qt.start_qcluster(env, logs / f"qcluster-{broker}.log")
    poster = Poster(f"http://127.0.0.1:{port}", env["ANYMAIL_WEBHOOK_SECRET"])
    baseline_count = int(args.baseline_duration)
    phases = [
        Phase("baseline", 1.0, replies[:baseline_count]),
        Phase("load", args.rate, replies[baseline_count:]),
    ]
    for reply in replies:
        reply.sends.clear()
    try:
        time.sleep(5)  # the cluster forks its workers and starts polling
        drain(broker, redis_client)
        for phase in phases:
            print(f"[{broker}] {phase.name}: {len(phase.replies)} replies at {phase.rate:g}/s")
            run_phase(phase, poster, broker, redis_client, args.settle)
    finally:
        qt.stop(cluster)
        qt.stop(server)
    return report(broker, phases)


def report(broker: str, phases: list[Phase]) -> list[list[object]]:
    rows = []
    base_p95 = None
    for phase in phases:
        figures = latencies(phase)
        total = qt.summary(figures["total"])
        base_p95 = base_p95 or total["p95"]
        statuses = [s[2] for r in phase.replies for s in r.sends]
        peak = [max((s[i] for s in phase.samples), default=0) for i in (1, 2, 3)]
        acks = [r.sends[0][1] for r in phase.replies if r.sends]
        last_ack = max(acks, default=0)
        # Follow-ups made per second from the first acknowledgement to the last task: the rate
        # offered when the pipeline keeps up, what it can do when it does not.
        pace = len(figures["total"]) / (phase.drained_at - min(acks)) if acks else 0
        rows.append(
            [
                broker,
                phase.name,
                f"{phase.rate:g}/s x {len(phase.replies) / phase.rate:.0f} s",
                f"{len(figures['total'])}/{len(phase.replies)}",
                f"{pace:.1f}/s",
                sum(s == 200 for s in statuses),
                qt.seconds(total["p50"]),
                qt.seconds(total["p95"]),
                qt.seconds(total["p99"]),
                qt.seconds(total["max"]),
                f"{total['p95'] / base_p95:.1f}x" if base_p95 else "n/a",
                "/".join(str(p) for p in peak),
                qt.seconds(phase.drained_at - last_ack),
                qt.seconds(qt.summary(figures["to_answer"])["p95"]),
                qt.seconds(qt.summary(figures["to_task"])["p95"]),
            ]
        )
        if phase.name == "load":
            print_backlog(broker, phase)
    return rows


def print_backlog(broker: str, phase: Phase) -> None:
    if not phase.samples:
        return
    start = phase.samples[0][0]
    every = max(1, len(phase.samples) // 20)
    print(f"[{broker}] backlog every {every} s (queued in broker / inbound received / running)")
    print(
        "  " + "  ".join(f"{t - start:.0f}s:{q}/{r}/{n}" for t, q, r, n in phase.samples[::every])
    )


def main() -> None:
    args = parse_args()
    args.var_dir.mkdir(parents=True, exist_ok=True)
    brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    load_count = int(args.rate * args.duration)
    count = args.cost or int(args.baseline_duration) + load_count
    print(f"Reply to branch: {conditions()}")
    print(f"{len(brokers)} broker(s), {count} replies each; qcluster with the app's settings")
    build_world(args.var_dir, count, args.fresh)
    clone_world()
    qt.use_env(qt.app_env(database=qt.database_url(TARGET), var_dir=args.var_dir, port=8000))
    from bench.worlds import DOWNLOAD, reply_for, waiting_requests

    requests = waiting_requests(DOWNLOAD)[:count]
    # Alternate yes and no, in the three mail clients' styles.
    styles = ("gmail", "outlook", "apple")
    replies = [
        reply_for(r, ("yes", "no")[n % 2], style=styles[n % 3]) for n, r in enumerate(requests)
    ]
    if args.query_costs:
        query_costs()
        return
    if args.cost:
        inline_cost(
            replies,
            os.environ["ANYMAIL_WEBHOOK_SECRET"],
            profile=args.profile,
            compare_prepared=args.compare_prepared,
        )
        return
    rows = []
    for broker in brokers:
        with contextlib.suppress(KeyboardInterrupt):
            rows += run_broker(broker, args, replies)
    print()
    print(f"Reply to branch ({conditions()})")
    print_table(
        rows,
        [
            "broker", "phase", "load", "done", "done per s", "HTTP 200", "p50", "p95", "p99", "max",
            "p95 ÷ baseline", "peak backlog q/r/n", "drained after last ack",
            "p95 stored→answer", "p95 answer→task",
        ],
    )  # fmt: skip
    loads = [row for row in rows if row[1] == "load"]
    met = all(row[6] != "n/a" and float(row[6].split()[0]) < GOAL_P95 for row in loads)
    print(f"Goal p95 < {GOAL_P95:g} s at the load: {'met' if met and loads else 'NOT met'}")


if __name__ == "__main__":
    main()
