"""A real browser (the system Chromium, driven by Playwright) opening the site's address:
it lands on the admin's sign-in page, and no page asks for an icon that is not there."""

from tests.browsing import BROWSER_MARKS
from tests.factories import AnalystFactory

pytestmark = BROWSER_MARKS

# Headless Chromium does not fetch icons itself: the page loads it as an image instead,
# which also shows that the browser can decode the file.
DECODED_WIDTH = """url => new Promise(done => {
    const image = new Image();
    image.onload = () => done(image.naturalWidth);
    image.onerror = () => done(0);
    image.src = url;
})"""


def test_the_site_address_leads_to_the_admin_and_every_page_has_its_icon(
    chromium, live_server, shots
):
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
    icon = page.locator("link[rel=icon]").get_attribute("href")

    assert icon == "/static/soc/favicon.ico"
    assert page.evaluate(DECODED_WIDTH, icon) > 0
    # Where a browser looks on a page that names no icon: redirected to the same file.
    assert page.evaluate(DECODED_WIDTH, "/favicon.ico") > 0
    assert [url for url, status in answers if status >= 400] == []
