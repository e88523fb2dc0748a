"""Fault drill: kill the poller. 200 replies wait in a private Dovecot's INBOX; the whole
qcluster (2 workers) is SIGKILLed while a poll is reading them, 3 times, and restarted
each time. Afterwards: every message stored once, answered once, each run completed
once with its follow-up task, nothing left in the INBOX, every message once in the
processed folder, no duplicates.

    uv run python bench/drill_mailbox_kill.py            # 200 replies, 3 kills
    uv run python bench/drill_mailbox_kill.py --quick    # 40 replies, 1 kill

A kill lands during a poll: the drill watches the mailbox's lease (held while a poll
runs) and its last_uid, and kills once last_uid has passed the next of evenly spaced
points (N/4, N/2, 3N/4 for 3 kills) with the poll still holding the lease. Polls are
enqueued each second the mailbox is free (bench/mailbox_tools.PollTrigger) instead of
by the one-minute schedule; MAILBOX_POLL_BATCH is N, so one poll would read them all.

What production would wait for, the drill shortens: a killed poll's lease (5 minutes) is
run out at once after each kill (--real-lease waits for it), and the inbound and
timeline sweeps are called every few seconds with 15 s thresholds (as
drill_worker_kill.py does). The broker hands out again the tasks a killed worker had
taken after Q_CLUSTER's `retry`, so settling takes that long. Exit status 1 when any
check fails.
"""

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import mailbox_tools as mt
from bench import qcluster_tools as qt
from bench.common import conditions

