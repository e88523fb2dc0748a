"""What every real-browser test shares: the system Chromium, and the marks that run such a
test once, against a live server. The `chromium` and `shots` fixtures are in conftest.py."""

from pathlib import Path

import pytest
from django.db import connection

CHROMIUM = Path("/usr/bin/chromium")

BROWSER_MARKS = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system Chromium (.ci/run)"),
    # Nothing a browser test checks depends on the database engine, so it runs once, in
    # the SQLite pass (on PostgreSQL the session-wide live server also outlives the test
    # database).
    pytest.mark.skipif(connection.vendor != "sqlite", reason="runs in the SQLite pass"),
    # A live server needs committed data; serialized_rollback restores the seeded rows.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
