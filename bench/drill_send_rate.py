"""Fault drill: a campaign within the provider's quota. 5,000 people are asked at once
(one phishing incident, the shipped "Phishing recipients" runbook) and every email goes
through anymail's real Postmark backend to a fake Postmark on 127.0.0.1 that accepts at
most N emails/s and answers HTTP 429 above that, as providers do. The workers are real:
two `qcluster` processes with EMAIL_SEND_RATE=N, pacing each other through the database.

    uv run python bench/drill_send_rate.py            # 5,000 people at 25/s (200 s)
    uv run python bench/drill_send_rate.py --quick    # 500 people at 50/s (10 s; CI)

The fake provider is a token bucket (N/s, holding `--burst` seconds' worth), and answers
429 to a random `--under-load` share of posts whatever the rate, as a provider under load
does: so the drill sees throttling even when the pacing is perfect. It prints, and exits 1
unless each holds: every person's email accepted once, 0 duplicates, 0 undeliverable,
and the sending time within 10% of people/N (with --quick only its lower bound: never
faster than the quota; first to last email the provider accepted;
the time from the analyst's ask to the last email is printed beside it). Only loopback
traffic; every wait is bounded; the drill stops its clusters and server itself.
"""

import argparse
import bisect
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import qcluster_tools as qt
from bench.common import conditions, create_database, free_port, print_table

DATABASE = "bench_drill_send_rate"
SERVER_TOKEN = "drill-server-token"  # noqa: S105 (the fake provider's, loopback only)
TOLERANCE = 0.10


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=25.0, help="N: emails/s, both sides")
    parser.add_argument("--quick", action="store_true", help="500 people at 50/s")
    parser.add_argument("--clusters", type=int, default=2, help="qcluster processes")
    parser.add_argument("--workers", type=int, default=3, help="workers per qcluster")
    parser.add_argument("--burst", type=float, default=0.2, help="seconds of rate the bucket holds")
    parser.add_argument("--under-load", type=float, default=0.02, help="share of posts 429'd")
    args = parser.parse_args()
    if args.quick:
        args.people, args.rate = 500, 50.0
    return args


class FakePostmark(ThreadingHTTPServer):
    """Postmark's POST /email on loopback: a token bucket of `rate` per second holding
    `burst` seconds' worth; above it, and on a random `under_load` share of posts, 429.
    Every accepted message is kept (when, To, our Message-ID)."""

    daemon_threads = True

    def __init__(self, rate: float, burst: float, under_load: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.rate, self.capacity = rate, max(1.0, rate * burst)
        self.under_load_share = under_load
        self.random = random.Random(22)  # the same posts throttled in every run
        self.tokens, self.refilled = self.capacity, time.monotonic()
        self.lock = threading.Lock()
        self.posts = 0
        self.over_rate = 0  # 429s because the bucket was empty
        self.under_load = 0  # 429s whatever the rate
        self.accepted: list[tuple[float, str, str]] = []

    def admit(self) -> str:
        """'ok', 'over rate' or 'under load', counted."""
        with self.lock:
            self.posts += 1
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.refilled) * self.rate)
            self.refilled = now
            if self.random.random() < self.under_load_share:
                self.under_load += 1
                return "under load"
            if self.tokens < 1:
                self.over_rate += 1
                return "over rate"
            self.tokens -= 1
            return "ok"

    def keep(self, to: str, message_id: str) -> None:
        with self.lock:
            self.accepted.append((time.monotonic(), to, message_id))


class _Handler(BaseHTTPRequestHandler):
    server: FakePostmark

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path != "/email" or self.headers.get("X-Postmark-Server-Token") != SERVER_TOKEN:
            self._answer(401, {"ErrorCode": 10, "Message": "Bad or missing Server API Token."})
            return
        verdict = self.server.admit()
        if verdict != "ok":
            self._answer(429, {"ErrorCode": 0, "Message": "Rate limit exceeded."})
            return
        payload = json.loads(body)
        headers = {h["Name"].lower(): h["Value"] for h in payload.get("Headers", [])}
        self.server.keep(payload["To"], headers.get("message-id", ""))
        submitted = time.strftime("%Y-%m-%dT%H:%M:%SZ")
        message_id = str(uuid.uuid4())
        self._answer(200, {"To": payload["To"], "SubmittedAt": submitted, "MessageID": message_id,
                           "ErrorCode": 0, "Message": "OK"})  # fmt: skip

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per post would drown the drill's output


