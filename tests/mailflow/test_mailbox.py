from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import override_settings
from django.urls import reverse

from mailflow import localmail
from mailflow.localmail import BACKEND, repeated_hand_overs, stored_emails
from tests.factories import UserFactory


@pytest.fixture
def local_mail(tmp_path):
    with override_settings(EMAIL_BACKEND=BACKEND, EMAIL_FILE_PATH=tmp_path):
        yield tmp_path


@pytest.fixture
def reader(analyst):
    """An analyst who may read the local mailbox, as the demo's are."""
    analyst.user_permissions.add(Permission.objects.get(codename="view_local_mailbox"))
    return analyst


def test_the_local_backend_keeps_each_email_for_staff_to_read(local_mail, client, reader):
    analyst = reader
    mail.send_mail("[SIR0001001] Did you?", "Yes: http://x/respond/t/?choice=yes", "a@b", ["c@d"])
    [stored] = stored_emails()
    assert stored.subject == "[SIR0001001] Did you?"

    client.force_login(analyst)
    listing = client.get(reverse("mailbox"))
    page = client.get(reverse("mailbox_email", args=[stored.name]))

    assert "[SIR0001001] Did you?" in listing.content.decode()
    assert '<a href="http://x/respond/t/?choice=yes"' in page.content.decode()


def test_the_mailbox_is_for_staff_only_and_only_with_the_local_backend(local_mail, client, reader):
    assert client.get(reverse("mailbox")).status_code == 302  # to the admin login
    client.force_login(reader)
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        assert client.get(reverse("mailbox")).status_code == 404
    assert client.get(reverse("mailbox_email", args=["..%2F..%2Fetc%2Fpasswd"])).status_code == 404
    assert (
        client.get(reverse("mailbox_email", args=["20260101-000000-deadbeef.eml"])).status_code
        == 404
    )


def test_it_refuses_the_mailbox_to_staff_without_the_mailbox_permission(
    local_mail, client, analyst
):
    # Every question's live answer links are in it: staff status alone is not enough.
    mail.send_mail("[SIR0001001] Did you?", "Yes: http://x/respond/t/?choice=yes", "a@b", ["c@d"])
    [stored] = stored_emails()
    client.force_login(analyst)

    listing = client.get(reverse("mailbox"))
    page = client.get(reverse("mailbox_email", args=[stored.name]))

    assert (listing.status_code, page.status_code) == (403, 403)
    assert "respond/t/" not in listing.content.decode() + page.content.decode()


def test_a_superuser_reads_the_mailbox_without_being_given_the_permission(local_mail, client, db):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    assert client.get(reverse("mailbox")).status_code == 200


def test_an_email_handed_over_again_is_kept_once_and_the_repeat_counted(local_mail):
    # What a worker killed between the hand-over and its "sent" commit does: the same
    # email again, with the same Message-ID (a provider with an idempotency key keeps one).
    def question(message_id: str) -> mail.EmailMessage:
        headers = {"Message-ID": message_id}
        return mail.EmailMessage("[SIR0001001] Did you?", "Yes?", "a@b", ["c@d"], headers=headers)

    question("<q-1@soc.localhost>").send()
    question("<q-1@soc.localhost>").send()
    question("<q-2@soc.localhost>").send()
    mail.send_mail("No Message-ID given", "Django gives each its own", "a@b", ["c@d"])
    mail.send_mail("No Message-ID given", "Django gives each its own", "a@b", ["c@d"])

    assert len(stored_emails()) == 4
    assert repeated_hand_overs() == 1
    assert not list(local_mail.glob(".*.partial"))  # each written whole, then renamed


class Killed(BaseException):
    pass


@pytest.mark.parametrize("kill_after", [1, 2], ids=["the name chosen", "the email written"])
def test_a_hand_over_killed_halfway_keeps_one_copy_when_done_again(
    local_mail, monkeypatch, kill_after
):
    write_whole = localmail._write_whole
    writes = []

    def dying(path, content):
        write_whole(path, content)
        writes.append(path)
        if len(writes) == kill_after:
            raise Killed

    question = mail.EmailMessage(
        "Did you?", "Yes?", "a@b", ["c@d"], headers={"Message-ID": "<q@x>"}
    )
    monkeypatch.setattr(localmail, "_write_whole", dying)
    with pytest.raises(Killed):
        question.send()
    monkeypatch.undo()
    question.send()  # the worker's retry, after its lease

    assert [email.subject for email in stored_emails()] == ["Did you?"]
    assert not list(local_mail.glob(".*.partial"))


HOSTILE_HTML = (
    "<!DOCTYPE html><html><head><title>Question</title></head><body>"
    '<p style="color:#1a1a1a">Did you?</p>'
    '<a href="http://x/respond/t/?choice=yes">Yes, it was me</a>'
    "<script>parent.document.title = 'taken';</script>"
    '</iframe><img src="http://tracker.example/pixel.png" onerror="alert(1)">'
    "</body></html>"
)


def send_with_html(html: str = HOSTILE_HTML) -> None:
    message = mail.EmailMultiAlternatives(
        "[SIR0001001] Did you?", "Yes: http://x/respond/t/?choice=yes", "a@b", ["c@d"]
    )
    message.attach_alternative(html, "text/html")
    message.send()


def frame_of(page: str) -> dict[str, str]:
    """The attributes of the page's one iframe, unescaped as a browser reads them."""
    parser = _Frames()
    parser.feed(page)
    (frame,) = parser.frames
    return frame


class _Frames(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.frames: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "iframe":
            self.frames.append(dict(attrs))


def test_the_html_part_is_shown_in_a_sandboxed_frame_that_runs_no_script(
    local_mail, client, reader
):
    send_with_html()
    [stored] = stored_emails()
    client.force_login(reader)

    page = client.get(reverse("mailbox_email", args=[stored.name])).content.decode()

    frame = frame_of(page)
    # No allow-scripts, no allow-same-origin: the email's origin is opaque, its scripts off.
    assert frame["sandbox"] == "allow-popups allow-popups-to-escape-sandbox"
    document = frame["srcdoc"]
    assert document.startswith(
        '<!DOCTYPE html><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        '<base target="_blank"><html>'
    )
    assert '<a href="http://x/respond/t/?choice=yes">Yes, it was me</a>' in document
    # Outside the frame's attribute, nothing of the email is markup of the admin page.
    outside = page.replace(page[page.index("<iframe") : page.index("</iframe>")], "")
    assert "<script>parent" not in outside and "onerror" not in outside
    assert 'href="?part=text">Text</a>' in page


def test_the_text_part_is_one_click_away_and_the_only_part_of_a_text_email(
    local_mail, client, reader
):
    send_with_html()
    mail.send_mail("Plain", "Only text: http://x/respond/u/", "a@b", ["c@d"])
    plain, with_html = sorted(stored_emails(), key=lambda e: e.subject)
    client.force_login(reader)

    text = client.get(reverse("mailbox_email", args=[with_html.name]), {"part": "text"})
    only_text = client.get(reverse("mailbox_email", args=[plain.name]))

    assert "<iframe" not in text.content.decode()
    assert '<a href="http://x/respond/t/?choice=yes"' in text.content.decode()
    assert 'href="?">HTML</a>' in text.content.decode()
    assert "<iframe" not in only_text.content.decode()
    assert "?part=text" not in only_text.content.decode()  # no switch without an HTML part
    assert '<a href="http://x/respond/u/"' in only_text.content.decode()
