"""What the mailbox benchmark and drill share: a private Dovecot (the tests' builder,
bench/dovecot.py), its INBOX filled over one connection, the Mailbox that reads
it, and polls triggered every second instead of by the one-minute schedule.

Call the Django parts after qcluster_tools.use_env()."""

import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import qcluster_tools as qt
from bench.common import create_database
from bench.dovecot import PASSWORD, USER, Dovecot, start_dovecot

# The environment variable the bench Mailbox names for its password.
SECRET_ENV = "MAILBOX_BENCH_PASSWORD"  # noqa: S105 (a variable name, not a secret)
PROCESSED = "Processed"
NAME = "bench"


def mailbox_env(server: Dovecot, batch: int) -> dict[str, str]:
    """What every process of the run needs to read the mailbox: the password, the private
    CA, and MAILBOX_POLL_BATCH (the messages one poll may take before it lets the next
    one carry on)."""
    return {
        SECRET_ENV: PASSWORD,
        "MAILBOX_CA_FILE": server.ca_file,
        "MAILBOX_POLL_BATCH": str(batch),
    }


@contextmanager
def mailbox_run(
    database: str, prefix: str, batch: int
) -> Iterator[tuple[Dovecot, dict[str, str], Path]]:
    """A run's world: a fresh database, migrated, a private Dovecot, and the environment
    every process of the run shares, this one's Django set up on it. The server stops
    when the run ends."""
    var_dir = Path(tempfile.mkdtemp(prefix=prefix))
    url = qt.database_url(database)
    create_database(url, fresh=True)
    server = start_dovecot()
    try:
        env = {
            **qt.app_env(database=url, var_dir=var_dir, port=8000),
            **mailbox_env(server, batch),
        }
        qt.manage(env, "migrate", "--noinput")
        qt.use_env(env)
        yield server, env, var_dir
    finally:
        server.stop()


def fill(server: Dovecot, messages: Iterable[bytes], folder: str = "INBOX") -> int:
    """APPEND every message over one logged-in connection (a login per message would
    make filling a thousand slower than reading them)."""
    count = 0
    with server.client() as client:
        for raw in messages:
            client.append(folder, raw)
            count += 1
    return count


def folder_count(server: Dovecot, folder: str) -> int:
    with server.client() as client:
        if not client.folder_exists(folder):
            return 0
        return int(client.select_folder(folder, readonly=True)[b"EXISTS"])


def configure_mailbox(server: Dovecot) -> int:
    """The Mailbox reading the server's INBOX, moving what it stored to PROCESSED, created
    through the admin's service. Returns its id."""
    from core.actors import Actor
    from mailflow.mailbox_polling import mailbox_save
    from mailflow.models import Mailbox

    mailbox = Mailbox(
        name=NAME,
        host="127.0.0.1",
        port=server.imaps_port,
        security=Mailbox.Security.TLS,
        username=USER,
        secret_env=SECRET_ENV,
        folder="INBOX",
        processed_folder=PROCESSED,
    )
    return mailbox_save(mailbox=mailbox, actor=Actor.system("Bench")).pk


def source() -> str:
    """The `provider` of the rows a poll of the bench mailbox stores."""
    from mailflow.models import Mailbox

    return Mailbox.objects.get(name=NAME).source


class PollTrigger:
    """Enqueue `mailflow.tasks.poll_mailbox` every `every` seconds while the mailbox is not
    held by a poll: what the schedule does every minute and the admin's "Poll now" at
    once. A poll the batch or its time budget cut short is then followed within a second,
    not a minute. Extra copies are harmless: a poll finding the lease held does nothing."""

    def __init__(self, mailbox_id: int, every: float = 1.0) -> None:
        self.mailbox_id, self.every = mailbox_id, every
        self.done = threading.Event()
        self.enqueued = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> "PollTrigger":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    def _loop(self) -> None:
        from django.db import connection
        from django.utils import timezone
        from django_q.tasks import async_task

        from mailflow.models import Mailbox

        # When the last poll was enqueued: another waits until that one has started (its
        # claim writes last_poll_at), so a long queue does not fill with polls.
        pending_since = None
        try:
            while not self.done.is_set():
                now = timezone.now()
                mailbox = Mailbox.objects.get(pk=self.mailbox_id)
                if mailbox.lease_until and mailbox.lease_until > now:
                    pending_since = None  # a poll is running
                elif (
                    pending_since is None
                    or (mailbox.last_poll_at and mailbox.last_poll_at >= pending_since)
                    or (now - pending_since).total_seconds() > 30
                ):
                    async_task("mailflow.tasks.poll_mailbox", self.mailbox_id)
                    self.enqueued += 1
                    pending_since = now
                self.done.wait(self.every)
        finally:
            connection.close()


def wait_until(condition, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


__all__ = ["Dovecot", "folder_count", "start_dovecot"]
