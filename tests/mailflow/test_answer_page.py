"""The end users' answer page: links from the email, the question, uploads, scanners,
rate limits, headers and logs."""

import logging
import re
import secrets
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http.multipartparser import MultiPartParser
from django.test import Client
from django.utils import timezone

from core.actors import Actor
from core.logging import RedactSecretsFilter
from incidents.models import Evidence, ResponseTask, SecurityIncident
from mailflow.models import Answer, ConfirmationRequest
from mailflow.request_lifecycle import request_cancel
from runbooks.models import RunbookRun
from tests.builders.answers import FIREFOX, HEADERS, LINK, land, links, settle

# Rate limits and scanner timing live in the cache: a private one per test.
pytestmark = pytest.mark.usefixtures("fresh_cache")
State = ConfirmationRequest.State
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
NEUTRAL = "This link is no longer valid"


def token_of(message) -> str:
    return LINK.search(message.body).group(2)


def png(name: str = "screen.png", content: bytes = PNG) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/png")


def kinds(incident) -> list[str]:
    return list(incident.timeline.values_list("kind", flat=True))


def task_titles(incident) -> list[str]:
    return list(incident.tasks.values_list("title", flat=True))


# --- scenario 2 through the page --------------------------------------------------------


def test_an_email_link_opens_the_question_with_that_answer_chosen_and_changes_nothing(
    asked, outbox, browser
):
    request = asked("policy-violation")
    before = kinds(request.incident)

    response = browser.get(links(outbox[0])["yes"])

    assert response.status_code == 302
    assert response["Location"] == "/respond/?choice=yes"
    page = browser.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Did you download this file?" in html
    assert re.search(r'value="yes" required checked', html)
    assert html.count(" checked") == 1
    assert 'value="suspicious"' in html and "This email looks suspicious to me" in html
    assert 'type="file"' in html and "multiple" in html
    assert html.count('type="submit"') == 1
    assert "<script" not in html and "style=" not in html
    assert "<fieldset>" in html and "<legend>" in html and '<label for="comment">' in html
    assert 'name="viewport"' in html
    request.refresh_from_db()
    assert (request.state, request.scanner_hits) == (State.SENT, 0)
    assert not Answer.objects.exists()
    assert kinds(request.incident) == before


def test_posting_the_answer_with_a_screenshot_records_it_and_moves_the_runbook_on(
    asked, outbox, browser, committed
):
    request = asked("policy-violation")
    settle(request)
    land(browser, links(outbox[0])["yes"])

    response = committed(
        browser.post,
        "/respond/",
        {"choice": "yes", "comment": "For the quarterly report.", "files": [png()]},
    )

    assert response.status_code == 303
    assert response["Location"] == "/respond/thanks/"
    answer = Answer.objects.get()
    assert (answer.option_key, answer.channel, answer.counted) == ("yes", "page", True)
    assert (answer.sender, answer.comment, answer.flags) == (
        "Bob Builder",
        "For the quarterly report.",
        [],
    )
    assert len(answer.ip_hash) == 64 and answer.user_agent == FIREFOX
    request.refresh_from_db()
    assert request.state == State.ANSWERED
    evidence = Evidence.objects.get()
    assert (evidence.incident, evidence.source) == (request.incident, Evidence.Source.ANSWER_PAGE)
    assert (evidence.filename, evidence.detected_content_type) == ("screen.png", "image/png")
    assert evidence.provenance["answer"] == answer.pk
    assert evidence.provenance["channel"] == "page"
    assert evidence.provenance["ip_hash"] == answer.ip_hash
    assert evidence.provenance["user_agent"] == FIREFOX
    first, analyse = request.incident.tasks.order_by("pk")
    assert first.state == ResponseTask.State.COMPLETED
    assert analyse.title == "Analyse the evidence provided by the user"
    assert kinds(request.incident)[-7:] == [
        "request.sent",
        "answer.received",
        "evidence.added",
        "runbook.resumed",
        "task.completed",
        "task.created",
        "runbook.completed",
    ]
    thanks = browser.get("/respond/thanks/").content.decode()
    assert "Yes, I downloaded this file" in thanks
    assert "For the quarterly report." in thanks and "1 file received" in thanks


