"""Scenario 2 (a suspicious download) as an analyst meets it, in a real browser: the
dashboard says a question waits, the person answers with a screenshot, and the analyst
goes from the dashboard to the answered incident, whose header, evidence and timeline say
where it stands."""

import re
from datetime import timedelta

from django.core import mail
from django.core.cache import cache

from incidents.models import Evidence, ResponseTask
from mailflow.models import ConfirmationRequest
from runbooks.files import import_shipped_runbooks
from tests.browsing import BROWSER_MARKS, signed_in
from tests.factories import (
    AnalystFactory,
    ConfigurationItemFactory,
    PersonFactory,
    category,
    open_incident,
)

pytestmark = BROWSER_MARKS

WIDE = {"width": 1366, "height": 900}
# Headless Chromium names itself, and the app holds such an answer as a mail scanner's.
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)


def test_the_analyst_follows_a_suspicious_download_from_the_dashboard_to_its_answer(
    chromium, live_server, settings, shots, tmp_path
):
    from playwright.sync_api import expect

    settings.SITE_URL = live_server.url
    import_shipped_runbooks()
    AnalystFactory(username="alice")
    bob = PersonFactory(email="bob.builder@example.com", first_name="Bob", last_name="Builder")
    incident = open_incident(
        short_description="invoice_2026.zip downloaded from a file-sharing site",
        category=category("policy-violation"),
        affected_user=bob,
        affected_ci=ConfigurationItemFactory(name="LAPTOP-BOB", owner=bob),
    )
    question = ConfirmationRequest.objects.get(incident=incident)
    cache.clear()  # the dashboard's figures are kept for a minute

    # 1. The dashboard says a question waits; its figure opens that question.
    page = signed_in(chromium, live_server, "alice", viewport=WIDE)
    page.screenshot(path=str(shots / "cockpit-journey-dashboard.png"), full_page=True)
    page.get_by_role("link", name="1 Waiting for an answer").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    expect(page.locator("#result_list")).to_contain_text("Bob Builder")

    # 2. Bob answers "yes" on the answer page, minutes later, with a screenshot.
    ConfirmationRequest.objects.filter(pk=question.pk).update(
        sent_at=question.sent_at - timedelta(minutes=7)
    )
    screenshot = tmp_path / "download-warning.png"
    person = chromium.new_page(user_agent=DESKTOP_UA, viewport={"width": 480, "height": 170})
    person.set_content("<p style='font: 15px sans-serif'>invoice_2026.zip may be dangerous</p>")
    person.screenshot(path=str(screenshot))
    yes = re.search(r"(http://\S+/respond/\S+/\?choice=yes)", mail.outbox[-1].body).group(1)
    person.goto(yes)
    person.set_input_files("input[type=file]", str(screenshot))
    person.get_by_role("button", name="Send answer").click()
    person.wait_for_url("**/respond/thanks/")
    person.close()

    # 3. From the dashboard again, through the incidents in analysis, to the incident.
    cache.clear()
    page.goto(live_server.url + "/admin/")
    expect(page.locator(".soc-dashboard")).to_contain_text("0 Waiting for an answer")
    page.locator(".soc-breakdown").get_by_role("link", name="Analysis 1").click()
    page.get_by_role("link", name=incident.number).click()

    header = page.locator("#summary")
    expect(header).to_contain_text("Answer: “Yes, I downloaded this file”")
    expect(header).to_contain_text("Analyse the evidence provided by the user")
    expect(page.locator(".soc-evidence-list")).to_contain_text("download-warning.png")
    expect(page.locator(".soc-timeline").first).to_contain_text("Answer received")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDE["width"]
    page.screenshot(path=str(shots / "cockpit-journey-answered.png"), full_page=True)

    # What the page shows is what happened.
    assert question.answers.get().option_key == "yes"
    assert Evidence.objects.get(incident=incident).filename == "download-warning.png"
    assert set(incident.tasks.values_list("title", "state")) == {
        ("Confirm the download with the user", ResponseTask.State.COMPLETED),
        ("Analyse the evidence provided by the user", ResponseTask.State.OPEN),
    }
