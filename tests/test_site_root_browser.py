"""A real browser (the system Chromium, driven by Playwright) opening the site's address:
it lands on the admin's sign-in page."""

from tests.browsing import BROWSER_MARKS
from tests.factories import AnalystFactory

pytestmark = BROWSER_MARKS


def test_the_site_address_leads_to_the_admin(chromium, live_server, shots):
    from playwright.sync_api import expect

    AnalystFactory(username="alice")
    page = chromium.new_page()
    answers: list[tuple[str, int]] = []
    page.on("response", lambda response: answers.append((response.url, response.status)))

    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert page.url == f"{live_server.url}/admin/login/?next=/admin/"
    page.screenshot(path=str(shots / "site-root-sign-in.png"))
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Incidents, tasks and runbooks")).to_be_visible()
    page.get_by_role("link", name="View site").click()  # the admin's link to "/"
    expect(page.get_by_role("heading", name="Incidents, tasks and runbooks")).to_be_visible()
    page.screenshot(path=str(shots / "site-root-admin.png"))
    assert [url for url, status in answers if status >= 400] == []
