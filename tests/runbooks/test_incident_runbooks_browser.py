"""In a real browser (the system Chromium, driven by Playwright): an analyst opens a
Phishing incident by hand, reads on its page which runbook applies and that none ran, and
starts it with Start runbook…; the run asks the affected user by email."""

from django.core import mail
from django.urls import reverse

from incidents.models import SecurityIncident
from mailflow.models import ConfirmationRequest
from runbooks.models import RunbookRun
from tests.browsing import BROWSER_MARKS, signed_in
from tests.factories import AnalystFactory, PersonFactory

pytestmark = BROWSER_MARKS


def test_an_analyst_opens_a_phishing_incident_by_hand_and_starts_its_runbook(
    chromium, live_server, shots, shipped, settings
):
    # The email-sending ask_user, as in production (this folder's tests use the generic one).
    settings.RUNBOOK_ACTIONS = [
        "mailflow.actions.ask_user" if path == "runbooks.actions.ask_user" else path
        for path in settings.RUNBOOK_ACTIONS
    ]
    AnalystFactory(username="alice", first_name="Alice", last_name="Analyst")
    PersonFactory(email="bob@corp.example.com", first_name="Bob", last_name="Builder")
    page = signed_in(chromium, live_server, "alice", viewport={"width": 1280, "height": 900})

    # 1. A phishing incident, made by hand; its runbook is one an analyst starts.
    page.goto(f"{live_server.url}{reverse('admin:incidents_securityincident_add')}")
    page.fill("#id_short_description", "Invoice email with a fake sign-in link")
    page.select_option("#id_category", label="Phishing")
    page.click(".field-affected_user .select2-selection")
    page.fill(".select2-search__field", "bob")
    page.click(".select2-results__option >> text=Bob Builder")
    page.click("input[name=_continue]")
    page.wait_for_selector("#runbooks")
    incident = SecurityIncident.objects.get()
    section = page.inner_text(".soc-runbooks")
    page.locator("#runbooks").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "cockpit-1-incident-runbooks.png"), full_page=True)

    assert "Runbooks for Phishing / 4 - Low:" in section
    assert "Phishing recipients" in section and "Started by an analyst" in section
    assert "Not started here." in section
    assert not RunbookRun.objects.exists()

    # 2. Start runbook…: the one that applies is chosen already.
    page.click("a.button >> text=Start runbook…")
    page.wait_for_selector("text=Start a runbook on")
    assert page.get_by_label("Phishing recipients").is_checked()
    # The page belongs to the incident, and the menu says so.
    assert page.inner_text("#nav-sidebar .current-model th") == "Security incidents"
    page.screenshot(path=str(shots / "cockpit-2-start-runbook.png"), full_page=True)
    page.click("input[type=submit][value='Start runbook']")
    page.wait_for_selector(".messagelist")
    messages = page.inner_text(".messagelist")
    section = page.inner_text(".soc-runbooks")
    page.screenshot(path=str(shots / "cockpit-3-runbook-started.png"), full_page=True)

    run = RunbookRun.objects.get()
    assert messages == f"Runbook 'Phishing recipients' started (run {run.pk})."
    assert (run.incident, run.state, run.person) == (incident, RunbookRun.State.WAITING, None)
    assert f"Run {run.pk}: Waiting for an answer" in section
    started = incident.timeline.get(kind="runbook.started")
    assert started.summary == "Runbook 'Phishing recipients' (version 1) started by Alice Analyst"
    assert started.actor_user.username == "alice"
    request = ConfirmationRequest.objects.get(run=run)
    assert request.recipient_email == "bob@corp.example.com"
    assert [m.to for m in mail.outbox] == [["bob@corp.example.com"]]
    assert "request.created" in incident.timeline.values_list("kind", flat=True)
