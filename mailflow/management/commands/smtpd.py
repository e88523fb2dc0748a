"""`manage.py smtpd`: our own SMTP server for REPLY_DOMAIN (mailflow.smtp_receiver),
until SIGTERM or Ctrl-C. docs/inbound-smtp.md says what a mail team sets up around it."""

import signal
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from mailflow.smtp_receiver import reply_domain_controller


class Command(BaseCommand):
    help = (
        "Receive replies and bounces for REPLY_DOMAIN by SMTP (STARTTLS when "
        "SMTPD_TLS_CERT and SMTPD_TLS_KEY are set). Runs until SIGTERM or Ctrl-C."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", help="Address to listen on (default: SMTPD_HOST).")
        parser.add_argument("--port", type=int, help="Port to listen on (default: SMTPD_PORT).")

    def handle(self, *args: object, **options: object) -> None:
        host = str(options["host"] or settings.SMTPD_HOST)
        port = int(options["port"] or settings.SMTPD_PORT)  # type: ignore[call-overload]
        if not 0 < port < 65536:
            raise CommandError(f"The port must be between 1 and 65535, not {port}.")
        try:
            controller = reply_domain_controller(host=host, port=port)
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error
        stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopped.set())
        try:
            controller.start()
        except OSError as error:  # the address is taken, or the port needs privileges
            reason = error.strerror or error
            raise CommandError(f"Cannot listen on {host}:{port}: {reason}") from error
        tls = " with STARTTLS" if settings.SMTPD_TLS_CERT else ""
        self.stdout.write(
            f"Receiving mail for {settings.REPLY_DOMAIN} on {host}:{port}{tls} "
            f"(up to {settings.SMTPD_MAX_BYTES} bytes a message). Stop with Ctrl-C."
        )
        try:
            stopped.wait()
        finally:
            # Sessions in progress are cut off; their messages were not acknowledged, so
            # the sending servers deliver them again.
            controller.stop()
        self.stdout.write("Stopped.")