def test_the_same_answer_posted_twice_is_one_answer(asked, outbox, browser, committed):
    request = asked("failed-login")
    settle(request)
    land(browser, links(outbox[0])["no"])

    first = committed(browser.post, "/respond/", {"choice": "no"})
    second = committed(browser.post, "/respond/", {"choice": "no"})

    assert first.status_code == second.status_code == 303
    assert Answer.objects.count() == 1
    assert task_titles(request.incident) == ["Reset the credentials of Bob Builder"]
    assert request.incident.timeline.filter(kind="answer.received").count() == 1


def test_a_different_answer_later_is_a_flagged_revision_and_the_run_does_not_branch_again(
    asked, outbox, browser, committed
):
    request = asked("failed-login")
    settle(request)
    land(browser, links(outbox[0])["yes"])
    committed(browser.post, "/respond/", {"choice": "yes"})

    page = browser.get("/respond/").content.decode()  # back to the page later
    assert "We have recorded your answer “Yes, that was me”" in page
    response = committed(browser.post, "/respond/", {"choice": "no"})

    assert response.status_code == 303
    first, revision = Answer.objects.order_by("pk")
    assert (first.counted, revision.counted, revision.is_revision) == (True, False, True)
    assert task_titles(request.incident) == [
        "Review changed answer from Bob Builder (Yes, that was me → No, that was not me)"
    ]
    assert request.incident.timeline.filter(kind="answer.revised").count() == 1
    assert request.incident.timeline.filter(kind="runbook.resumed").count() == 1
    assert "No, that was not me" in browser.get("/respond/thanks/").content.decode()


def test_an_answer_posted_within_seconds_of_sending_is_kept_but_the_run_keeps_waiting(
    asked, outbox, browser, committed
):
    request = asked("failed-login")  # sent just now
    land(browser, links(outbox[0])["yes"])

    response = committed(browser.post, "/respond/", {"choice": "yes"})

    assert response.status_code == 303  # nothing tells a scanner it was spotted
    answer = Answer.objects.get()
    assert (answer.counted, answer.flags) == (False, ["suspected automated"])
    request.refresh_from_db()
    assert request.state == State.SENT
    assert RunbookRun.objects.get().state == RunbookRun.State.WAITING
    assert request.incident.timeline.filter(kind="answer.flagged").count() == 1


def test_a_post_from_a_scanner_user_agent_is_kept_but_never_counted(asked, outbox, committed):
    request = asked("failed-login")
    settle(request)
    headless = Client(HTTP_USER_AGENT="Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/126.0")
    land(headless, links(outbox[0])["no"])

    committed(headless.post, "/respond/", {"choice": "no"})

    assert Answer.objects.get().flags == ["suspected automated"]
    request.refresh_from_db()
    assert request.state == State.SENT
    assert task_titles(request.incident) == []


# --- scanners ---------------------------------------------------------------------------


def test_head_requests_and_scanner_visits_are_counted_and_noted_once_but_never_answer(
    asked, outbox
):
    request = asked("failed-login")
    yes = links(outbox[0])["yes"]

    head = Client(HTTP_USER_AGENT=FIREFOX).head(yes)
    assert (head.status_code, head.content) == (302, b"")
    assert "sessionid" not in head.cookies
    for agent in (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 HeadlessChrome/126.0",
        "python-requests/2.32.3",
        "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17928; Pro)",
        "",
    ):
        scanner = Client(HTTP_USER_AGENT=agent)
        response = scanner.get(yes)
        # The same redirect and page a person gets: the scanner learns nothing.
        assert response.status_code == 302
        assert scanner.get(response["Location"]).status_code == 200

    request.refresh_from_db()
    assert (request.state, request.scanner_hits) == (State.SENT, 5)
    assert not Answer.objects.exists()
    entry = request.incident.timeline.get(kind="request.link_checked")
    assert entry.summary == "Link checked by a mail scanner (suspected)"
    assert (entry.actor_kind, entry.actor_name) == ("system", "Answer page")
    assert "HEAD" in entry.body


def test_both_option_links_fetched_within_seconds_are_taken_for_a_scanner(asked, outbox, browser):
    request = asked("failed-login")
    option = links(outbox[0])

    land(browser, option["yes"])
    land(browser, option["no"])

    request.refresh_from_db()
    assert request.scanner_hits == 1
    assert not Answer.objects.exists()
    entry = request.incident.timeline.get(kind="request.link_checked")
    assert "Two different answer links" in entry.body


# --- dead links -------------------------------------------------------------------------


