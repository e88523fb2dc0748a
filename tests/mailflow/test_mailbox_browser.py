"""The local mailbox in a real browser (the system Chromium, driven by Playwright): a
question email shown as the person sees it, its links working, its scripts not."""

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse

from mailflow.localmail import BACKEND, stored_emails
from runbooks.files import import_shipped_runbooks
from tests.browsing import BROWSER_MARKS, signed_in
from tests.factories import AnalystFactory, PersonFactory, category, open_incident

pytestmark = BROWSER_MARKS


@pytest.fixture
def mailbox_page(chromium, live_server, settings, tmp_path):
    """A signed-in analyst who may read the local mailbox."""
    settings.EMAIL_BACKEND, settings.EMAIL_FILE_PATH = BACKEND, tmp_path
    settings.SITE_URL = live_server.url
    analyst = AnalystFactory(username="alice")
    analyst.user_permissions.add(Permission.objects.get(codename="view_local_mailbox"))
    page = signed_in(chromium, live_server, "alice", viewport={"width": 1280, "height": 1000})
    return page


def test_an_analyst_reads_the_question_as_html_follows_a_link_and_switches_to_text(
    mailbox_page, live_server, shots
):
    page = mailbox_page
    import_shipped_runbooks()
    open_incident(
        category=category("policy-violation"),
        affected_user=PersonFactory(first_name="Bob", last_name="Builder"),
    )

    page.goto(f"{live_server.url}{reverse('mailbox')}")
    page.get_by_role("link", name="Did you download this file?", exact=False).click()
    email = page.frame_locator("iframe.soc-email-html")
    yes = email.get_by_role("link", name="Yes", exact=False).first
    yes.wait_for()
    page.screenshot(path=str(shots / "mailbox-html.png"), full_page=True)

    assert email.locator("body").inner_text().startswith("Hello Bob")
    with page.expect_popup() as popup:
        yes.click()
    answer_page = popup.value
    answer_page.wait_for_load_state()
    assert "/respond/" in answer_page.url
    assert answer_page.get_by_role("button", name="Send answer").is_visible()
    answer_page.close()

    page.get_by_role("link", name="Text", exact=True).click()
    text = page.inner_text("pre.soc-email-text")
    page.screenshot(path=str(shots / "mailbox-text.png"), full_page=True)
    assert "Hello Bob" in text and "/respond/" in text
    assert page.locator("iframe").count() == 0


def test_a_script_in_an_emails_html_runs_neither_in_the_frame_nor_in_the_admin(
    mailbox_page, live_server, shots
):
    page = mailbox_page
    message = mail.EmailMultiAlternatives("Hostile", "text", "a@b", ["c@d"])
    message.attach_alternative(
        "<p id=greeting>Hello</p>"
        "<script>document.getElementById('greeting').textContent = 'script ran';"
        "parent.document.title = 'taken';</script>"
        "<img src=x onerror=\"document.body.append('handler ran')\">",
        "text/html",
    )
    message.send()
    [stored] = stored_emails()
    blocked = []
    page.on("console", lambda msg: blocked.append(msg.text))

    page.goto(f"{live_server.url}{reverse('mailbox_email', args=[stored.name])}")
    frame = page.frame_locator("iframe.soc-email-html")
    frame.locator("#greeting").wait_for()
    page.screenshot(path=str(shots / "mailbox-hostile.png"), full_page=True)

    assert frame.locator("body").inner_text() == "Hello"
    assert page.title() != "taken"
    assert any("sandboxed" in line or "Content Security Policy" in line for line in blocked)
