from django.conf import settings
from django.core.management.base import BaseCommand

from soc.demo import load_demo


class Command(BaseCommand):
    help = "Load demo data (idempotent) and print the demo logins."

    def handle(self, *args, **options) -> None:
        report = load_demo()
        created = ", ".join(report.incidents_created) or "none (already loaded)"
        self.stdout.write(f"Runbooks: {', '.join(report.runbooks)}")
        self.stdout.write(f"Demo incidents created: {created}")
        self.stdout.write(self.style.SUCCESS("Demo logins (passwords are new on every run):"))
        for username, password in report.logins.items():
            self.stdout.write(
                f"  {settings.SITE_URL}/admin/  user: {username}  password: {password}"
            )
