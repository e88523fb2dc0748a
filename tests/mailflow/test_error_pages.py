"""Error pages: a database locked or down, or a failure of ours, while a person opens their
link or sends their answer shows a page in the answer page's style, language and security
headers, never Django's bare "Server Error (500)"; webhooks and the API keep machine
answers."""

import contextlib
import json
from uuid import uuid4

import pytest
from django.db import DataError, OperationalError, connection
from django.test import Client, override_settings

from core.actors import Actor
from core.api.services import token_create
from mailflow.models import Answer
from tests.builders.answers import FIREFOX, HEADERS, land, links, settle
from tests.builders.tracking import SECRET, basic_auth

PAGE_HEADERS = {**HEADERS, "Referrer-Policy": "no-referrer"}
BARE = "Server Error (500)"


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"error-pages-{uuid4()}",
        }
    }


@pytest.fixture
def browser() -> Client:
    # As a server answers: the exception becomes the error page, not a test failure.
    return Client(HTTP_USER_AGENT=FIREFOX, raise_request_exception=False)


@contextlib.contextmanager
def database_failing(error: Exception, *, writes_only: bool = False):
    """Every query (or every write) on this thread's connection raises `error`, as SQLite
    does past its busy timeout ("database is locked") or a server that went away."""

    def fail(execute, sql, params, many, context):
        if writes_only and not sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            return execute(sql, params, many, context)
        raise error

    with connection.execute_wrapper(fail):
        yield


LOCKED = OperationalError("database is locked")


def assert_styled(response, status: int, *words: str) -> str:
    html = response.content.decode()
    assert response.status_code == status
    assert BARE not in html
    assert "/static/mailflow/respond.css" in html
    assert 'name="viewport"' in html and "<script" not in html
    for word in words:
        assert word in html
    for name, value in PAGE_HEADERS.items():
        assert response[name] == value, name
    return html


@pytest.mark.parametrize("writes_only", [False, True], ids=["reading", "saving the session"])
def test_a_locked_database_while_a_person_opens_their_link_shows_the_503_page(
    asked, outbox, browser, writes_only
):
    asked("policy-violation")
    link = links(outbox[0])["yes"]

    with database_failing(LOCKED, writes_only=writes_only):
        response = browser.get(link)

    html = assert_styled(response, 503, "Temporarily unavailable", "try again in a minute")
    assert response["Retry-After"] == "60"
    assert '<html lang="en">' in html
    assert "Vorübergehend nicht erreichbar" in html  # the other language follows
    # Once the lock is gone, the same link works.
    assert browser.get(link).status_code == 302


def test_a_locked_database_while_a_person_posts_their_answer_loses_nothing(
    asked, outbox, browser, committed
):
    request = asked("policy-violation")
    settle(request)
    land(browser, links(outbox[0])["yes"])

    with database_failing(LOCKED, writes_only=True):
        response = committed(browser.post, "/respond/", {"choice": "yes"})

    assert_styled(response, 503, "Temporarily unavailable", "please send it again")
    assert not Answer.objects.exists()
    # As the page says: sent again a minute later, it is recorded.
    again = committed(browser.post, "/respond/", {"choice": "yes"})
    assert again.status_code == 303
    assert Answer.objects.get().option_key == "yes"
    assert request.incident.timeline.filter(kind="answer.received").count() == 1


def test_a_database_gone_away_shows_the_page_in_the_browsers_language(asked, outbox, db):
    asked("policy-violation")
    german = Client(
        HTTP_USER_AGENT=FIREFOX,
        HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5",
        raise_request_exception=False,
    )

    with database_failing(OperationalError("server closed the connection unexpectedly")):
        response = german.get(links(outbox[0])["no"])

    html = assert_styled(response, 503, "Bitte versuchen Sie es in einer Minute erneut")
    assert '<html lang="de">' in html
    assert html.index("Vorübergehend nicht erreichbar") < html.index("Temporarily unavailable")
    assert "<h1>Vorübergehend nicht erreichbar</h1>" in html


def test_any_other_failure_shows_the_500_page(asked, outbox, browser):
    request = asked("policy-violation")
    settle(request)
    land(browser, links(outbox[0])["yes"])

    # A data error is the request's, not an outage: retrying would not help a provider.
    with database_failing(DataError("invalid byte sequence"), writes_only=True):
        response = browser.post("/respond/", {"choice": "yes"})

    html = assert_styled(response, 500, "Something went wrong", "try again in a minute")
    assert "Ein Fehler ist aufgetreten" in html
    assert "Retry-After" not in response


def test_an_analyst_gets_the_page_without_the_emails_instructions(analyst, browser):
    browser.force_login(analyst)

    with database_failing(LOCKED):
        response = browser.get("/admin/incidents/securityincident/")

    html = assert_styled(response, 503, "Temporarily unavailable", "try again in a minute")
    assert "link in the email" not in html


def test_the_api_keeps_a_json_answer_and_the_webhooks_a_plain_one(analyst):
    _, token = token_create(actor=Actor.system("tests"), name="SIEM", user=analyst)
    machine = Client(raise_request_exception=False)

    with database_failing(LOCKED):
        api = machine.get("/api/incidents/", HTTP_AUTHORIZATION=f"Bearer {token}")
        with override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET}):
            webhook = machine.post(
                "/anymail/postmark/tracking/",
                json.dumps({"RecordType": "Delivery", "MessageID": "m-1", "Recipient": "a@b.c"}),
                content_type="application/json",
                **basic_auth(),
            )

    assert (api.status_code, api["Content-Type"], api["Retry-After"]) == (
        503,
        "application/json",
        "60",
    )
    assert json.loads(api.content) == {"detail": "Temporarily unavailable; retry in a minute."}
    assert (webhook.status_code, webhook["Content-Type"]) == (503, "text/plain")
    assert webhook.content == b"Temporarily unable to store this event; please retry.\n"
