"""Inbound email in the admin: hostile mail is inert on every page, and a message whose
processing keeps failing ends as failed and can be reprocessed after the fix."""

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone

from bench.replies import reply_mime
from incidents import groups
from mailflow.admin import sanitise_html
from mailflow.emails import reply_address
from mailflow.inbound import process
from mailflow.inbound.process import inbound_process
from mailflow.inbound.retry import MAX_ATTEMPTS, inbound_reprocess, inbound_sweep
from mailflow.models import Answer, InboundEmail
from tests.builders.inbound import (
    HOSTILE_FILENAME,
    HOSTILE_HTML,
    HOSTILE_NAME,
    HOSTILE_SUBJECT,
    deliver,
    hostile_mime,
)
from tests.factories import UserFactory

# The webhook secret and Mailgun's signing key.
pytestmark = pytest.mark.usefixtures("webhook_secrets")

# --- what "inert" means -----------------------------------------------------------------


class _Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the text inside scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def _elements(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def assert_inert(page: str) -> None:
    """Nothing from the mail runs or loads: the only scripts are the admin's own files,
    no element has an event handler or a javascript: URL, no image or frame loads from
    elsewhere, and the one frame showing the mail's HTML is sandboxed and holds only
    harmless formatting."""
    elements = _elements(page)
    for tag, attrs in elements.tags:
        if tag == "script":
            assert attrs.get("src", "").startswith(("/static/", "/admin/jsi18n/")), attrs
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        assert not [v for v in attrs.values() if "javascript:" in v.lower()], (tag, attrs)
        assert tag not in {"object", "embed", "base", "applet"}, tag
        if tag == "img":
            assert attrs.get("src", "").startswith("/static/"), attrs
        if tag == "iframe":
            assert attrs.get("sandbox") == "", attrs
            assert "src" not in attrs, attrs
            _assert_harmless_document(attrs.get("srcdoc", ""))
        if tag == "meta":
            assert "refresh" not in attrs.get("http-equiv", "").lower(), attrs
    assert not "".join(elements.script_text).strip()  # no inline scripts at all
    # The literal markers of the hostile mail never appear unescaped.
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "javascript:" not in page


def _assert_harmless_document(document: str) -> None:
    elements = _elements(document)
    for tag, attrs in elements.tags:
        if tag == "meta":  # our own Content-Security-Policy
            assert attrs == {
                "http-equiv": "Content-Security-Policy",
                "content": "default-src 'none'; style-src 'unsafe-inline'",
            }
            continue
        assert tag not in {"script", "img", "iframe", "svg", "a", "style", "link", "object"}
        assert not attrs, (tag, attrs)


# --- pages ------------------------------------------------------------------------------


@pytest.fixture
def hostile(asked, committed, client) -> InboundEmail:
    request = asked("policy-violation")
    response = deliver(committed, client, "mailgun-mime", hostile_mime(request))
    assert response.status_code == 200
    return InboundEmail.objects.get()


def change_url(inbound: InboundEmail) -> str:
    return reverse("admin:mailflow_inboundemail_change", args=[inbound.pk])


CHANGELIST = reverse("admin:mailflow_inboundemail_changelist")


def test_hostile_mail_is_inert_on_the_change_page(hostile, admin_client):
    page = admin_client.get(change_url(hostile)).content.decode()

    assert_inert(page)
    # Shown, as text: the subject, the display name, the attachment's name, the body.
    assert "&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;.png" in page
    assert "&lt;script&gt;alert(&#x27;body&#x27;)&lt;/script&gt;" in page
    assert "image/png" in page
    assert "sandbox=" in page  # the HTML part, sanitised, in its frame


@pytest.mark.parametrize(
    "query",
    ["", "?q=script", "?status__exact=answered", "?provider=Mailgun", "?q=%3Cscript%3E"],
)
def test_hostile_mail_is_inert_on_the_list(hostile, admin_client, query):
    response = admin_client.get(CHANGELIST + query)

    assert response.status_code == 200
    page = response.content.decode()
    assert_inert(page)
    if "q=" in query:
        assert "&lt;script&gt;alert(&#x27;subject&#x27;)" in page


def test_the_sanitised_html_keeps_formatting_and_nothing_else():
    cleaned = sanitise_html(HOSTILE_HTML + "<p><b>bold</b> <i>and</i> <ul><li>listed</li></ul>")

    assert "<b>bold</b>" in cleaned
    assert "<li>listed</li>" in cleaned
    assert "click" in cleaned  # a link's text stays, the link goes
    gone = ["<script", "alert('html')", "onerror", "javascript:", "<img", "<svg", "<a", "<iframe"]
    gone += ["<meta", "<style", "style=", "tracker.example", "evil.example"]
    assert [marker for marker in gone if marker in cleaned] == []


def test_a_message_without_html_or_a_readable_original_still_shows(
    asked, committed, client, admin_client
):
    request = asked("failed-login")
    deliver(committed, client, "postmark-raw", reply_mime(request, "No"))
    inbound = InboundEmail.objects.get()
    inbound.raw.storage.delete(inbound.raw.name)

    page = admin_client.get(change_url(inbound)).content.decode()

    assert "The stored message could not be read." in page


def test_analysts_may_reprocess_and_runbook_authors_only_read_inbound_email(
    hostile, client, analyst
):
    author = UserFactory(username="rita", is_staff=True)
    author.groups.add(Group.objects.get(name=groups.RUNBOOK_AUTHOR))
    pages = {}
    for user in (analyst, author):
        client.force_login(user)
        pages[user.username] = (client.get(CHANGELIST), client.get(change_url(hostile)))

    for listing, page in pages.values():
        assert (listing.status_code, page.status_code) == (200, 200)
        assert "Save" not in page.content.decode()  # read-only for everyone
    assert "reprocess_failed" in pages[analyst.username][0].content.decode()
    assert "reprocess_failed" not in pages[author.username][0].content.decode()
    view = Permission.objects.get(codename="view_inboundemail")
    for name in (groups.SOC_ANALYST, groups.RUNBOOK_AUTHOR):
        assert view in Group.objects.get(name=name).permissions.all()


def test_reply_tokens_are_hidden_on_the_inbound_page(asked, committed, client, admin_client):
    request = asked("failed-login")
    deliver(committed, client, "mailgun-mime", reply_mime(request, "No"))
    inbound = InboundEmail.objects.get()
    token = reply_address(request).split("+")[1].split("@")[0]
    assert token in inbound.to_header  # stored as it came

    page = admin_client.get(change_url(inbound)).content.decode()

    assert token not in page
    assert "reply+[redacted]@" in page


# --- failing processing -----------------------------------------------------------------


def _always_crashes(inbound, message, inline):
    raise RuntimeError("a bug in reading this message")


@pytest.fixture
def failed(asked, committed, client, monkeypatch) -> InboundEmail:
    """A reply whose processing crashes every time until the bug is fixed: the receiver's
    own attempt, then the retries, called directly (the scheduled retries would)."""
    request = asked("failed-login")
    monkeypatch.setattr(process, "_process", _always_crashes)
    response = deliver(committed, client, "postmark-raw", reply_mime(request, "No"))
    assert response.status_code == 200  # processing runs after the answer, never in it
    inbound = InboundEmail.objects.get()
    assert (inbound.status, inbound.attempts) == ("received", 1)
    for _ in range(MAX_ATTEMPTS + 2):
        inbound_process(inbound.pk)
    monkeypatch.undo()  # the fix is deployed
    inbound.refresh_from_db()
    return inbound


def test_a_message_that_always_crashes_fails_after_the_bounded_attempts(failed):
    assert (failed.status, failed.attempts) == ("failed", MAX_ATTEMPTS)
    assert failed.reason == "RuntimeError: a bug in reading this message"
    assert failed.processed_at is not None
    assert Answer.objects.count() == 0


def test_a_failed_message_is_processed_again_after_the_fix(failed, committed):
    assert committed(inbound_reprocess, inbound=failed)

    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.reason[:7]) == ("answered", 1, "Read as")
    assert [title for title in failed.request.incident.tasks.values_list("title", flat=True)] == [
        "Reset the credentials of Bob Builder"
    ]


