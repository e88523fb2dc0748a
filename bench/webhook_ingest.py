"""Benchmark 1, webhook ingest: how fast the inbound webhook acknowledges provider posts.

gunicorn (2 sync workers, production settings, PostgreSQL, the ORM broker, no qcluster:
acknowledgement only) on 127.0.0.1; a load generator in this process posts a realistic
reply (20 KB of text; 2 MB and 25 MB with a screenshot attached) as the provider does.
The baseline is a bare Django view on the same server that reads the same body and
answers 200 (bench/urls.py). Each case runs app and baseline back to back; the two
throughput cases also run floors, bare views that show what part of the gap no design that
keeps a post before acknowledging it can avoid: they commit an empty row, keep the post in
a row, in a file and a row naming it, or in a file alone (flushed with fsync, left in the
page cache, or left there after one SELECT 1), and take their time in rounds, every target
once a round. The 20 KB case also runs the app with every post deferred
(INBOUND_DEFER_BYTES=0, a second server), which shows what of the rest is anymail's parse
in the request.

    uv run python bench/webhook_ingest.py [--quick]
        [--provider postmark|postmark-parsed|mailgun|sendgrid]
"""

import argparse
import asyncio
import dataclasses
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import payloads
from bench.common import (
    BASELINE_PATH,
    DEFAULT_DATABASE_URL,
    FLOOR_PATHS,
    FLOOR_TABLE,
    FLOORS,
    Client,
    Environment,
    Request,
    Result,
    Server,
    closed_loop,
    conditions,
    create_database,
    mb,
    open_loop,
    peak_rss,
    print_table,
    reset_peak_rss,
    rss,
    sql_query,
    summarise,
)

KB, MB = 1024, 1024 * 1024
SIZES = {"20 KB": 20 * KB, "2 MB": 2 * MB, "25 MB": 25 * MB}
DEFAULT_INBOUND_MAX_BYTES = 80 * MB  # soc/settings.py


@dataclass
class Measured:
    """One case for one target: what the load generator saw, and worker memory."""

    results: list[Result] = field(repr=False)
    elapsed: float
    peak_rss: int = 0  # the largest worker VmHWM during the case
    growth: int = 0  # the largest worker's VmHWM minus its RSS before the case

    @property
    def summary(self) -> dict[str, float]:
        return summarise(self.results, self.elapsed)

    @property
    def statuses(self) -> dict[int, int]:
        return dict(Counter(r.status for r in self.results))

    def __add__(self, other: "Measured") -> "Measured":
        """Two rounds of the same target as one measurement: every post of both, over the
        time both took."""
        return Measured(
            self.results + other.results,
            self.elapsed + other.elapsed,
            peak_rss=max(self.peak_rss, other.peak_rss),
            growth=max(self.growth, other.growth),
        )


# The app as configured for throughput (INBOUND_DEFER_BYTES=0): a second server, idle
# while the others run, that keeps every post as it came and leaves anymail's parse to
# the worker. Same database, files and secrets as the app.
DEFERRED = "deferred"


def _server_of(target: str) -> str:
    """The deferred server serves its own target, the app's server all the others."""
    return DEFERRED if target == DEFERRED else "app"


