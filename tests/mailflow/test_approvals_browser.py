"""A real browser (the system Chromium, driven by Playwright) against a live server: a staff
approver finds the approval on the incident page, clicks Approve, and the runbook goes on;
the runbook's diagram draws the approval like a question."""

from playwright.sync_api import expect

from mailflow.models import ConfirmationRequest
from runbooks.models import RunbookRun
from tests.browsing import BROWSER_MARKS, signed_in
from tests.builders.approvals import DISABLE, approval_runbook, approval_world
from tests.factories import PersonFactory, open_incident

pytestmark = BROWSER_MARKS


def test_a_staff_approver_approves_on_the_incident_page_and_the_run_goes_on(
    chromium, live_server, settings, shots
):
    settings.SITE_URL = live_server.url
    bob = PersonFactory(first_name="Bob", last_name="Builder", email="bob@corp.example.com")
    world = approval_world(bob)
    runbook = approval_runbook(["person:carla@soc.example.com", "manager"], quorum=1)
    incident = open_incident(affected_user=bob)
    assert RunbookRun.objects.get().state == RunbookRun.State.WAITING

    page = signed_in(chromium, live_server, "carla", viewport={"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/admin/incidents/securityincident/{incident.pk}/change/")
    panel = page.locator("#approvals")
    expect(panel).to_contain_text("Disable the account of Bob Builder?")
    expect(panel).to_contain_text("Bob said the sign-in was not them.")
    expect(panel).to_contain_text("Maya Manager: waiting")
    expect(panel).to_contain_text("1 of 2 approvals needed")
    expect(panel.get_by_role("button", name="Approve")).to_have_count(1)  # her seat only
    page.screenshot(path=str(shots / "approval-on-incident.png"), full_page=False)
    panel.get_by_role("button", name="Approve").click()

    expect(page.get_by_text("Your vote “approve” is recorded.")).to_be_visible()
    expect(page.locator("#approvals")).to_have_count(0)
    expect(page.locator(".soc-timeline")).to_contain_text(
        "Carla Ciso approved (1 of 1 approvals needed) by incident page"
    )
    page.screenshot(path=str(shots / "approval-approved.png"), full_page=True)
    assert RunbookRun.objects.get().state == RunbookRun.State.COMPLETED
    assert list(incident.tasks.values_list("title", flat=True)) == [DISABLE]
    maya_seat = ConfirmationRequest.objects.get(person=world["maya"])
    assert maya_seat.state == ConfirmationRequest.State.CANCELLED
    entry = incident.timeline.get(kind="approval.voted")
    assert (entry.actor_kind, entry.actor_user) == ("analyst", world["carla"])

    page.goto(f"{live_server.url}/admin/runbooks/runbook/{runbook.pk}/change/")
    diagram = page.locator("svg").filter(has_text="Ask for approval").first
    expect(diagram.locator(".flow-ask")).to_have_count(1)
    diagram.scroll_into_view_if_needed()
    diagram.screenshot(path=str(shots / "approval-diagram.png"))
