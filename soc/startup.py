"""Refuse to serve with a broken configuration.

`runserver` and `migrate` run Django's system checks, but gunicorn and uvicorn do not; the
WSGI/ASGI modules call this so a production server stops at boot instead of running without
a webhook secret.
"""

from django.core import checks
from django.core.management.base import SystemCheckError


def fail_on_check_errors() -> None:
    errors = [m for m in checks.run_checks() if m.level >= checks.ERROR and not m.is_silenced()]
    if errors:
        raise SystemCheckError(
            "The configuration is not usable:\n" + "\n".join(str(e) for e in errors)
        )
