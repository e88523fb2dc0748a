"""A real browser (the system Chromium, driven by Playwright) against a live server: a
person answering from the email's link, and a robot that only loads the links."""

from datetime import timedelta

import pytest
from django.db import OperationalError

from incidents.models import Evidence
from mailflow.models import Answer, ConfirmationRequest
from runbooks.files import import_shipped_runbooks
from tests.browsing import BROWSER_MARKS, signed_in
from tests.builders.answers import links_in_email
from tests.factories import PersonFactory, category, open_incident

# Headless Chromium says "HeadlessChrome", which the app rightly takes for a robot; the
# person in these tests uses an ordinary desktop browser's user agent.
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

pytestmark = BROWSER_MARKS


@pytest.fixture
def request_for_download(live_server, settings):
    """The Suspicious-download runbook has emailed its question; returns the request."""
    settings.SITE_URL = live_server.url
    import_shipped_runbooks()
    incident = open_incident(
        category=category("policy-violation"),
        affected_user=PersonFactory(first_name="Bob", last_name="Builder"),
    )
    return ConfirmationRequest.objects.get(incident=incident)


def test_a_person_opens_the_link_attaches_a_screenshot_and_answers(
    chromium, request_for_download, tmp_path
):
    screenshot = tmp_path / "screenshot.png"
    screenshot.write_bytes(PNG)
    # A person takes longer than a scanner between delivery and answer.
    ConfirmationRequest.objects.filter(pk=request_for_download.pk).update(
        sent_at=request_for_download.sent_at - timedelta(minutes=2)
    )
    page = chromium.new_page(user_agent=DESKTOP_UA)

    page.goto(links_in_email()["yes"])
    assert "/respond/?choice=yes" in page.url  # the token left the address bar
    assert page.get_by_label("Yes, I downloaded this file").is_checked()
    page.set_input_files("input[type=file]", str(screenshot))
    page.get_by_role("button", name="Send answer").click()
    page.wait_for_url("**/respond/thanks/")

    answer = Answer.objects.get()
    assert (answer.option_key, answer.channel, answer.counted) == ("yes", "page", True)
    evidence = Evidence.objects.get()
    assert (evidence.filename, evidence.source) == ("screenshot.png", "answer_page")
    incident = request_for_download.incident
    assert list(incident.tasks.values_list("title", "state")) == [
        ("Confirm the download with the user", "completed"),
        ("Analyse the evidence provided by the user", "open"),
    ]


def test_a_scanner_that_loads_both_links_without_clicking_answers_nothing(
    chromium, request_for_download
):
    # Even with an ordinary user agent, both option links within seconds give it away.
    page = chromium.new_page(user_agent=DESKTOP_UA)
    links = links_in_email()

    page.goto(links["yes"])
    page.goto(links["no"])

    assert not Answer.objects.exists()
    request_for_download.refresh_from_db()
    assert request_for_download.state == ConfirmationRequest.State.SENT
    assert request_for_download.scanner_hits >= 1
    assert request_for_download.incident.timeline.filter(kind="request.link_checked").count() == 1