def main() -> None:
    args = parse_args()
    print(conditions())
    ideal = args.people / args.rate
    print(f"{args.people} people at {args.rate:g}/s: ideally {ideal:.1f} s of sending; "
          f"{args.clusters} qclusters x {args.workers} workers")  # fmt: skip

    provider = FakePostmark(args.rate, args.burst, args.under_load)
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    database = qt.database_url(DATABASE)
    create_database(database, fresh=True)
    var_dir = Path(tempfile.mkdtemp(prefix="soc-drill-send-rate-"))
    env = qt.app_env(database=database, var_dir=var_dir, port=free_port())
    env.update({
        "EMAIL_BACKEND": "anymail.backends.postmark.EmailBackend",
        "ANYMAIL_POSTMARK_SERVER_TOKEN": SERVER_TOKEN,
        "ANYMAIL_POSTMARK_API_URL": f"http://127.0.0.1:{provider.server_address[1]}/",
        "EMAIL_SEND_RATE": f"{args.rate:g}",
        "Q_WORKERS": str(args.workers),
        # Loopback only: no proxy from the environment may carry the posts elsewhere.
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })  # fmt: skip
    qt.manage(env, "migrate")
    qt.use_env(env)

    from bench.worlds import ensure_people
    from core.actors import Actor
    from incidents.models import Category, TimelineEntry
    from incidents.services import incident_open
    from mailflow.models import ConfirmationRequest
    from runbooks.files import import_shipped_runbooks
    from runbooks.starting import runs_start_for_people

    runbook = {r.name: r for r in import_shipped_runbooks()}["Phishing recipients"]
    people = ensure_people(args.people)
    incident, _ = incident_open(
        actor=Actor.system(),
        short_description="Invoice overdue: credential phishing to everyone",
        category=Category.objects.get(slug="phishing"),
        priority=2,
    )
    requests = ConfirmationRequest.objects.filter(incident=incident)

    logs = [var_dir / f"qcluster-{n}.log" for n in range(args.clusters)]
    clusters = [qt.start_qcluster(env, log) for log in logs]
    try:
        time.sleep(3)  # the clusters' workers start before the clock does
        began = time.monotonic()
        runs_start_for_people(
            actor=Actor.system(), runbook=runbook, incident=incident, people=people
        )
        give_up = began + 3 * ideal + 300
        while time.monotonic() < give_up:
            time.sleep(1)
            asked = requests.count()
            pending = requests.filter(state=ConfirmationRequest.State.PENDING).count()
            if asked == args.people and not pending:
                break
        ended = time.monotonic()
        time.sleep(3)  # an email handed over twice would arrive now
    finally:
        for cluster in clusters:
            qt.stop(cluster)
        provider.shutdown()

    accepted = list(provider.accepted)
    per_person = Counter(to for _, to, _ in accepted)
    per_message_id = Counter(message_id for _, _, message_id in accepted)
    states = Counter(requests.values_list("state", flat=True))
    deferred = sum(requests.values_list("send_deferrals", flat=True))
    undeliverable_entries = TimelineEntry.objects.filter(
        incident=incident, kind="request.undeliverable"
    ).count()
    times = sorted(moment for moment, _, _ in accepted)
    sending = times[-1] - times[0] if len(times) > 1 else float("nan")
    busiest = max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)
    people_emails = {p.email for p in people}

    twice = sum(1 for n in per_person.values() if n > 1)
    ids_twice = sum(1 for n in per_message_id.values() if n > 1)
    checks = [
        ("people whose email the provider accepted", len(per_person), args.people),
        ("emails accepted (each person once)", len(accepted), args.people),
        ("people handed over more than once", twice, 0),
        ("Message-IDs accepted more than once", ids_twice, 0),
        ("accepted for someone not asked", len(set(per_person) - people_emails), 0),
        ("questions marked sent", states.get("sent", 0), args.people),
        ("questions undeliverable", states.get("undeliverable", 0), 0),
        ("'could not be delivered' timeline entries", undeliverable_entries, 0),
    ]  # fmt: skip
    too_fast = sending < (1 - TOLERANCE) * ideal
    too_slow = sending > (1 + TOLERANCE) * ideal
    # Faster than the quota is a pacing bug, always. Slower can be this machine: in CI
    # (--quick) two cores advancing runs and sending at 50/s may not keep up in a slow
    # hour, so there it is reported, not failed; the full run checks both bounds.
    slow_fails = too_slow and not args.quick
    timing = "FAILED" if too_fast or slow_fails else ("slow (not checked)" if too_slow else "ok")
    rows = [[what, found, expected, "ok" if found == expected else "FAILED"]
            for what, found, expected in checks]  # fmt: skip
    rows.append(["sending time, first to last email accepted", f"{sending:.1f} s",
                 f"{ideal:.1f} s ± 10%", timing])  # fmt: skip
    print_table(rows, ["check", "found", "expected", ""])
    print(
        f"Ask to last email: {(times[-1] if times else ended) - began:.1f} s. Provider: "
        f"{provider.posts} posts, {provider.over_rate} answered 429 over the rate, "
        f"{provider.under_load} answered 429 'under load' ({args.under_load:.0%} at random); "
        f"busiest second {busiest} emails (rate {args.rate:g}, bucket "
        f"{provider.capacity:g}). Sends put off and retried: {deferred} (never counted)."
    )
    seconds = Counter(int(t - times[0]) for t in times) if times else Counter()
    each = [str(seconds.get(n, 0)) for n in range(max(seconds, default=-1) + 1)]
    print("Emails accepted in each second of sending:", " ".join(each))
    failed = [what for what, found, expected in checks if found != expected]
    if too_fast or slow_fails:
        failed.append("sending time")
    if failed:
        raise SystemExit(f"FAILED: {', '.join(failed)}; logs: {', '.join(map(str, logs))}")
    print("All checks passed.")


if __name__ == "__main__":
    main()