DATABASE = "bench_mailbox_drill"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="40 replies, 1 kill")
    parser.add_argument("--settle", type=float, default=900.0, help="max seconds to settle")
    parser.add_argument(
        "--real-lease", action="store_true",
        help="wait for a killed poll's lease to run out (5 minutes per kill)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.messages, args.kills = 40, 1
    return args


class Killer:
    """Watches the mailbox and SIGKILLs the cluster while a poll is reading, at evenly
    spaced points of the INBOX's UIDs."""

    def __init__(self, cluster: qt.Cluster, mailbox_id: int, uids: int, kills: int, real_lease):
        self.cluster, self.mailbox_id, self.real_lease = cluster, mailbox_id, real_lease
        self.points = [uids * (k + 1) // (kills + 1) for k in range(kills)]
        self.landed: list[tuple[int, int]] = []  # (last_uid, rows stored) at each kill
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> "Killer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    def _loop(self) -> None:
        from django.db import connection
        from django.utils import timezone

        from mailflow.models import InboundEmail, Mailbox

        try:
            while self.points and not self.done.wait(0.02):
                mailbox = Mailbox.objects.get(pk=self.mailbox_id)
                polling = mailbox.lease_until and mailbox.lease_until > timezone.now()
                if not polling or mailbox.last_uid < self.points[0]:
                    continue
                self.cluster.kill_and_restart()
                stored = InboundEmail.objects.filter(provider=mailbox.source).count()
                self.landed.append((mailbox.last_uid, stored))
                self.points.pop(0)
                print(f"  kill {len(self.landed)}: during a poll at last_uid "
                      f"{mailbox.last_uid}, {stored} stored", flush=True)  # fmt: skip
                if not self.real_lease:
                    # The poller is dead: its lease would run out; run it out now.
                    Mailbox.objects.filter(pk=self.mailbox_id).update(lease_until=timezone.now())
        finally:
            connection.close()


def settled(incident_ids: list[int]) -> bool:
    from bench.worlds import FOLLOW_UPS
    from incidents.models import ResponseTask
    from mailflow.models import InboundEmail
    from runbooks.models import RunbookRun

    runs = RunbookRun.objects.filter(incident_id__in=incident_ids)
    tasks = ResponseTask.objects.filter(
        incident_id__in=incident_ids, title__in=list(FOLLOW_UPS.values())
    )
    return (
        runs.filter(state=RunbookRun.State.COMPLETED).count() == len(incident_ids)
        and tasks.count() >= len(incident_ids)
        and not InboundEmail.objects.filter(status=InboundEmail.Status.RECEIVED).exists()
    )


def check(
    server, replies: list, expected: dict[int, str], killer: Killer, kills: int
) -> list[tuple[str, int, int]]:
    """(what, found, expected) for each check."""
    from bench.drill_worker_kill import duplicates
    from bench.worlds import FOLLOW_UPS
    from incidents.models import ResponseTask, TimelineEntry
    from mailflow.models import Answer, ConfirmationRequest, InboundEmail
    from runbooks.models import RunbookRun

    n = len(replies)
    incident_ids = [r.incident_id for r in replies]
    runs = RunbookRun.objects.filter(incident_id__in=incident_ids)
    timeline = TimelineEntry.objects.filter(incident_id__in=incident_ids)
    requests = ConfirmationRequest.objects.filter(incident_id__in=incident_ids)
    inbound = InboundEmail.objects.filter(provider=mt.source())
    answers = Answer.objects.filter(request__in=requests)
    outcomes = dict(runs.values_list("requests__pk", "context__outcome"))
    return [
        ("kills while a poll was reading", len(killer.landed), kills),
        ("messages stored from the mailbox", inbound.count(), n),
        ("duplicate stored messages (same Message-ID)",
         duplicates(inbound.values_list("message_id", flat=True)), 0),
        ("stored messages matched to their question",
         inbound.filter(request__in=requests).count(), n),
        ("inbound messages left unprocessed or failed",
         InboundEmail.objects.filter(status__in=["received", "failed"]).count(), 0),
        ("answers recorded", answers.count(), n),
        ("duplicate answers (same question)",
         duplicates(answers.values_list("request_id", flat=True)), 0),
        ("answers read wrong (run outcome differs)",
         sum(outcomes.get(r) != o for r, o in expected.items()), 0),
        ("runs completed", runs.filter(state=RunbookRun.State.COMPLETED).count(), n),
        ("duplicate 'runbook.completed' entries",
         duplicates(timeline.filter(kind="runbook.completed").values_list("data__run", flat=True)),
         0),
        ("duplicate 'runbook.resumed' entries",
         duplicates(timeline.filter(kind="runbook.resumed").values_list("data__run", flat=True)),
         0),
        ("follow-up tasks",
         ResponseTask.objects.filter(incident_id__in=incident_ids,
                                     title__in=list(FOLLOW_UPS.values())).count(), n),
        ("duplicate tasks (incident, title)",
         duplicates(ResponseTask.objects.filter(incident_id__in=incident_ids)
                    .values_list("incident_id", "title")), 0),
        ("messages left in the INBOX", mt.folder_count(server, "INBOX"), 0),
        (f"messages in {mt.PROCESSED}", mt.folder_count(server, mt.PROCESSED), n),
    ]  # fmt: skip


def main() -> None:
    args = parse_args()
    print(f"Drill: kill the poller ({conditions()})")
    with mt.mailbox_run(DATABASE, "drill-mailbox-", args.messages) as (server, env, var_dir):
        failed = drill(args, server, env, var_dir)
    print("PASSED" if not failed else f"FAILED: {len(failed)} check(s)")
    sys.exit(1 if failed else 0)


def drill(args, server, env, var_dir: Path) -> list:
    from bench.drill_worker_kill import broker_empty, sweep
    from bench.worlds import DOWNLOAD, open_waiting, reply_for

    started = time.monotonic()
    requests = open_waiting(args.messages, DOWNLOAD, progress=False)[: args.messages]
    styles = ("gmail", "outlook", "apple")
    replies, expected = [], {}
    for i, request in enumerate(requests):
        answer = ("yes", "no")[i % 2]
        replies.append(reply_for(request, answer, style=styles[i % 3]))
        expected[request.pk] = answer
    mt.fill(server, (r.mime for r in replies))
    mailbox_id = mt.configure_mailbox(server)
    print(f"{len(replies)} replies in the INBOX ({time.monotonic() - started:.0f} s)")
    cluster = qt.Cluster(env, var_dir / "qcluster.log")
    trigger = mt.PollTrigger(mailbox_id)
    killer = Killer(cluster, mailbox_id, len(replies), args.kills, args.real_lease)
    incident_ids = [r.incident_id for r in replies]
    deadline = time.monotonic() + args.settle
    try:
        time.sleep(3)  # the cluster forks its workers
        trigger.start()
        killer.start()
        mt.wait_until(lambda: not killer.points, args.settle, 0.5)
        killer.stop()
        print(f"{len(killer.landed)} kills; settling ({time.monotonic() - started:.0f} s)")
        while not settled(incident_ids) and time.monotonic() < deadline:
            sweep()
            time.sleep(5)
        while not broker_empty("orm") and time.monotonic() < deadline:
            time.sleep(5)  # killed tasks come back after Q_CLUSTER's retry
        time.sleep(3)  # the last tasks taken finish
    finally:
        killer.stop()
        trigger.stop()
        cluster.stop()
    results = check(server, replies, expected, killer, args.kills)
    print(f"\nDrill: kill the poller ({conditions()})")
    print(f"settled in {time.monotonic() - started:.0f} s; {len(replies)} replies, "
          f"SIGKILLed the cluster {cluster.kills} times during a poll, "
          f"{trigger.enqueued} polls enqueued")  # fmt: skip
    width = max(len(what) for what, *_ in results)
    for what, found, want in results:
        mark = "ok" if found == want else "FAILED"
        print(f"  {what.ljust(width)}  {found:>5}  (expected {want})  {mark}")
    return [r for r in results if r[1] != r[2]]


if __name__ == "__main__":
    main()