def test_the_admin_action_reprocesses_the_selected_failed_messages(
    failed, asked, committed, admin_client
):
    response = committed(
        admin_client.post,
        CHANGELIST,
        {"action": "reprocess_failed", "_selected_action": [failed.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "1 message(s) queued for processing again." in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == "answered", failed.reason
    assert Answer.objects.get(request=failed.request).option_key == "no"


def test_the_admin_action_leaves_messages_that_did_not_fail(hostile, committed, admin_client):
    before = hostile.status

    response = committed(
        admin_client.post,
        CHANGELIST,
        {"action": "reprocess_failed", "_selected_action": [hostile.pk]},
        follow=True,
    )

    assert "0 message(s) queued for processing again; 1 skipped" in response.content.decode()
    hostile.refresh_from_db()
    assert hostile.status == before


# --- the sweep -------------------------------------------------------------------------


def _lost(asked, client, **fields) -> InboundEmail:
    """A reply stored by the webhook whose enqueue after commit never happened (the
    on-commit callbacks are not run), made older than the sweep's threshold."""

    def without_commit_callbacks(post, *args):
        return post(*args)

    request = asked("failed-login")
    raw = reply_mime(request, "No")
    response = deliver(without_commit_callbacks, client, "postmark-raw", raw)
    assert response.status_code == 200
    InboundEmail.objects.update(received_at=timezone.now() - timedelta(minutes=11), **fields)
    return InboundEmail.objects.get()


def test_the_sweep_processes_a_message_whose_enqueue_was_lost(asked, client, committed):
    inbound = _lost(asked, client)
    assert inbound.status == "received" and not Answer.objects.exists()

    assert committed(inbound_sweep) == (1, 0)

    inbound.refresh_from_db()
    assert (inbound.status, inbound.attempts) == ("answered", 1)
    assert Answer.objects.get().option_key == "no"
    assert committed(inbound_sweep) == (0, 0)  # nothing left


def test_the_sweep_fails_a_message_whose_every_attempt_was_killed(asked, client, committed):
    inbound = _lost(asked, client, attempts=MAX_ATTEMPTS)

    assert committed(inbound_sweep) == (0, 1)

    inbound.refresh_from_db()
    assert inbound.status == "failed" and "stopped without finishing" in inbound.reason
    assert not Answer.objects.exists()
    assert committed(inbound_reprocess, inbound=inbound)
    inbound.refresh_from_db()
    assert inbound.status == "answered"


def test_the_sweep_leaves_a_recent_message_alone(asked, client, committed):
    inbound = _lost(asked, client)
    InboundEmail.objects.update(received_at=timezone.now())

    assert committed(inbound_sweep) == (0, 0)
    inbound.refresh_from_db()
    assert (inbound.status, inbound.attempts) == ("received", 0)


def test_the_hostile_values_are_the_ones_the_pages_show():
    # Guards the assertions above against someone defusing the hostile mail itself.
    assert "<script>" in HOSTILE_SUBJECT and "<script>" in HOSTILE_NAME
    assert "onerror=" in HOSTILE_FILENAME and "javascript:" in HOSTILE_HTML