def test_expired_withdrawn_closed_and_tampered_links_all_show_the_same_neutral_page(
    asked, outbox, committed
):
    expired, withdrawn, closed, _tampered = (asked("failed-login") for _ in range(4))
    ConfirmationRequest.objects.filter(pk=expired.pk).update(
        deadline_at=timezone.now() - timedelta(minutes=1)  # before the deadline sweep ran
    )
    committed(request_cancel, request=withdrawn, actor=Actor.system(), reason="Not needed")
    # Only the incident: the request itself is still "sent".
    SecurityIncident.objects.filter(pk=closed.incident_id).update(
        state=SecurityIncident.State.CLOSED
    )
    token = token_of(outbox[3])
    tampered = ("A" if token[0] != "A" else "B") + token[1:]
    paths = [
        links(outbox[0])["yes"],
        links(outbox[1])["yes"],
        links(outbox[2])["yes"],
        f"/respond/{tampered}/?choice=yes",
        f"/respond/{secrets.token_urlsafe(32)}/?choice=no",
    ]

    responses = [Client(HTTP_USER_AGENT=FIREFOX).get(path) for path in paths]

    assert {response.status_code for response in responses} == {200}
    assert len({response.content for response in responses}) == 1
    assert NEUTRAL in responses[0].content.decode()
    assert all("sessionid" not in response.cookies for response in responses)
    assert not Answer.objects.exists()
    assert ConfirmationRequest.objects.filter(scanner_hits__gt=0).count() == 0


def test_a_page_opened_before_the_question_was_withdrawn_no_longer_takes_an_answer(
    asked, outbox, browser, committed
):
    request = asked("failed-login")
    settle(request)
    land(browser, links(outbox[0])["no"])
    committed(request_cancel, request=request, actor=Actor.system(), reason="Resolved")

    page = browser.get("/respond/?choice=no")
    post = committed(browser.post, "/respond/", {"choice": "no"})

    assert NEUTRAL in page.content.decode()
    assert (post.status_code, NEUTRAL in post.content.decode()) == (200, True)
    assert not Answer.objects.exists()


def test_the_page_without_a_link_opened_first_is_the_neutral_page(browser, db):
    assert NEUTRAL in browser.get("/respond/").content.decode()
    assert NEUTRAL in browser.get("/respond/thanks/").content.decode()
    assert Answer.objects.count() == 0


# --- rate limits ------------------------------------------------------------------------


def test_guessing_tokens_is_refused_with_429_after_the_limit_even_for_a_valid_link(
    asked, outbox, browser
):
    asked("failed-login")
    valid = links(outbox[0])["yes"]

    guesses = [browser.get(f"/respond/{secrets.token_urlsafe(32)}/") for _ in range(20)]
    refused = browser.get(valid)

    assert {response.status_code for response in guesses} == {200}
    assert refused.status_code == 429
    assert "Too many requests" in refused.content.decode()
    assert refused["Retry-After"] == "600"
    # Someone else, from another address, is not affected.
    assert Client(HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="10.0.0.2").get(valid).status_code == 302


def test_one_links_visits_are_limited_per_request(asked, outbox, browser, settings):
    settings.ANSWER_HIT_LIMIT = 3
    asked("failed-login")
    yes = links(outbox[0])["yes"]

    statuses = [browser.get(yes).status_code for _ in range(4)]

    assert statuses == [302, 302, 302, 429]


def test_x_forwarded_for_counts_only_when_trusted(asked, outbox, settings):
    settings.ANSWER_GUESS_LIMIT = 2
    asked("failed-login")
    valid = links(outbox[0])["yes"]

    def client(forwarded_for: str) -> Client:
        return Client(HTTP_USER_AGENT=FIREFOX, HTTP_X_FORWARDED_FOR=forwarded_for)

    def guess_then_open(forwarded_for: str) -> int:
        for _ in range(2):
            client(forwarded_for).get(f"/respond/{secrets.token_urlsafe(32)}/")
        return client(forwarded_for).get(valid).status_code

    # Untrusted: a made-up header does not give a guesser a fresh address.
    assert guess_then_open("198.51.100.1") == 429
    assert client("198.51.100.2").get(valid).status_code == 429
    settings.TRUST_X_FORWARDED_FOR = True
    assert guess_then_open("203.0.113.7, 10.0.0.1") == 429
    assert client("203.0.113.8").get(valid).status_code == 302


