"""What every real-browser test shares: the system Chromium, and the marks that run such a
test once, against a live server. The `chromium` and `shots` fixtures are in conftest.py."""

from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse

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


def signed_in(browser, live_server, username: str, **page_options):
    """A new page of `browser` (the `chromium` fixture, or a context of it), signed in to
    the admin as `username` (the factories' password is "pw")."""
    page = browser.new_page(**page_options)
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    return page
