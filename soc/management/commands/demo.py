from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from soc.demo import load_demo


class Command(BaseCommand):
    help = "Load demo data (idempotent) and print the demo logins."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            # Well-known user names with passwords printed to a terminal or a log: for a
            # laptop, never for a server.
            raise CommandError(
                "The demo creates logins and prints their passwords, so it runs with "
                "DEBUG=true only. For a server, create accounts with `manage.py "
                "createsuperuser` and the admin."
            )
        report = load_demo()
        created = ", ".join(report.incidents_created) or "none (already loaded)"
        self.stdout.write(f"Runbooks: {', '.join(report.runbooks)}")
        if report.runbooks_differing:
            self.stdout.write(
                "Kept as installed, different from the version shipped with the app: "
                f"{', '.join(report.runbooks_differing)} "
                "(see `manage.py runbooks upgrade`)"
            )
        self.stdout.write(f"Demo incidents created: {created}")
        self.stdout.write(self.style.SUCCESS("Demo logins (passwords are new on every run):"))
        for username, password in report.logins.items():
            self.stdout.write(
                f"  {settings.SITE_URL}/admin/  user: {username}  password: {password}"
            )