class Bench:
    def __init__(
        self, server: Server, deferred: Server, templates: dict[str, payloads.Template]
    ) -> None:
        self.servers = {"app": server, DEFERRED: deferred}
        self.clients = {"app": Client(server.port), DEFERRED: Client(deferred.port)}
        self.templates = templates
        self.auth = server.env.auth_header()
        self.next_number = 0
        self.app_ok = 0

    def request(self, size: str, target: str) -> Request:
        template = self.templates[size]
        headers = {"Content-Type": template.content_type, "Authorization": self.auth}
        path = {"baseline": BASELINE_PATH, **FLOOR_PATHS}.get(target, template.path)

        def build(number: int) -> tuple[str, dict[str, str], bytes]:
            return path, headers, template.render(number)

        return build

    def numbers(self, how_many: int = 10**6) -> int:
        """A fresh range of message numbers, so no post repeats a stored Message-ID."""
        first, self.next_number = self.next_number, self.next_number + how_many
        return first

    def measure(self, target: str, run: Callable[[], object]) -> Measured:
        pids = self.servers[_server_of(target)].worker_pids()
        before = {pid: rss(pid) for pid in pids}
        for pid in pids:
            reset_peak_rss(pid)

        async def wrapped() -> tuple[list, float]:
            try:
                return await run()  # type: ignore[misc]
            finally:
                for client in self.clients.values():
                    client.close()  # its connections belong to this event loop

        results, elapsed = asyncio.run(wrapped())
        peaks = {pid: peak_rss(pid) for pid in pids}
        measured = Measured(
            results,
            elapsed,
            peak_rss=max(peaks.values()),
            growth=max(peaks[pid] - before[pid] for pid in pids),
        )
        if target in ("app", DEFERRED):  # both keep what they acknowledge
            self.app_ok += int(measured.summary["ok"])
        return measured

    def throughput(self, size: str, target: str, concurrency: int, seconds: float) -> Measured:
        first = self.numbers()

        async def run() -> tuple[list, float]:
            return await closed_loop(
                self.clients[_server_of(target)],
                self.request(size, target),
                concurrency=concurrency,
                duration=seconds,
                first_number=first,
            )

        return self.measure(target, run)

    def fixed_rate(self, size: str, target: str, rate: float, seconds: float) -> Measured:
        first = self.numbers()

        async def run() -> tuple[list, float]:
            results = await open_loop(
                self.clients[_server_of(target)],
                self.request(size, target),
                rate=rate,
                duration=seconds,
                first_number=first,
            )
            return results, seconds

        return self.measure(target, run)

    def one_by_one(self, size: str, target: str, count: int) -> Measured:
        first = self.numbers()

        async def run() -> tuple[list, float]:
            return await closed_loop(
                self.clients[_server_of(target)], self.request(size, target), concurrency=1,
                count=count, first_number=first,
            )  # fmt: skip

        return self.measure(target, run)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _per_second(value: float) -> str:
    return f"{value:.1f}/s"


def _ratio(app: float, baseline: float) -> str:
    return f"{app / baseline:.2f}" if baseline else "-"


def _yes(met: bool) -> str:
    return "yes" if met else "NO"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes (smoke)")
    parser.add_argument(
        "--provider",
        choices=["postmark", "postmark-parsed", "mailgun", "sendgrid"],
        default="postmark",
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--seconds", type=float, help="length of each timed case")
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds the throughput cases take their time in, every target once per round "
        "(3; 1 with --quick)",
    )
    parser.add_argument("--rate", type=float, default=100.0, help="messages/s of the 20 KB case")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=60,
        help="DB_CONN_MAX_AGE for the server (60, the production default; 0: a connection "
        "per request)",
    )
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"comma-separated subset of {', '.join(CASES)}",
    )
    args = parser.parse_args()
    args.cases = [case for case in CASES if case in args.cases.split(",")]
    args.seconds = args.seconds or (3.0 if args.quick else 15.0)
    args.rounds = max(1, args.rounds or (1 if args.quick else 3))
    args.large_count = 1 if args.quick else 5
    return args


def _templates(provider: str, env: Environment) -> dict[str, payloads.Template]:
    templates = {}
    for name, size in SIZES.items():
        raw = payloads.reply_mime() if size < 100 * KB else payloads.reply_with_attachment(size)
        if provider == "mailgun":
            templates[name] = payloads.mailgun(raw, signing_key=env.mailgun_signing_key)
        elif provider == "sendgrid":
            templates[name] = payloads.sendgrid(raw)
        else:
            templates[name] = payloads.postmark(raw, with_raw=provider == "postmark")
    largest = max(t.size for t in templates.values())
    if largest > DEFAULT_INBOUND_MAX_BYTES:
        # Postmark's JSON with RawEmail carries the message twice; settings.py says to raise
        # INBOUND_MAX_BYTES for it, as a Postmark deployment would.
        env.extra["INBOUND_MAX_BYTES"] = str(largest + MB)
        print(f"INBOUND_MAX_BYTES raised to {mb(largest + MB)} for this payload shape")
    for name, template in templates.items():
        print(f"  {name}: message {template.message_size} bytes, post {template.size} bytes")
    return templates


# Case name -> (label, what runs it). App and baseline run back to back in each case.
CASES = ("20KB", "rate", "2MB", "25MB")


