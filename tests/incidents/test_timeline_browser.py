"""The timeline in a real browser: the analyst reads what happened in words; the raw kind a
runbook author matches on is the label's tooltip on the incident, and beside the label in
the list of every timeline entry."""

from django.urls import reverse

from core.actors import Actor
from incidents.services import incident_add_note
from incidents.timeline import timeline_record
from mailflow.timeline_kinds import ANSWER_RECEIVED
from tests.browsing import BROWSER_MARKS, signed_in
from tests.factories import AnalystFactory, open_incident

pytestmark = BROWSER_MARKS


def test_an_analyst_reads_each_timeline_entry_by_its_label(chromium, live_server, shots):
    AnalystFactory(username="alice")
    incident = open_incident(short_description="Suspicious sign-in from a new country")
    incident_add_note(actor=Actor.system(), incident=incident, text="Called the user.")
    timeline_record(
        incident=incident,
        kind=ANSWER_RECEIVED,
        actor=Actor.end_user("Bob"),
        summary="Bob answered “Yes, it was me” by the answer page",
    )
    page = signed_in(chromium, live_server, "alice")

    page.goto(
        f"{live_server.url}{reverse('admin:incidents_securityincident_change', args=[incident.pk])}"
    )
    timeline = page.inner_text(".soc-timeline")
    tooltip = page.get_by_text("Answer received", exact=True).get_attribute("title")
    page.locator(".soc-timeline").screenshot(path=str(shots / "timeline-labels.png"))
    page.goto(f"{live_server.url}{reverse('admin:incidents_timelineentry_changelist')}")
    listed = page.inner_text("#result_list")
    page.screenshot(path=str(shots / "timeline-list-labels.png"), full_page=True)

    assert "Incident opened" in timeline and "Work note" in timeline
    assert "Answer received" in timeline and "answer.received" not in timeline
    assert tooltip == "answer.received"
    assert "Answer received answer.received" in listed
