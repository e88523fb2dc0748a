"""`manage.py up`: the README's first command. Migrate, load the demo, then run the web
server and the background worker together until Ctrl-C."""

import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from mailflow.localmail import BACKEND


class Command(BaseCommand):
    help = "Set up the database, load demo data, and run the web server with a task worker."

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-demo", action="store_true", help="Skip loading demo data.")

    def handle(self, *args, addrport: str, no_demo: bool, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if not no_demo:
            call_command("demo")
        # A SIGTERM (a service manager, `timeout`) stops the worker too, as Ctrl-C does:
        # without a handler Python would exit at once and leave the worker running.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        # The worker is a separate process, as in production (`manage.py qcluster`); it
        # inherits this environment, DEBUG included.
        worker = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
            [sys.executable, str(settings.BASE_DIR / "manage.py"), "qcluster"]
        )
        try:  # from here on, however this command ends, the worker ends with it
            self.stdout.write(f"Task worker started (pid {worker.pid}).")
            self.stdout.write(f"Admin: http://{addrport}/admin/  (Ctrl-C stops both)")
            if settings.EMAIL_BACKEND == BACKEND:
                self.stdout.write(f"Emails sent by the demo: http://{addrport}/dev/mailbox/")
            # No autoreloader: it would re-run this whole command in a child process.
            call_command("runserver", addrport, use_reloader=False)
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                # django-q's cluster can miss a SIGTERM that comes while it is starting.
                worker.kill()
                worker.wait()
