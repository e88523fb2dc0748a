"""Guessing the admin password in a real browser (the system Chromium, driven by
Playwright): after the limit, the sign-in page gives way to a page that says what happened
and what to do, and even the right password is refused."""

import pytest
from django.db import connection
from django.urls import reverse

from tests.factories import AnalystFactory
from tests.mailflow.test_browser import CHROMIUM, browser  # noqa: F401 (the fixture)

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs the system Chromium (.ci/run)"),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="runs in the SQLite pass"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_guesser_meets_the_lockout_page_and_the_right_password_waits(
    browser,  # noqa: F811
    live_server,
    settings,
    shots,
):
    from playwright.sync_api import expect

    AnalystFactory(username="alice")
    page = browser.new_page()
    login = f"{live_server.url}{reverse('admin:login')}"

    def sign_in(password: str) -> None:
        page.goto(login)
        page.fill("#id_username", "alice")
        page.fill("#id_password", password)
        page.click("input[type=submit]")

    for guess in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(f"guess-{guess}")
        expect(page.locator(".errornote")).to_be_visible()  # the ordinary wrong-password note
    sign_in("one-guess-too-many")
    expect(page.get_by_role("heading", name="Sign-in locked")).to_be_visible()
    page.screenshot(path=str(shots / "admin-lockout.png"), full_page=True)

    sign_in("pw")  # the right password, during the lockout

    expect(page.get_by_role("heading", name="Sign-in locked")).to_be_visible()
    assert page.url.startswith(login)
