"""The README's picture, docs/incident-after-answer.png, made again from the app itself:
a suspicious-download incident whose person answered "yes" with a screenshot, seen by an
analyst. Run after a change to the incident page:

    UPDATE_DOCS_SCREENSHOTS=1 uv run pytest tests/test_docs_screenshot.py

Without the variable it is skipped, so the committed picture changes only on purpose."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse

from incidents.models import SecurityIncident
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

PICTURE = Path(__file__).resolve().parent.parent / "docs" / "incident-after-answer.png"
VIEWPORT = {"width": 1280, "height": 900}
# The person's browser: headless Chromium says "HeadlessChrome", which the app takes for a
# scanner and holds the answer.
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
# What the person photographs: the browser's warning about the file.
WARNING_PAGE = """
<body style="font: 15px sans-serif; margin: 0; background: #f1f3f4">
  <div style="background: #fff; margin: 24px; padding: 18px; border-radius: 8px;
              box-shadow: 0 1px 3px #999; width: 420px">
    <b style="color: #c5221f">invoice_2026.zip may be dangerous</b>
    <p>files.example-share.net &middot; 2.4 MB</p>
    <button>Keep</button> <button>Delete</button>
  </div>
</body>
"""

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("UPDATE_DOCS_SCREENSHOTS") != "1",
        reason="writes docs/incident-after-answer.png: set UPDATE_DOCS_SCREENSHOTS=1",
    ),
    *BROWSER_MARKS,
]


def summary_area(page) -> dict[str, float]:
    """From the page's title to the bottom of the summary header: where the case stands."""
    content = page.locator("#content").bounding_box()
    summary = page.locator("#summary").bounding_box()
    margin = 12
    return {
        "x": content["x"],
        "y": content["y"],
        "width": content["width"] + margin,
        "height": summary["y"] + summary["height"] - content["y"] + margin,
    }


@pytest.fixture
def answered_download(chromium, live_server, settings, tmp_path) -> SecurityIncident:
    """The shipped Suspicious-download runbook asked Bob, who answered "yes" on the answer
    page with a screenshot of the warning his browser showed."""
    settings.SITE_URL = live_server.url
    import_shipped_runbooks()
    bob = PersonFactory(
        email="bob.builder@example.com",
        first_name="Bob",
        last_name="Builder",
        department="Finance",
        title="Accountant",
    )
    incident = open_incident(
        short_description="invoice_2026.zip downloaded from an uncategorised file-sharing site",
        description="Proxy log: files.example-share.net, category uncategorised, 2.4 MB.",
        category=category("policy-violation"),
        affected_user=bob,
        affected_ci=ConfigurationItemFactory(name="LAPTOP-BOB", owner=bob),
        external_reference="proxy:alert:2291",
    )
    question = ConfirmationRequest.objects.get(incident=incident)
    # A person answers minutes after the email, not seconds as a scanner does.
    ConfirmationRequest.objects.filter(pk=question.pk).update(
        sent_at=question.sent_at - timedelta(minutes=7)
    )

    screenshot = tmp_path / "download-warning.png"
    person = chromium.new_page(user_agent=DESKTOP_UA, viewport={"width": 480, "height": 170})
    person.set_content(WARNING_PAGE)
    person.screenshot(path=str(screenshot))
    links = dict(
        (key, url)
        for url, key in re.findall(r"(http://\S+/respond/\S+/\?choice=(\w+))", mail.outbox[-1].body)
    )
    person.goto(links["yes"])
    person.fill("textarea", "Yes, that was me: I thought it was the supplier's invoice.")
    person.set_input_files("input[type=file]", str(screenshot))
    person.get_by_role("button", name="Send answer").click()
    person.wait_for_url("**/respond/thanks/")
    person.close()
    return incident


def test_write_the_readme_picture_of_an_incident_after_an_answer(
    chromium, live_server, answered_download
):
    AnalystFactory(username="alice", first_name="Alice", last_name="Analyst")
    page = signed_in(chromium, live_server, "alice", viewport=VIEWPORT)
    page.goto(
        live_server.url
        + reverse("admin:incidents_securityincident_change", args=[answered_download.pk])
    )
    shown = page.inner_text("#content")
    # The evidence preview loads lazily: bring it into view and wait for its pixels.
    preview = page.locator("img[alt='Preview of download-warning.png']")
    preview.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=preview.element_handle()
    )

    # The summary header tells where the case stands (the runbook's step, the question and
    # its answer, the open tasks): the picture is the page down to the header's end.
    PICTURE.parent.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # bounding boxes are then page coordinates
    page.screenshot(path=str(PICTURE), full_page=True, clip=summary_area(page))

    # The picture shows what the README says it shows.
    assert "Analyse the evidence provided by the user" in shown
    assert "download-warning.png" in shown
    assert answered_download.tasks.count() == 2
