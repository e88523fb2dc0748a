"""A German person's question, in a real browser (the system Chromium): the email as their
mail program shows it, then the answer page its button opens. Neither holds English."""

import re
from datetime import timedelta

from django.core import mail
from playwright.sync_api import expect

from mailflow.models import Answer, ConfirmationRequest
from runbooks.files import import_shipped_runbooks
from tests.browsing import BROWSER_MARKS
from tests.builders.answers import FIREFOX
from tests.builders.languages import ENGLISH_WORDS
from tests.factories import PersonFactory, category, open_incident

pytestmark = BROWSER_MARKS


def english_in(text: str, request: ConfirmationRequest) -> set[str]:
    """English words in what the person sees, leaving out what is not ours to translate
    (links, the person's name, the incident's number and description)."""
    text = re.sub(r"https?://\S+", " ", text)
    incident = request.incident
    for data in (incident.number, incident.short_description, "Hanna", "Schmidt"):
        text = text.replace(data, " ")
    return {word.lower() for word in re.findall(r"[^\W\d_]+", text)} & set(ENGLISH_WORDS)


def test_a_german_person_reads_the_email_and_the_answer_page_in_german(
    chromium, live_server, settings, shots
):
    settings.SITE_URL = live_server.url
    import_shipped_runbooks()
    hanna = PersonFactory(first_name="Hanna", last_name="Schmidt", language="de")
    incident = open_incident(
        category=category("failed-login"), affected_user=hanna, short_description="VPN"
    )
    request = ConfirmationRequest.objects.get(incident=incident)
    ConfirmationRequest.objects.filter(pk=request.pk).update(
        sent_at=request.sent_at - timedelta(minutes=2)
    )
    (email,) = mail.outbox
    page = chromium.new_page(user_agent=FIREFOX, viewport={"width": 900, "height": 900})

    # The email as a mail program shows its HTML part, with its subject.
    assert not english_in(email.subject, request), email.subject
    page.set_content(email.alternatives[0][0])
    shown = page.locator("body").inner_text()
    assert "Hallo Hanna," in shown and "ja oder nein" in shown
    assert not english_in(shown, request), english_in(shown, request)
    assert not english_in(email.body, request), english_in(email.body, request)
    page.screenshot(path=str(shots / "question-email-de.png"), full_page=True)

    page.get_by_role("link", name="Nein, das war ich nicht").click()
    page.wait_for_url("**/respond/?choice=no")
    expect(page.get_by_label("Nein, das war ich nicht")).to_be_checked()
    shown = page.locator("body").inner_text()
    assert "Bitte bestätigen Sie Ihre Antwort" in shown
    assert not english_in(shown + page.title(), request), english_in(shown, request)
    page.screenshot(path=str(shots / "answer-page-de.png"), full_page=True)

    page.get_by_role("button", name="Antwort senden").click()
    page.wait_for_url("**/respond/thanks/")
    shown = page.locator("body").inner_text()
    assert "Wir haben Ihre Antwort erhalten: „Nein, das war ich nicht“." in shown
    assert not english_in(shown + page.title(), request), english_in(shown, request)
    page.screenshot(path=str(shots / "answer-thanks-de.png"), full_page=True)
    answer = Answer.objects.get()
    assert (answer.option_key, answer.channel, answer.counted) == ("no", "page", True)
