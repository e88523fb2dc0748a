"""A real browser (the system Chromium, driven by Playwright) against a live server: a
person's answer from a headless browser is held and they are told so; an analyst finds it
on the incident and accepts it with one click, and the runbook moves on."""

from datetime import timedelta

from playwright.sync_api import expect

from mailflow.models import Answer, ConfirmationRequest
from runbooks.files import import_shipped_runbooks
from runbooks.models import RunbookRun
from tests.browsing import BROWSER_MARKS, signed_in
from tests.builders.answers import links_in_email
from tests.factories import PersonFactory, category, open_incident

pytestmark = BROWSER_MARKS


def test_a_headless_answer_is_held_then_an_analyst_accepts_it_and_the_run_moves(
    chromium, live_server, settings, analyst, shots
):
    settings.SITE_URL = live_server.url
    import_shipped_runbooks()
    bob = PersonFactory(first_name="Bob", last_name="Builder", email="bob@corp.example.com")
    incident = open_incident(category=category("failed-login"), affected_user=bob)
    request = ConfirmationRequest.objects.get(incident=incident)
    # Minutes after the email: held for the browser alone, not for being too fast.
    ConfirmationRequest.objects.filter(pk=request.pk).update(
        sent_at=request.sent_at - timedelta(minutes=2)
    )

    # The person, in Playwright's own headless Chromium: it says so in its user agent.
    person = chromium.new_page()
    assert "HeadlessChrome" in person.evaluate("navigator.userAgent")
    person.goto(links_in_email()["no"])
    person.get_by_role("button", name="Send answer").click()
    person.wait_for_url("**/respond/thanks/")
    expect(person.get_by_role("status")).to_have_text(
        "Thanks. We will confirm your answer shortly."
    )
    expect(person.get_by_text("Your answer: “No, that was not me”.")).to_be_visible()
    person.screenshot(path=str(shots / "held-answer-thanks.png"), full_page=True)
    person.goto(links_in_email()["no"])  # the link opened again: the question, with the note
    expect(person.get_by_role("status")).to_contain_text("We will confirm your answer shortly")
    person.screenshot(path=str(shots / "held-answer-question-again.png"), full_page=True)
    held = Answer.objects.get()
    assert (held.counted, held.flags) == (False, ["suspected automated"])

    page = signed_in(
        chromium, live_server, analyst.username, viewport={"width": 1366, "height": 900}
    )
    page.goto(f"{live_server.url}/admin/incidents/securityincident/{incident.pk}/change/")
    panel = page.locator("#held-answers")
    expect(panel).to_contain_text("“No, that was not me” from Bob Builder by answer page")
    expect(panel).to_contain_text("sent by a headless browser")
    panel.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "held-answer-on-incident.png"), full_page=True)
    panel.get_by_role("button", name="Accept as the answer").click()

    expect(page.get_by_text("Accepted “No, that was not me” as the answer")).to_be_visible()
    expect(page.locator("#held-answers")).to_have_count(0)
    expect(page.locator(".soc-timeline")).to_contain_text(
        "Bob Builder answered “No, that was not me” by answer page (accepted by Alice Analyst)"
    )
    page.screenshot(path=str(shots / "held-answer-accepted.png"), full_page=True)
    accepted = Answer.objects.get(counted=True)
    assert (accepted.option_key, accepted.accepted_by) == ("no", analyst)
    request.refresh_from_db()
    assert request.state == ConfirmationRequest.State.ANSWERED
    assert RunbookRun.objects.get().state == RunbookRun.State.COMPLETED
    assert list(incident.tasks.values_list("title", flat=True)) == [
        "Reset the credentials of Bob Builder"
    ]
    entry = incident.timeline.get(kind="answer.received")
    assert (entry.actor_kind, entry.actor_user) == ("analyst", analyst)