# --- uploads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("files", "limits", "message"),
    [
        ([png("big.png", PNG + b"\x00" * 1024 * 1024)], {"ANSWER_MAX_FILE_BYTES": 1024 * 1024},
         "“big.png” is larger than 1 MB."),
        ([png("page.png", b"<!doctype html><script>alert(1)</script>")], {},
         "“page.png” cannot be accepted"),
        ([SimpleUploadedFile("setup.exe", b"MZ\x90\x00" + b"\x00" * 60)], {},
         "“setup.exe” cannot be accepted"),
        ([png(f"shot{i}.png") for i in range(6)], {}, "Please attach at most 5 files."),
        ([png("empty.png", b"")], {}, "“empty.png” is empty."),
        ([png("a.png", PNG + b"\x00" * 600_000), png("b.png", PNG + b"\x00" * 600_000)],
         {"ANSWER_MAX_TOTAL_BYTES": 1024 * 1024}, "The files together are larger than 1 MB."),
    ],
    ids=["oversized", "html-named-png", "exe", "too-many", "empty", "total"],
)  # fmt: skip
def test_refused_uploads_re_show_the_form_with_a_clear_message_and_record_nothing(
    asked, outbox, browser, committed, settings, files, limits, message
):
    for name, value in limits.items():
        setattr(settings, name, value)
    request = asked("policy-violation")
    settle(request)
    land(browser, links(outbox[0])["yes"])
    before = kinds(request.incident)

    response = committed(browser.post, "/respond/", {"choice": "yes", "files": files})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Answer.objects.exists()
    assert not Evidence.objects.exists()
    assert kinds(request.incident) == before
    request.refresh_from_db()
    assert request.state == State.SENT


def test_an_upload_over_the_total_limit_is_refused_before_its_body_is_read(
    asked, outbox, browser, committed, settings, monkeypatch
):
    settings.ANSWER_MAX_TOTAL_BYTES = 1024 * 1024
    request = asked("policy-violation")
    settle(request)
    land(browser, links(outbox[0])["yes"])

    def never(*args, **kwargs):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr(MultiPartParser, "parse", never)
    huge = png("huge.png", PNG + b"\x00" * 2_200_000)
    response = committed(browser.post, "/respond/", {"choice": "yes", "files": [huge]})

    assert response.status_code == 400
    assert "The files together are larger than 1 MB." in response.content.decode()
    assert not Answer.objects.exists() and not Evidence.objects.exists()


def test_a_dangerous_filename_is_stored_sanitised(asked, outbox, browser, committed):
    request = asked("policy-violation")
    settle(request)
    land(browser, links(outbox[0])["yes"])
    boundary = "answer-page-test"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="choice"\r\n\r\nyes\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="../../x\u202egnp.exe"\r\nContent-Type: image/png\r\n\r\n'
        ).encode()
        + PNG
        + f"\r\n--{boundary}--\r\n".encode()
    )

    response = committed(
        browser.post, "/respond/", body, content_type=f"multipart/form-data; boundary={boundary}"
    )

    assert response.status_code == 303
    evidence = Evidence.objects.get()
    assert evidence.filename == "xgnp.exe"
    assert evidence.detected_content_type == "image/png"
    assert "xgnp" not in evidence.file.name and "/.." not in evidence.file.name


def test_a_comment_over_2000_characters_is_refused(asked, outbox, browser, committed):
    request = asked("failed-login")
    settle(request)
    land(browser, links(outbox[0])["yes"])

    response = committed(browser.post, "/respond/", {"choice": "yes", "comment": "x" * 2001})

    assert response.status_code == 400
    assert "The comment is too long" in response.content.decode()
    assert not Answer.objects.exists()


def test_an_answer_that_is_not_an_option_is_refused(asked, outbox, browser, committed):
    request = asked("failed-login")
    settle(request)
    land(browser, links(outbox[0])["yes"])

    response = committed(browser.post, "/respond/", {"choice": "unrecognised"})

    assert response.status_code == 400
    assert "Please choose one of the answers." in response.content.decode()
    assert not Answer.objects.exists()


# --- CSRF, headers, logs, language ------------------------------------------------------


