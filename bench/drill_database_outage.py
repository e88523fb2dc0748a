"""Fault drill: stop PostgreSQL for 10 s during inbound email ingest.

A throwaway PostgreSQL cluster (never the machine's shared server), gunicorn with 2
workers, and a load generator that posts unique Postmark replies at a fixed rate and,
like a provider, posts each again with backoff until it is acknowledged (2xx). Part-way
through, the database is stopped (fast shutdown) for 10 s and started again. Then a
qcluster processes what was stored, and the inbound sweeper (run once, without its
10-minute grace) re-enqueues a message whose enqueue the outage cut off. Expected:
non-2xx while the database is down, every message stored once and processed once,
nothing lost, no file without its row.

    uv run python bench/drill_database_outage.py [--quick]
"""

import argparse
import asyncio
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import payloads
from bench.common import (
    Client,
    Environment,
    Result,
    Retry,
    Server,
    conditions,
    create_database,
    free_port,
    open_loop,
    print_table,
    sql_query,
    start_group,
    stop_group,
)
from bench.pgcluster import ThrowawayCluster


@dataclass
class Outage:
    stopped: float = 0.0  # loop time when the server had stopped (pg_ctl stop returned)
    restarting: float = 0.0  # loop time when we began starting it again


async def _outage(cluster: ThrowawayCluster, after: float, length: float, outage: Outage) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(after)
    print(f"  stopping PostgreSQL for {length:g} s ...", flush=True)
    await asyncio.to_thread(cluster.stop)
    outage.stopped = loop.time()
    await asyncio.sleep(length)
    outage.restarting = loop.time()
    await asyncio.to_thread(cluster.start)
    print("  PostgreSQL is back", flush=True)


async def _load(
    server: Server, cluster: ThrowawayCluster, args: argparse.Namespace, outage: Outage
) -> list[Result]:
    template = payloads.postmark(payloads.reply_mime())
    headers = {"Content-Type": template.content_type, "Authorization": server.env.auth_header()}

    def request(number: int) -> tuple[str, dict[str, str], bytes]:
        return template.path, headers, template.render(number)

    client = Client(server.port, timeout=30)
    try:
        load = open_loop(
            client,
            request,
            rate=args.rate,
            duration=args.seconds,
            retry=Retry(first=0.25, longest=2.0, give_up_after=120),
        )
        fault = _outage(cluster, args.outage_after, args.outage, outage)
        results, _ = await asyncio.gather(load, fault)
        return results
    finally:
        client.close()


def _wait_processed(database_url: str, expected: int, timeout: float) -> float:
    """Seconds until no stored message is left "received", or until the broker has had
    nothing queued for 3 s (what is left then waits for the sweeper), or the timeout."""
    began = time.monotonic()
    idle_since = None
    while time.monotonic() - began < timeout:
        rows = sql_query(
            database_url,
            "SELECT count(*) FILTER (WHERE status = 'received'), count(*), "
            "(SELECT count(*) FROM django_q_ormq) FROM mailflow_inboundemail",
        )
        waiting, stored, queued = rows[0]
        if stored >= expected and waiting == 0:
            break
        idle_since = (idle_since or time.monotonic()) if queued == 0 else None
        if idle_since and time.monotonic() - idle_since > 3:
            break
        time.sleep(0.5)
    return time.monotonic() - began