def _run_cases(bench: Bench, args: argparse.Namespace) -> dict[tuple[str, str], Measured]:
    plan: dict[str, tuple[str, str, Callable[[str], Measured]]] = {
        "20KB": ("20 KB max", "20 KB, as fast as possible (4 senders)",
                 lambda t: bench.throughput("20 KB", t, 4, args.seconds / args.rounds)),
        "rate": ("20 KB rate", f"20 KB at {args.rate:g}/s",
                 lambda t: bench.fixed_rate("20 KB", t, args.rate, args.seconds)),
        "2MB": ("2 MB max", "2 MB, as fast as possible (4 senders)",
                lambda t: bench.throughput("2 MB", t, 4, args.seconds / args.rounds)),
        "25MB": ("25 MB", f"25 MB, {args.large_count} one after another",
                 lambda t: bench.one_by_one("25 MB", t, args.large_count)),
    }  # fmt: skip
    results: dict[tuple[str, str], Measured] = {}
    for case in args.cases:
        label, description, run = plan[case]
        # Only the 20 KB posts differ: posts past 1 MB are deferred by the app already.
        targets = ["app", "baseline", *([DEFERRED] if case == "20KB" else ())]
        throughput = case in ("20KB", "2MB")
        targets += FLOORS if throughput else ()
        # The machine's speed drifts within minutes: the throughput cases take their time
        # in rounds, every target once per round, so each ratio compares the same minutes.
        for number in range(args.rounds if throughput else 1):
            for target in targets:
                print(f"{description}, {target}, round {number + 1} ...", flush=True)
                measured = run(target)
                earlier = results.get((label, target))
                results[label, target] = earlier + measured if earlier else measured
        # Each case starts from the same state: without this, the checkpoint that the
        # floors' writes call for (hundreds of MB of WAL for posts kept in rows) lands in
        # the next case and shows as its worst latencies.
        sql_query(args.database_url, f"TRUNCATE {FLOOR_TABLE}")
        sql_query(args.database_url, "CHECKPOINT")
    return results


def _report(
    results: dict[tuple[str, str], Measured],
    templates: dict[str, payloads.Template],
    args: argparse.Namespace,
) -> bool:
    """Print the figures table; True when every goal measured was met."""
    rows: list[list[str]] = []
    met_all = True
    deferred_note = ""

    def figure(case: str, key: str, scale: Callable[[float], str], goal: str = "", ok=None):
        nonlocal met_all
        if (case, "app") not in results:
            return
        app, base = results[case, "app"].summary[key], results[case, "baseline"].summary[key]
        met = ok(app, base) if ok else None
        met_all = met_all and met is not False
        rows.append([f"{case}: {key}", scale(app), scale(base), _ratio(app, base), goal,
                     "" if met is None else _yes(met)])  # fmt: skip

    for case in ("20 KB max", "2 MB max", "25 MB"):
        figure(case, "rate", _per_second, "≥ 0.5x baseline", lambda a, b: a >= 0.5 * b)
        figure(case, "p50", _ms)
        figure(case, "p99", _ms)
    rate_ok = lambda a, b: a >= 0.95 * args.rate  # noqa: E731
    figure("20 KB rate", "rate", _per_second, f"{args.rate:g}/s", rate_ok)
    figure("20 KB rate", "p50", _ms)
    figure("20 KB rate", "p99", _ms, "< 100 ms", lambda a, b: a < 0.1)
    figure("25 MB", "max", _ms, "< 3000 ms", lambda a, b: a < 3.0)
    if ("25 MB", "app") in results:
        message = templates["25 MB"].message_size
        app, base = results["25 MB", "app"].growth, results["25 MB", "baseline"].growth
        met_all = met_all and app < 3 * message
        rows.append(["25 MB: worker memory growth", f"{mb(app)} ({app / message:.1f}x)",
                     f"{mb(base)} ({base / message:.1f}x)", _ratio(app, base),
                     "< 3x message", _yes(app < 3 * message)])  # fmt: skip
    for case in ("20 KB max", "20 KB rate", "2 MB max", "25 MB"):
        if (case, "app") in results:
            app, base = results[case, "app"].peak_rss, results[case, "baseline"].peak_rss
            rows.append([f"{case}: peak worker RSS", mb(app), mb(base), _ratio(app, base),
                         "", ""])  # fmt: skip
    print()
    print_table(rows, ["figure", "app", "baseline", "ratio", "goal", "met?"])
    floors = []
    for case in ("20 KB max", "2 MB max"):
        for target, name in FLOORS.items():
            if (case, target) in results:
                rate = results[case, target].summary["rate"]
                floors.append([case, name, _per_second(rate),
                               _ratio(rate, results[case, "baseline"].summary["rate"]),
                               _ratio(results[case, "app"].summary["rate"], rate)])  # fmt: skip
    if ("20 KB max", DEFERRED) in results:
        rate = results["20 KB max", DEFERRED].summary["rate"]
        floors.append(["20 KB max", "the app, every post deferred", _per_second(rate),
                       _ratio(rate, results["20 KB max", "baseline"].summary["rate"]),
                       _ratio(results["20 KB max", "app"].summary["rate"], rate)])  # fmt: skip
        file_floor = results["20 KB max", "file"].summary["rate"]
        deferred_note = (
            "\nEvery post deferred: the app with INBOUND_DEFER_BYTES=0, which keeps each post "
            "as it came and leaves anymail's parse to the worker (a malformed payload is then "
            f"kept and failed, not a 400): {_ratio(rate, file_floor)}x the file floor."
        )
    if floors:
        print()
        print_table(floors, ["case", "floor", "rate", "÷ baseline", "app ÷ floor"])
    print()
    print(
        "rate: acknowledged (2xx) messages/s; p50/p99/max: latency from when a post was due "
        "(fixed rate) or sent (as fast as possible) to the end of its answer.\n"
        "Floors: bare views on the same server that do only what they say (bench/urls.py); "
        "those with the database send one statement per post, plus Django's health check "
        "of the connection. A floor under 0.5x the baseline: no design that keeps the post "
        "that way before acknowledging it can reach 0.5x. Throughput cases: "
        f"{args.rounds} rounds, every target once per round.\n"
        "Memory: per worker, VmHWM after the case minus VmRSS before it (VmHWM reset "
        "through clear_refs), the larger of the two workers; message = raw MIME size "
        f"{mb(templates['25 MB'].message_size)}, post {mb(templates['25 MB'].size)}."
        + deferred_note
    )
    return met_all


