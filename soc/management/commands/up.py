"""`manage.py up`: the README's first command. Migrate, load the demo, then run the web
server and the background worker together until Ctrl-C."""

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as Runserver
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.management.commands.runserver import naiveip_re

from mailflow.localmail import BACKEND
from soc.local import STOP_SIGNALS, ignore_stop_signals

# django-q2 lets running tasks finish before it exits; one that takes longer is killed,
# and the broker hands it out again on the next start.
WORKER_GRACE_SECONDS = 10


class Stop(BaseException):
    """A stop signal arrived. A BaseException, as KeyboardInterrupt is, so that no
    `except Exception` in the web server takes it for a failed request."""


class StopSignals:
    """The first stop signal becomes `Stop`; every later one is ignored. A terminal sends
    Ctrl-C to `up` and `uv run` passes it on once more: that second signal must not cut
    short the clean-up that stops the worker."""

    def __init__(self) -> None:
        self.held = False
        self.caught = False

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        ignore_stop_signals()
        self.caught = True
        if not self.held:
            raise Stop

    @contextmanager
    def held_back(self) -> Iterator[None]:
        """A stop that arrives in here is raised at its end: raised inside Popen, after
        the fork, it would leave a worker that nothing knows of."""
        self.held = True
        try:
            yield
        finally:
            self.held = False
        if self.caught:
            raise Stop


# A server listening on every address is reached from this machine on the loopback one.
_LOCAL_HOSTS = {
    None: "127.0.0.1",
    "0": "127.0.0.1",
    "0.0.0.0": "127.0.0.1",  # noqa: S104 (an address to replace, not one to listen on)
    "[::]": "[::1]",
}


def server_url(addrport: str) -> str:
    """Where `runserver addrport` can be reached from this machine."""
    match = naiveip_re.match(addrport)
    if match is None:  # runserver's words, before the demo prints links with it
        raise CommandError(f'"{addrport}" is not a valid port number or address:port pair.')
    addr, port = match.group("addr"), match.group("port")
    return f"http://{_LOCAL_HOSTS.get(addr, addr)}:{port}"


def point_email_links_at(url: str) -> None:
    """Unless SITE_URL is set (in the environment or .env), links in emails lead to the
    server being started, whatever its port. The worker, which sends the emails, reads it
    from the environment it inherits."""
    if os.environ.get("SITE_URL", "").strip():
        return
    os.environ["SITE_URL"] = url
    settings.SITE_URL = url


class ServerThenCallback(Runserver):
    """runserver (staticfiles' own, which serves the admin's styles) calling `on_serving`
    once its port is bound. runserver ends the whole
    process with os._exit when the port is taken, skipping every `finally`: a worker
    started before that would be left running."""

    def __init__(self, on_serving: Callable[[], None]) -> None:
        super().__init__()
        self.on_serving = on_serving

    def on_bind(self, server_port: int) -> None:
        super().on_bind(server_port)
        self.on_serving()


def stop_worker(worker: subprocess.Popen) -> None:
    """Ask django-q2's main process to stop its processes in order; then kill whatever
    is left of its process group (a long task, a process that missed the request while
    starting). The group kill is the guarantee that nothing outlives `up`."""
    with suppress(ProcessLookupError):
        worker.terminate()
    with suppress(subprocess.TimeoutExpired):
        worker.wait(timeout=WORKER_GRACE_SECONDS)
    with suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()


class Command(BaseCommand):
    help = "Set up the database, load demo data, and run the web server with a task worker."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-demo", action="store_true", help="Skip loading demo data.")

    def handle(self, *args, addrport: str, no_demo: bool, **options) -> None:
        url = server_url(addrport)
        point_email_links_at(url)
        stop_signals = StopSignals()
        stop_signals.install()
        worker: subprocess.Popen | None = None

        def start_worker() -> None:
            nonlocal worker
            with stop_signals.held_back():
                worker = self.start_worker()
            self.stdout.write(f"Task worker started (pid {worker.pid}).")
            self.stdout.write(f"Admin: {url}/admin/  (Ctrl-C stops both)")
            if settings.EMAIL_BACKEND == BACKEND:
                self.stdout.write(f"Emails sent by the demo: {url}/dev/mailbox/")

        try:
            call_command("migrate", interactive=False, verbosity=0)
            if not no_demo:
                call_command("demo")
            # No autoreloader: it would re-run this whole command in a child process.
            call_command(ServerThenCallback(start_worker), addrport, use_reloader=False)
        except Stop:
            pass
        finally:
            ignore_stop_signals()  # however this ended, nothing interrupts the clean-up
            if worker is not None:
                stop_worker(worker)
        self.stdout.write("Stopped.")

    def start_worker(self) -> subprocess.Popen:
        # A separate process, as in production (`manage.py qcluster`), inheriting this
        # environment (DEBUG, SITE_URL). In a session of its own, so that a terminal's
        # Ctrl-C reaches only `up`, which then stops the worker in order.
        return subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"],
            start_new_session=True,
        )
