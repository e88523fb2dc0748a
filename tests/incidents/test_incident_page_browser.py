"""The incident page in a real browser, as an analyst of the SOC group (no superuser) reads
it: the header says where the case stands, the tasks and the evidence are sections, the
timeline folds a scanner's visits and filters by kind group; and the run's page shows the
path it took."""

from datetime import timedelta

from django.urls import reverse
from playwright.sync_api import expect

from incidents.models import Evidence, SecurityIncident
from incidents.services import evidence_add
from incidents.timeline import timeline_record
from mailflow.models import ConfirmationRequest
from mailflow.page_services import ANSWER_PAGE
from mailflow.timeline_kinds import REQUEST_LINK_CHECKED
from runbooks.files import import_shipped_runbooks
from runbooks.models import RunbookRun
from tests.browsing import BROWSER_MARKS, signed_in
from tests.builders.answers import links_in_email
from tests.factories import (
    AnalystFactory,
    ConfigurationItemFactory,
    PersonFactory,
    category,
    open_incident,
)

pytestmark = BROWSER_MARKS

VIEWPORT = {"width": 1366, "height": 768}
# The person's browser: a headless one is taken for a scanner and its answer held.
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
SIGN_IN_WARNING = """
<body style="font: 15px sans-serif; margin: 0; background: #f1f3f4">
  <div style="background: #fff; margin: 16px; padding: 14px; border-radius: 8px; width: 330px">
    <b style="color: #c5221f">Unusual sign-in attempt blocked</b>
    <p>Location: somewhere new &middot; 03:12</p>
  </div>
</body>
"""


def no_horizontal_scrolling(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_analyst_reads_where_the_incident_stands_and_filters_its_timeline(
    chromium, live_server, settings, shots
):
    settings.SITE_URL = live_server.url
    import_shipped_runbooks()
    alice = AnalystFactory(username="alice", first_name="Alice", last_name="Analyst")
    bob = PersonFactory(
        first_name="Bob",
        last_name="Builder",
        email="bob@corp.example.com",
        title="Accountant",
        department="Finance",
    )
    incident = open_incident(
        category=category("failed-login"),
        affected_user=bob,
        affected_ci=ConfigurationItemFactory(name="LAPTOP-BOB", owner=bob, hostname="lt-bob"),
        short_description="Failed sign-ins for bob@corp.example.com from a new country",
        priority=SecurityIncident.Priority.HIGH,
    )
    request = ConfirmationRequest.objects.get(incident=incident)
    # A person answers minutes after the email, not seconds as a scanner does.
    ConfirmationRequest.objects.filter(pk=request.pk).update(
        sent_at=request.sent_at - timedelta(minutes=7)
    )
    for _ in range(3):  # a mail gateway opening the links, as campaigns see them
        timeline_record(
            incident=incident,
            kind=REQUEST_LINK_CHECKED,
            actor=ANSWER_PAGE,
            summary="Link checked by a mail scanner (suspected)",
            data={"request": request.pk},
        )
    person = chromium.new_page(user_agent=DESKTOP_UA, viewport={"width": 420, "height": 130})
    person.set_content(SIGN_IN_WARNING)
    screenshot = person.screenshot()
    person.goto(links_in_email()["no"])
    person.get_by_role("button", name="Send answer").click()
    person.wait_for_url("**/respond/thanks/")
    person.close()
    evidence_add(
        actor=ANSWER_PAGE,
        incident=incident,
        content=screenshot,
        filename="sign-in-warning.png",
        source=Evidence.Source.ANSWER_PAGE,
        provenance={"channel": "answer_page", "sender": "bob@corp.example.com"},
    )
    evidence_add(
        actor=ANSWER_PAGE,
        incident=incident,
        content=b"MZ\x90\x00 not a document",
        filename="details.pdf.exe",
        source=Evidence.Source.EMAIL_REPLY,
    )
    run = RunbookRun.objects.get(incident=incident)
    assert run.state == RunbookRun.State.COMPLETED

    page = signed_in(chromium, live_server, alice.username, viewport=VIEWPORT)
    page.goto(
        live_server.url + reverse("admin:incidents_securityincident_change", args=[incident.pk])
    )

    header = page.locator("#summary")
    expect(header.locator("#summary-priority")).to_have_text("2 - High")
    expect(header.locator("#summary-person")).to_contain_text("Bob Builder")
    expect(header.locator("#summary-asset")).to_contain_text("LAPTOP-BOB")
    expect(header.locator("#summary-runbook")).to_contain_text("Failed sign-ins")
    expect(header.locator("#summary-runbook")).to_contain_text("All 7 steps done")
    expect(header.locator("#summary-tasks")).to_contain_text("Reset the credentials of Bob Builder")
    expect(page.locator(".soc-badge-quarantined").first).to_be_visible()
    timeline = page.locator(".soc-timeline")
    expect(timeline).to_contain_text("3 scanner visits")
    expect(timeline).to_contain_text("Answer received")
    assert "answer.received" not in timeline.inner_text()
    preview = page.locator("img[alt='Preview of sign-in-warning.png']")
    preview.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=preview.element_handle()
    )
    page.locator(f"#run-path-{run.pk} summary").click()
    page.evaluate("window.scrollTo(0, 0)")
    assert no_horizontal_scrolling(page)
    page.screenshot(path=str(shots / "cockpit-incident-page.png"), full_page=True)
    page.screenshot(path=str(shots / "cockpit-incident-header.png"))
    page.locator(".soc-runbooks").screenshot(path=str(shots / "cockpit-incident-run-path.png"))
    page.locator(".soc-evidence-list").screenshot(path=str(shots / "cockpit-evidence.png"))
    timeline.screenshot(path=str(shots / "cockpit-timeline.png"))
    tasks = page.locator(".soc-tasks")
    expect(tasks).to_contain_text("Reset the credentials of Bob Builder")
    tasks.screenshot(path=str(shots / "cockpit-tasks.png"))

    page.locator(".soc-timeline-filter").get_by_role("link", name="Email").click()
    page.wait_for_url("**?group=email#timeline")
    expect(timeline).to_contain_text("3 scanner visits")
    expect(timeline).not_to_contain_text("Answer received")
    expect(timeline).not_to_contain_text("Incident opened")
    timeline.screenshot(path=str(shots / "cockpit-timeline-email.png"))

    tasks.get_by_role("link").first.click()
    page.wait_for_url("**/admin/incidents/responsetask/*/change/")
    expect(page.locator("h2").first).to_contain_text("SIT")

    page.goto(live_server.url + reverse("admin:runbooks_runbookrun_change", args=[run.pk]))
    # Past the manager's question (the person answered), then the "no" branch.
    expect(page.locator("g.flow-lane-taken")).to_have_text(["otherwise", "answer: no"])
    expect(page.locator("g.path-skipped")).to_have_count(3)
    assert no_horizontal_scrolling(page)
    page.screenshot(path=str(shots / "cockpit-run-path.png"), full_page=True)