def main() -> int:
    args = _arguments()
    print(
        f"Webhook ingest benchmark ({args.provider}, DB_CONN_MAX_AGE={args.conn_max_age}); "
        f"conditions: {conditions()}"
    )
    print("Building payloads ...", flush=True)
    env = Environment(args.database_url, extra={"DB_CONN_MAX_AGE": str(args.conn_max_age)})
    templates = _templates(args.provider, env)

    print("Preparing the database ...", flush=True)
    create_database(args.database_url)
    env.manage("migrate", "--noinput")
    sql_query(args.database_url, "TRUNCATE mailflow_inboundemail, django_q_ormq RESTART IDENTITY")
    sql_query(args.database_url, f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
    sql_query(
        args.database_url,
        f"CREATE TABLE {FLOOR_TABLE} "
        "(id bigserial PRIMARY KEY, path text, size bigint, body bytea)",
    )
    try:
        deferred_env = dataclasses.replace(env, extra={**env.extra, "INBOUND_DEFER_BYTES": "0"})
        with Server(env, workers=2) as server, Server(deferred_env, workers=2) as deferred:
            bench = Bench(server, deferred, templates)
            # Every worker imports everything and opens its first connections.
            for target in ("app", "baseline", DEFERRED):
                bench.throughput("20 KB", target, concurrency=2, seconds=1.0)
            results = _run_cases(bench, args)
            stored = sql_query(args.database_url, "SELECT count(*) FROM mailflow_inboundemail")
    finally:
        env.cleanup()

    met_all = _report(results, templates, args)
    errors = {
        f"{case} {target}": {s: n for s, n in m.statuses.items() if not 200 <= s < 300}
        for (case, target), m in results.items()
    }
    errors = {case: statuses for case, statuses in errors.items() if statuses}
    print(f"Stored messages: {stored[0][0]}, acknowledged: {bench.app_ok} (must be equal)")
    print(f"Non-2xx answers (status: count, 0 = connection failed): {errors or 'none'}")
    consistent = stored[0][0] == bench.app_ok and not errors
    print("All goals met." if met_all and consistent else "Some goals NOT met (see NO above).")
    return 0 if consistent else 1


if __name__ == "__main__":
    sys.exit(main())
