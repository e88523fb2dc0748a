"""A real browser (the system Chromium, driven by Playwright) on the question's part of
the incident page and on the question's own page: an analyst accepts a held answer from
the incident's header, extends a deadline and sends a question again, and finds a
campaign's questions summed up."""

from datetime import timedelta

from django.core import mail
from playwright.sync_api import expect

from core.actors import Actor
from mailflow.answers import answer_record
from mailflow.models import Answer, ConfirmationRequest, ResentEmail
from runbooks.files import import_shipped_runbooks
from runbooks.models import RunbookRun
from runbooks.starting import runs_start_for_people
from tests.browsing import BROWSER_MARKS, signed_in
from tests.builders.answers import hold
from tests.factories import PersonFactory, category, open_incident

pytestmark = BROWSER_MARKS

WIDE = {"width": 1366, "height": 900}


def no_horizontal_scrolling(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def asked_bob() -> ConfirmationRequest:
    import_shipped_runbooks()
    bob = PersonFactory(first_name="Bob", last_name="Builder", email="bob@corp.example.com")
    incident = open_incident(category=category("failed-login"), affected_user=bob)
    return ConfirmationRequest.objects.get(incident=incident)


def test_the_analyst_accepts_a_held_answer_from_the_incidents_header(
    chromium, live_server, settings, analyst, shots
):
    settings.SITE_URL = live_server.url
    request = asked_bob()
    held = hold(request)

    page = signed_in(chromium, live_server, analyst.username, viewport=WIDE)
    page.goto(f"{live_server.url}/admin/incidents/securityincident/{request.incident.pk}/change/")
    question = page.locator("#question")
    expect(question).to_contain_text("Question to Bob Builder")
    expect(question).to_contain_text("left")
    expect(question.locator("#held-answers")).to_contain_text(
        "“No, that was not me” from Bob Builder by answer page"
    )
    expect(question.locator("#held-answers")).to_contain_text("Not me, I was on holiday.")
    no_horizontal_scrolling(page)
    page.screenshot(path=str(shots / "cockpit-question-header.png"), full_page=True)

    question.get_by_role("button", name="Accept as the answer").click()

    expect(page.get_by_text("Accepted “No, that was not me” as the answer")).to_be_visible()
    question = page.locator("#question")
    expect(question.locator("#held-answers")).to_have_count(0)
    expect(question).to_contain_text("Answer: “No, that was not me” by answer page")
    expect(question).to_contain_text("accepted by Alice Analyst after checking with the person")
    expect(question.get_by_role("button", name="Send again")).to_have_count(0)
    no_horizontal_scrolling(page)
    page.screenshot(path=str(shots / "cockpit-held-accepted.png"), full_page=True)
    accepted = Answer.objects.get(counted=True)
    assert (accepted.pk != held.pk, accepted.accepted_by) == (True, analyst)
    request.refresh_from_db()
    assert request.state == ConfirmationRequest.State.ANSWERED
    assert RunbookRun.objects.get().state == RunbookRun.State.COMPLETED
    assert list(request.incident.tasks.values_list("title", flat=True)) == [
        "Reset the credentials of Bob Builder"
    ]


def test_the_analyst_extends_the_deadline_and_sends_the_question_again(
    chromium, live_server, settings, analyst, shots
):
    settings.SITE_URL = live_server.url
    request = asked_bob()
    deadline = request.deadline_at

    page = signed_in(chromium, live_server, analyst.username, viewport=WIDE)
    page.goto(f"{live_server.url}/admin/mailflow/confirmationrequest/{request.pk}/change/")
    expect(page.locator(".field-option_labels")).to_contain_text("Yes, that was me")
    expect(page.locator(".field-option_labels")).not_to_contain_text("key")

    actions = page.locator(".soc-question-actions")
    actions.get_by_label("Add").fill("48")
    actions.get_by_role("button", name="Extend the deadline").click()
    expect(page.get_by_text("Deadline extended to")).to_be_visible()

    page.locator(".soc-question-actions").get_by_role("button", name="Send again").click()
    expect(page.get_by_text("The question goes to bob@corp.example.com again")).to_be_visible()
    expect(page.locator("#question")).to_contain_text("sent again")
    page.locator(".soc-question-actions summary").click()
    no_horizontal_scrolling(page)
    page.screenshot(path=str(shots / "cockpit-request-actions.png"), full_page=True)

    request.refresh_from_db()
    assert request.deadline_at == deadline + timedelta(hours=48)
    resent = ResentEmail.objects.get()
    assert resent.sent_at is not None
    assert mail.outbox[-1].extra_headers["Message-ID"] == resent.message_id
    assert list(request.incident.timeline.values_list("kind", flat=True))[-3:] == [
        "request.deadline_extended",
        "request.resent",
        "request.sent",
    ]


def test_a_campaigns_header_counts_and_links_to_each_persons_question(
    chromium, live_server, settings, analyst, shots
):
    settings.SITE_URL = live_server.url
    runbooks = {runbook.name: runbook for runbook in import_shipped_runbooks()}
    incident = open_incident(category=category("phishing"))
    people = [PersonFactory(first_name=f"Person{n}", last_name="Asked") for n in range(12)]
    runs_start_for_people(
        actor=Actor.system(),
        runbook=runbooks["Phishing recipients"],
        incident=incident,
        people=people,
    )
    requests = list(ConfirmationRequest.objects.filter(incident=incident).order_by("pk"))
    options = requests[0].options
    for request in requests[:5]:
        answer_record(request=request, option_key=options[0]["key"], channel="page")
    answer_record(request=requests[5], option_key=options[1]["key"], channel="page")
    hold(requests[6], options[1]["key"])

    page = signed_in(chromium, live_server, analyst.username, viewport=WIDE)
    page.goto(f"{live_server.url}/admin/incidents/securityincident/{incident.pk}/change/")
    question = page.locator("#question")
    expect(question).to_contain_text("Questions to 12 people")
    expect(question).to_contain_text("50% answered")
    expect(question).to_contain_text(f"5 {options[0]['label']}")
    expect(question).to_contain_text("1 Held or flagged")
    expect(question).to_contain_text("5 No answer yet")
    no_horizontal_scrolling(page)
    page.screenshot(path=str(shots / "cockpit-question-campaign.png"), full_page=True)
    question.screenshot(path=str(shots / "cockpit-question-campaign-header.png"))

    question.get_by_role("link", name="Each person's question").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(12)
