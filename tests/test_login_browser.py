"""Guessing the admin password in a real browser (the system Chromium, driven by
Playwright): after the limit, the sign-in page gives way to a page that says what happened
and what to do, and even the right password is refused."""

from django.urls import reverse

from tests.browsing import BROWSER_MARKS
from tests.factories import AnalystFactory

pytestmark = BROWSER_MARKS


def test_a_guesser_meets_the_lockout_page_and_the_right_password_waits(
    chromium,
    live_server,
    settings,
    shots,
):
    from playwright.sync_api import expect

    AnalystFactory(username="alice")
    page = chromium.new_page()
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