def test_an_analyst_finds_a_held_reply_on_the_incident_and_accepts_it(
    chromium, live_server, settings, analyst, shots
):
    """A reply naming the incident only by its subject tag waits for an analyst: the
    incident's timeline leads to the email, whose page accepts it with one click."""
    import json

    from django.test import Client
    from playwright.sync_api import expect

    from tests.builders.inbound import AUTH, spoofed

    settings.SITE_URL = live_server.url
    settings.ANYMAIL = {"WEBHOOK_SECRET": "user:pass"}
    import_shipped_runbooks()
    incident = open_incident(
        category=category("failed-login"),
        affected_user=PersonFactory(
            first_name="Bob", last_name="Builder", email="bob@corp.example.com"
        ),
    )
    request = ConfirmationRequest.objects.get(incident=incident)
    payload = {
        "FromFull": {"Email": "x@example.com"},
        "Headers": [],
        "RawEmail": spoofed(request, body="No"),
    }
    Client().post("/anymail/postmark/inbound/", json.dumps(payload), "application/json", **AUTH)
    page = signed_in(
        chromium, live_server, analyst.username, viewport={"width": 1366, "height": 900}
    )

    page.goto(f"{live_server.url}/admin/incidents/securityincident/{incident.pk}/change/")
    held = page.locator("li", has_text="Email 1 to verify")
    held.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "held-reply-on-incident.png"), full_page=True)
    held.get_by_role("link", name="the email").click()
    accept = page.get_by_role("button", name="Accept as “No, that was not me”")
    accept.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "held-reply-accept.png"), full_page=True)
    accept.click()

    expect(page.get_by_text("Accepted as the answer “No, that was not me”.")).to_be_visible()
    page.screenshot(path=str(shots / "held-reply-accepted.png"), full_page=True)
    answer = Answer.objects.get()
    assert (answer.option_key, answer.counted, answer.accepted_by) == ("no", True, analyst)
    assert "Reset the credentials of Bob Builder" in incident.tasks.values_list("title", flat=True)


PAGE_BACKGROUND = "rgb(244, 245, 247)"  # respond.css: the answer page's style applied


def test_a_locked_database_shows_the_styled_error_pages_with_their_headers(
    chromium, request_for_download, monkeypatch, shots
):
    from mailflow import page_services, views

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    page = chromium.new_page(user_agent=DESKTOP_UA)
    refused = []  # anything the Content-Security-Policy blocked
    page.on(
        "console",
        lambda message: refused.append(message.text) if "Security Policy" in message.text else 0,
    )
    links = links_in_email()

    # The person opens their link while the database is locked.
    with monkeypatch.context() as patch:
        patch.setattr(page_services, "request_for_token", locked)
        opened = page.goto(links["yes"])
    page.screenshot(path=str(shots / "503-link-en.png"), full_page=True)

    assert opened.status == 503
    assert page.get_by_role("heading", level=1).inner_text() == "Temporarily unavailable"
    assert "try again in a minute" in page.content()
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == PAGE_BACKGROUND
    headers = opened.headers
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert (headers["cache-control"], headers["referrer-policy"]) == ("no-store", "no-referrer")
    assert (headers["x-frame-options"], headers["x-content-type-options"]) == ("DENY", "nosniff")

    # A minute later the link works; the answer is sent while the database is locked again.
    ConfirmationRequest.objects.filter(pk=request_for_download.pk).update(
        sent_at=request_for_download.sent_at - timedelta(minutes=2)
    )
    page.goto(links["yes"])
    with monkeypatch.context() as patch:
        patch.setattr(views, "answer_record", locked)
        with page.expect_response("**/respond/") as posted:
            page.get_by_role("button", name="Send answer").click()
    page.screenshot(path=str(shots / "503-answer-en.png"), full_page=True)

    assert posted.value.status == 503
    assert "Server Error (500)" not in page.content()
    assert "please send it again" in page.content()
    assert not Answer.objects.exists()
    assert refused == []


def test_the_500_page_comes_in_the_browsers_language(
    chromium, request_for_download, monkeypatch, shots
):
    from mailflow import page_services

    def broken(*args, **kwargs):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(page_services, "request_for_token", broken)
    page = chromium.new_page(user_agent=DESKTOP_UA, locale="de-DE")

    opened = page.goto(links_in_email()["no"])
    page.screenshot(path=str(shots / "500-link-de.png"), full_page=True)

    assert opened.status == 500
    assert page.get_by_role("heading", level=1).inner_text() == "Ein Fehler ist aufgetreten"
    assert page.locator("html").get_attribute("lang") == "de"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == PAGE_BACKGROUND
    assert opened.headers["cache-control"] == "no-store"