def test_the_form_needs_its_csrf_token_and_the_token_from_the_page_works(asked, outbox, committed):
    request = asked("failed-login")
    settle(request)
    person = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=FIREFOX)
    page = person.get(land(person, links(outbox[0])["no"]))
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]

    forged = committed(person.post, "/respond/", {"choice": "no"})
    assert forged.status_code == 403
    # What a browser sends from a page under "Referrer-Policy: no-referrer": refused, which
    # is why the form's page uses "same-origin".
    nulled = committed(
        person.post,
        "/respond/",
        {"choice": "no", "csrfmiddlewaretoken": csrf},
        HTTP_ORIGIN="null",
    )
    assert nulled.status_code == 403
    assert not Answer.objects.exists()
    # What a browser sends from the page: its origin (allowed by the page's
    # Referrer-Policy) and the form's token.
    posted = committed(
        person.post,
        "/respond/",
        {"choice": "no", "csrfmiddlewaretoken": csrf},
        HTTP_ORIGIN="http://testserver",
    )
    assert posted.status_code == 303
    assert Answer.objects.get().option_key == "no"


def test_every_answer_page_response_carries_the_security_headers(
    asked, outbox, browser, committed, settings
):
    settings.ANSWER_HIT_LIMIT = 4  # the HEAD, the landing and two posts
    request = asked("failed-login")
    settle(request)
    yes = links(outbox[0])["yes"]
    responses = {
        "head": Client(HTTP_USER_AGENT=FIREFOX).head(yes),
        "landing": browser.get(yes),
        "page": browser.get("/respond/?choice=yes"),
        "refused": committed(browser.post, "/respond/", {"choice": "maybe"}),
        "posted": committed(browser.post, "/respond/", {"choice": "yes"}),
        "thanks": browser.get("/respond/thanks/"),
        "neutral": browser.get(f"/respond/{secrets.token_urlsafe(32)}/"),
        "not allowed": browser.put(yes),
        "limited": browser.get(yes),
    }
    assert responses["limited"].status_code == 429

    for name, response in responses.items():
        for header, value in HEADERS.items():
            assert response[header] == value, (name, header)
        # The pages with the form let the browser send their origin with its POST, which
        # Django's CSRF check requires; their address holds no token.
        expected = "same-origin" if name in ("page", "refused") else "no-referrer"
        assert response["Referrer-Policy"] == expected, name


def test_tokens_never_reach_the_logs(asked, outbox, browser, committed, settings, caplog):
    caplog.set_level(logging.DEBUG)
    settings.ANSWER_HIT_LIMIT = 3
    request = asked("failed-login")
    settle(request)
    token = token_of(outbox[0])
    yes = links(outbox[0])["yes"]

    land(browser, yes)
    committed(browser.post, "/respond/", {"choice": "maybe"})  # 400, logged
    committed(browser.post, "/respond/", {"choice": "yes"})
    limited = browser.get(yes)  # 429, logged with the path

    assert limited.status_code == 429
    assert "Too Many Requests: /respond/[redacted]/" in caplog.text
    assert token not in caplog.text


def test_the_redaction_filter_hides_link_tokens_reply_tokens_and_addresses():
    line = "/respond/AbC-123_xyz/?choice=yes to reply+k7q2@reply.example.com from b@corp.example"
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"%s %s" %s', ("GET", line, 302), None
    )

    assert RedactSecretsFilter().filter(record) is True

    assert record.getMessage() == (
        '"GET /respond/[redacted]/?choice=yes to reply+[redacted]@reply.example.com '
        'from [email]" 302'
    )
    assert record.args == ()


def test_runservers_request_lines_go_through_the_redaction_filter():
    server = logging.getLogger("django.server")

    assert server.propagate is False
    assert any(
        isinstance(f, RedactSecretsFilter) for handler in server.handlers for f in handler.filters
    )


def test_a_person_whose_language_is_german_gets_the_german_page(
    asked, outbox, browser, committed, bob
):
    bob.language = "de"
    bob.save()
    request = asked("failed-login")
    settle(request)

    page = browser.get(land(browser, links(outbox[0])["no"])).content.decode()
    refused = committed(browser.post, "/respond/", {"choice": "vielleicht"}).content.decode()
    committed(browser.post, "/respond/", {"choice": "no"})
    thanks = browser.get("/respond/thanks/").content.decode()

    assert '<html lang="de">' in page
    assert "Bitte bestätigen Sie Ihre Antwort" in page
    assert "Diese E-Mail kommt mir verdächtig vor" in page
    assert "Antwort senden" in page
    assert "Bitte wählen Sie eine der Antworten." in refused
    assert "Vielen Dank" in thanks
    assert Answer.objects.get().option_key == "no"
