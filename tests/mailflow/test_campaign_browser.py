"""The campaign view in a real browser (the system Chromium, driven by Playwright): an
analyst opens it from the incident while the emails are still going out, and watches the
figures follow the emails sent and the answers recorded, without reloading the page."""

from playwright.sync_api import expect

from core.actors import Actor
from mailflow import admin_campaign
from mailflow import sending as mail_sending
from mailflow.answers import answer_record
from mailflow.models import Answer, ConfirmationRequest
from mailflow.request_lifecycle import request_mark_undeliverable
from runbooks.files import import_shipped_runbooks
from runbooks.models import Runbook
from runbooks.starting import runs_start_for_people
from tests.browsing import BROWSER_MARKS, signed_in
from tests.factories import PersonFactory, category, open_incident

pytestmark = BROWSER_MARKS

NAMES = [
    "Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov",
    "Donald Knuth", "Frances Allen", "Ken Thompson", "Margaret Hamilton", "Dennis Ritchie",
    "Radia Perlman", "John Backus",
]  # fmt: skip


def test_the_campaign_view_counts_answers_while_answers_arrive(
    chromium, live_server, analyst, shots, monkeypatch
):
    monkeypatch.setattr(admin_campaign, "POLL_SECONDS_WAITING", 1)
    import_shipped_runbooks()
    people = [
        PersonFactory(
            first_name=name.split()[0],
            last_name=name.split()[1],
            email=f"{name.split()[0].lower()}@corp.example.com",
        )
        for name in NAMES
    ]
    incident = open_incident(
        category=category("phishing"), short_description="Invoice overdue with a fake login"
    )
    with monkeypatch.context() as worker_down:  # the emails wait for the worker
        worker_down.setattr(mail_sending, "requests_send_batch", lambda ids: None)
        runs_start_for_people(
            actor=Actor.analyst(analyst),
            runbook=Runbook.objects.get(name="Phishing recipients"),
            incident=incident,
            people=people,
        )
    requests = list(ConfirmationRequest.objects.filter(incident=incident).order_by("pk"))
    page = signed_in(
        chromium, live_server, analyst.username, viewport={"width": 1366, "height": 900}
    )

    page.goto(f"{live_server.url}/admin/incidents/securityincident/{incident.pk}/change/")
    expect(page.locator("#question")).to_contain_text("Questions to 12 people")
    expect(page.locator("#question")).to_contain_text("0% answered")
    page.screenshot(path=str(shots / "cockpit-campaign-panel.png"), full_page=True)
    page.get_by_role("link", name="Open the campaign view").click()
    figures = page.locator("#campaign-figures")
    expect(figures).to_contain_text("0 of 12 emails sent, sending…")
    page.evaluate("window.notReloaded = true")

    mail_sending.requests_send_batch([r.pk for r in requests])  # the worker is back
    expect(figures).to_contain_text("12 of 12 emails sent")
    assert page.evaluate("window.notReloaded") is True
    figures.get_by_role("link", name="reload").click()  # the list as it now is
    expect(page.locator("#campaign-people")).not_to_contain_text("not sent yet")
    expect(page.locator("#remind-now")).to_contain_text("to the 12 people who have not answered")
    page.screenshot(path=str(shots / "cockpit-campaign.png"), full_page=True)
    page.evaluate("window.notReloaded = true")

    def answer(request: ConfirmationRequest, key: str, **flags) -> None:
        answer_record(request=request, option_key=key, channel=Answer.Channel.PAGE, **flags)

    for request in requests[:3]:
        answer(request, "yes")
    for request in requests[3:8]:
        answer(request, "no")
    answer(requests[8], "suspicious")
    answer(requests[9], "no", suspected_automated=True)
    request_mark_undeliverable(
        request=requests[10], actor=Actor.email_provider("Postmark"), reason="No such user"
    )

    expect(figures.locator('[data-count="answer:yes"]')).to_have_text("3")
    expect(figures.locator('[data-count="answer:no"]')).to_have_text("5")
    expect(figures.locator('[data-count="suspicious"]')).to_have_text("1")
    expect(figures.locator('[data-count="held"]')).to_have_text("1")
    expect(figures.locator('[data-count="undeliverable"]')).to_have_text("1")
    expect(figures.locator('[data-count="waiting"]')).to_have_text("1")
    expect(figures).to_contain_text("2 still open")
    assert page.evaluate("window.notReloaded") is True
    assert float(figures.locator('rect[data-outcome="answer:no"]').get_attribute("width")) > 400
    page.screenshot(path=str(shots / "cockpit-campaign-updated.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366

    # A count links to the people behind it.
    figures.locator("ul.soc-outcomes").get_by_role(
        "link", name="Yes, I clicked a link or opened an attachment: 3"
    ).click()
    expect(page.locator("#campaign-people tbody tr")).to_have_count(3)
    expect(page.locator("#campaign-people")).to_contain_text("Ada Lovelace")
    page.screenshot(path=str(shots / "cockpit-campaign-filtered.png"), full_page=True)
