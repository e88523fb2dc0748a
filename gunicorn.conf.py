"""gunicorn reads this file from the folder it starts in (the project's; /app in the
image). Its own lines (starting, booting and stopping workers, timeouts) then go through
the app's logging: the same format, one JSON object per line with LOG_FORMAT=json, and
the same redaction."""

import os

from django.conf import settings

# Read at the first use of `settings` below, so this comes first.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "soc.settings")

logconfig_dict = {
    **settings.LOGGING,
    "loggers": {
        **settings.LOGGING["loggers"],
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
