"""The Mailboxes page in a real browser, as the platform engineer who runs the app reads
it: a mailbox that cannot sign in says why, and once its password is set, "Poll now"
reads the reply waiting in it (a real Dovecot), which then shows among the inbound
emails with the mailbox as its source."""

from django.urls import reverse
from playwright.sync_api import expect

from bench.replies import reply_mime
from mailflow.models import InboundEmail
from tests.browsing import BROWSER_MARKS, signed_in
from tests.factories import UserFactory

pytestmark = BROWSER_MARKS


def test_an_administrator_reads_a_mailbox_status_and_polls_it_now(
    chromium, live_server, shots, asked, dovecot, imap_mailbox, monkeypatch
):
    UserFactory(username="platform", is_staff=True, is_superuser=True)
    request = asked("policy-violation")
    dovecot.append(reply_mime(request, "Yes"))
    mailbox = imap_mailbox(secret_env="TEST_WRONG_PASSWORD")
    monkeypatch.setenv("TEST_WRONG_PASSWORD", "not the password")
    page = signed_in(chromium, live_server, "platform", viewport={"width": 1366, "height": 768})
    mailboxes = live_server.url + reverse("admin:mailflow_mailbox_changelist")

    page.goto(mailboxes)
    page.locator(f"input[name=_selected_action][value='{mailbox.pk}']").check()
    page.select_option("select[name=action]", "poll_now")
    page.locator("button[name=index]").click()
    expect(page.locator("#result_list")).to_contain_text("refused the login")
    page.screenshot(path=str(shots / "mailboxes-failing.png"), full_page=True)

    monkeypatch.setenv("TEST_WRONG_PASSWORD", "")
    mailbox.secret_env = "TEST_IMAP_PASSWORD"
    mailbox.save(update_fields=["secret_env"])
    page.goto(mailboxes)
    page.locator(f"input[name=_selected_action][value='{mailbox.pk}']").check()
    page.select_option("select[name=action]", "poll_now")
    page.locator("button[name=index]").click()
    expect(page.locator(".messagelist")).to_contain_text("queued for a poll")
    expect(page.locator("#result_list")).to_contain_text("just now")
    page.screenshot(path=str(shots / "mailboxes-polled.png"), full_page=True)

    assert InboundEmail.objects.get().provider == "IMAP replies"
    page.goto(live_server.url + reverse("admin:mailflow_inboundemail_changelist"))
    expect(page.locator("#result_list")).to_contain_text("IMAP replies")
    page.screenshot(path=str(shots / "inbound-from-mailbox.png"), full_page=True)
