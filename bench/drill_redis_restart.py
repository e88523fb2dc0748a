"""Fault drill: Redis broker restart. A private redis-server (port 6380, no persistence)
is killed and started again while the cluster works through incidents and their email
replies: every task queued in Redis at that moment is gone. The sweepers (runs,
inbound email, timeline, lost sends) must bring that work back; afterwards the same
checks as the worker-kill drill: every run finished once, nothing duplicated, no answer
lost.

    uv run python bench/drill_redis_restart.py                  # 100 incidents, 2 restarts
    uv run python bench/drill_redis_restart.py --incidents 40 --restarts 1

Replies are delivered 3 times each, as in the worker-kill drill; posts refused while
Redis is down are posted again afterwards, as a provider retries. The shared Redis on
6379 is never touched. Exit status 1 when any check fails.
"""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import qcluster_tools as qt
from bench.common import conditions, create_database, free_port, start_group
from bench.drill_worker_kill import Drill, broker_empty, check, settled, sweep

DATABASE = "bench_drill_redis"
REDIS_PORT = 6380
REDIS_URL = f"redis://127.0.0.1:{REDIS_PORT}/0"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=100)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--outage", type=float, default=3.0, help="seconds Redis stays down")
    parser.add_argument("--pause", type=float, default=4.0, help="seconds the cluster pauses")
    parser.add_argument("--settle", type=float, default=900.0, help="max seconds to settle")
    return parser.parse_args()


class PrivateRedis:
    """Our own redis-server, in its own process group, without persistence: a restart
    loses every queued task, the worst case of a broker restart."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        args = ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.process = start_group(args, dict(os.environ), self.log)
        import redis

        client = redis.Redis(port=REDIS_PORT)
        for _ in range(100):
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start; see {self.log}")

    def kill(self) -> None:
        if self.process is not None:
            qt.kill(self.process)


def queue_length() -> int:
    import redis

    with contextlib.suppress(redis.ConnectionError):
        return redis.Redis.from_url(REDIS_URL).llen("django_q:soc:q")
    return -1


def restart_loop(
    drill: Drill,
    server: PrivateRedis,
    cluster: qt.Cluster,
    args: argparse.Namespace,
    log: list[tuple[int, int]],
) -> None:
    """Restart Redis each time another share of the replies has been posted, so it dies
    with replies, answers and advances in flight. The workers keep up with this load,
    so the cluster is first paused (SIGSTOP) for a few seconds, as busy workers would
    be, and the tasks pile up in Redis: those are what the restart loses. Logs (tasks
    lost, inbound messages waiting)."""
    from django.db import connection

    from mailflow.models import InboundEmail

    for number in range(1, args.restarts + 1):
        threshold = args.incidents * number / (args.restarts + 1)
        while len(drill.replies) < threshold:
            time.sleep(0.2)
        with cluster.lock:
            os.killpg(cluster.process.pid, signal.SIGSTOP)
            try:
                time.sleep(args.pause)
                queued = queue_length()
                waiting = InboundEmail.objects.filter(status=InboundEmail.Status.RECEIVED).count()
                server.kill()
            finally:
                os.killpg(cluster.process.pid, signal.SIGCONT)
        log.append((queued, waiting))
        time.sleep(args.outage)
        server.start()
    connection.close()


def repost_refused(drill: Drill) -> int:
    """A provider posts again what was not acknowledged with a 2xx."""
    refused = [r for r in drill.replies.values() if not any(s[2] == 200 for s in r.sends)]
    for reply in refused:
        drill.poster.post(reply)
    return len(refused)


def main() -> None:
    args = parse_args()
    print(f"Drill: Redis broker restart ({conditions()})")
    var_dir = Path(tempfile.mkdtemp(prefix="drill-redis-"))
    url = qt.database_url(DATABASE)
    create_database(url, fresh=True)
    port = free_port()
    env = qt.app_env(database=url, var_dir=var_dir, port=port, broker="redis", redis_url=REDIS_URL)
    redis_server = PrivateRedis(var_dir / "redis.log")
    qt.manage(env, "migrate", "--noinput")
    qt.use_env(env)
    from bench.worlds import Poster
    from runbooks.files import import_shipped_runbooks

    import_shipped_runbooks()
    server = qt.start_gunicorn(env, port, var_dir / "gunicorn.log")
    cluster = qt.Cluster(env, var_dir / "qcluster.log")
    drill = Drill(args, Poster(f"http://127.0.0.1:{port}", env["ANYMAIL_WEBHOOK_SECRET"]))
    restarts: list[tuple[int, int]] = []
    restarter = threading.Thread(
        target=restart_loop, args=(drill, redis_server, cluster, args, restarts), daemon=True
    )
    started = time.monotonic()
    deadline = started + args.settle
    reposted = 0
    try:
        incident_ids = drill.open_incidents()
        restarter.start()
        while drill.answer_sent_questions(incident_ids) and time.monotonic() < deadline:
            time.sleep(0.5)
            if restarter.is_alive():
                continue
            sweep()  # once Redis is back for good, as the schedules would
        drill.pool.shutdown(wait=True)
        restarter.join()
        reposted = repost_refused(drill)
        print(
            f"all {len(drill.replies)} replies posted, Redis restarted {len(restarts)} times "
            f"({time.monotonic() - started:.0f} s); settling"
        )
        while not settled(incident_ids) and time.monotonic() < deadline:
            sweep()
            time.sleep(5)
        while not broker_empty("redis", REDIS_URL) and time.monotonic() < deadline:
            time.sleep(2)
        time.sleep(3)
    finally:
        cluster.stop()
        qt.stop(server)
        redis_server.kill()
    results = check(drill, incident_ids, var_dir / "mail")
    failed = [(what, found, expected) for what, found, expected in results if found != expected]
    print(f"\nDrill: Redis broker restart ({conditions()})")
    print(f"settled in {time.monotonic() - started:.0f} s")
    for number, (queued, waiting) in enumerate(restarts, start=1):
        print(f"  restart {number}: {queued} tasks queued in Redis were lost, "
              f"{waiting} inbound messages not processed yet")  # fmt: skip
    posts = sum(len(r.sends) for r in drill.replies.values())
    refused = sum(s[2] != 200 for r in drill.replies.values() for s in r.sends)
    print(f"  webhook posts {posts}, refused while Redis was down {refused}, "
          f"reposted {reposted}")  # fmt: skip
    width = max(len(what) for what, *_ in results)
    for what, found, expected in results:
        mark = "ok" if found == expected else "FAILED"
        print(f"  {what.ljust(width)}  {found:>5}  (expected {expected})  {mark}")
    print(f"duplicates found: {sum(f for w, f, _ in results if w.startswith('duplicate'))}")
    print("PASSED" if not failed else f"FAILED: {len(failed)} check(s)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