def _sweep(env: Environment) -> int:
    code = (
        "from datetime import timedelta; from mailflow.inbound.retry import inbound_sweep; "
        "print(inbound_sweep(stuck_after=timedelta(0))[0])"
    )
    return int(env.manage("shell", "-c", code).stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (smoke)")
    parser.add_argument("--rate", type=float, default=20.0, help="new messages per second")
    parser.add_argument("--seconds", type=float, help="how long new messages arrive")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds without PostgreSQL")
    parser.add_argument("--outage-after", type=float, help="seconds into the load")
    parser.add_argument("--port", type=int, default=5433, help="the throwaway cluster's port")
    args = parser.parse_args()
    args.seconds = args.seconds or (16.0 if args.quick else 30.0)
    args.outage_after = args.outage_after or (3.0 if args.quick else 8.0)
    if args.quick and args.outage == 10.0:
        args.outage = 5.0

    print(f"Drill: PostgreSQL stopped for {args.outage:g} s during ingest; {conditions()}")
    port = args.port if _port_free(args.port) else free_port()
    cluster = ThrowawayCluster(port).create()
    qcluster = None
    server = None
    env = None
    try:
        cluster.start()
        database_url = f"{cluster.url}/bench_drill"
        create_database(database_url)
        env = Environment(database_url)
        env.manage("migrate", "--noinput")
        server = Server(env, workers=2).start()
        # Warm both workers (imports, first connection) before the clock starts.
        asyncio.run(_warm(server))
        sql_query(database_url, "TRUNCATE mailflow_inboundemail, django_q_ormq RESTART IDENTITY")
        shutil.rmtree(env.var_dir / "inbound", ignore_errors=True)  # the warm-up's files
        print(f"Posting {args.rate:g} new messages/s for {args.seconds:g} s ...", flush=True)
        outage = Outage()
        results = asyncio.run(_load(server, cluster, args, outage))
        print("Starting a qcluster to process what was stored ...", flush=True)
        qcluster = start_group(
            [sys.executable, "manage.py", "qcluster"], env.variables(), env.var_dir / "qcluster.log"
        )
        waited = _wait_processed(database_url, len(results), timeout=60)
        # A message stored just before the database went away can have lost its enqueue
        # (it runs after commit): the sweeper brings it back, after 10 minutes in
        # production (every 5 minutes), at once here.
        swept = _sweep(env)
        if swept:
            waited += _wait_processed(database_url, len(results), timeout=60)
        counts = _counts(database_url, env, results, outage)
        counts["re-enqueued by the sweeper"] = swept
        if counts["left unprocessed"]:
            print((env.var_dir / "qcluster.log").read_text()[-3000:])
    finally:
        if qcluster is not None:
            stop_group(qcluster)
        if server is not None:
            server.stop()
        cluster.remove()
        if env is not None:
            env.cleanup()

    print()
    print_table([[name, value] for name, value in counts.items()], ["count", "value"])
    print(f"(processing finished {waited:.1f} s after the qcluster started)")
    passed = (
        counts["non-2xx answers while down"] > 0
        and counts["2xx answers while down"] == 0
        and counts["stored"] == counts["messages sent"]
        and counts["duplicates"] == 0
        and counts["lost"] == 0
        and counts["processed once"] == counts["messages sent"]
        and counts["raw files without a row"] == 0
    )
    print("Drill PASSED." if passed else "Drill FAILED.")
    return 0 if passed else 1


async def _warm(server: Server) -> None:
    client = Client(server.port)
    template = payloads.postmark(payloads.reply_mime())
    headers = {"Content-Type": template.content_type, "Authorization": server.env.auth_header()}
    for number in range(10**9, 10**9 + 6):
        await client.post(template.path, headers, template.render(number))
    client.close()


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _counts(
    database_url: str, env: Environment, results: list[Result], outage: Outage
) -> dict[str, int]:
    attempts = [attempt for r in results for attempt in r.statuses]
    down = [(t, s) for t, s in attempts if outage.stopped <= t <= outage.restarting]
    stored, distinct, processed_once, received = sql_query(
        database_url,
        "SELECT count(*), count(DISTINCT message_id), "
        "count(*) FILTER (WHERE status <> 'received' AND attempts = 1), "
        "count(*) FILTER (WHERE status = 'received') FROM mailflow_inboundemail",
    )[0]
    # Our Message-IDs carry the message's number: which of the messages sent are stored.
    sent_ids = {payloads.message_id(r.number) for r in results}
    stored_ids = {
        row[0] for row in sql_query(database_url, "SELECT message_id FROM mailflow_inboundemail")
    }
    files = sum(1 for path in (env.var_dir / "inbound").rglob("*") if path.is_file())
    return {
        "messages sent": len(results),
        "posts (with retries)": len(attempts),
        "non-2xx answers while down": sum(1 for _, s in down if not 200 <= s < 300),
        "  of which 503 (retry later)": sum(1 for _, s in down if s == 503),
        "2xx answers while down": sum(1 for _, s in down if 200 <= s < 300),
        "non-2xx answers in all": sum(1 for _, s in attempts if not 200 <= s < 300),
        "acknowledged in the end": sum(1 for r in results if 200 <= r.status < 300),
        "stored": stored,
        "duplicates": stored - distinct,
        "lost": len(sent_ids - stored_ids),
        "processed once": processed_once,
        "left unprocessed": received,
        "raw files without a row": max(0, files - stored),
    }


if __name__ == "__main__":
    sys.exit(main())
