"""What the person sees when their answer is held as a possible mail scanner (posted
within seconds of the email, or from a headless browser): the truth, that it will be
confirmed, and the question again, whose answer counts when they send it again."""

import pytest
from django.test import Client

from mailflow.models import Answer, ConfirmationRequest
from runbooks.models import RunbookRun
from tests.builders.answers import FIREFOX, land, links, settle

# Rate limits and scanner timing live in the cache: a private one per test.
pytestmark = pytest.mark.usefixtures("fresh_cache")

HELD_EN = "Thanks. We will confirm your answer shortly."
HELD_DE = "Danke. Wir bestätigen Ihre Antwort in Kürze."
RECORDED_EN = "We have recorded your answer"


def post_too_soon(asked, outbox, browser, committed, choice: str = "no") -> ConfirmationRequest:
    """Bob's answer, posted right after the email went out: held, not taken."""
    request = asked("failed-login")
    land(browser, links(outbox[0])[choice])
    response = committed(browser.post, "/respond/", {"choice": choice})
    assert response.status_code == 303
    assert Answer.objects.get().flags == ["suspected automated"]
    return request


def test_the_thanks_page_of_a_held_answer_says_it_will_be_confirmed(
    asked, outbox, browser, committed
):
    post_too_soon(asked, outbox, browser, committed)

    thanks = browser.get("/respond/thanks/").content.decode()

    assert HELD_EN in thanks
    assert "No, that was not me" in thanks
    assert RECORDED_EN not in thanks


def test_opening_the_link_again_shows_the_question_with_the_note_not_recorded(
    asked, outbox, browser, committed
):
    post_too_soon(asked, outbox, browser, committed)

    again = browser.get("/respond/").content.decode()
    other_device = Client(HTTP_USER_AGENT=FIREFOX)
    fresh = other_device.get(land(other_device, links(outbox[0])["yes"])).content.decode()

    for page in (again, fresh):
        assert HELD_EN in page
        assert RECORDED_EN not in page
        assert '<form method="post"' in page and 'type="submit"' in page


def test_answering_again_after_a_held_answer_counts_and_moves_the_run(
    asked, outbox, browser, committed
):
    request = post_too_soon(asked, outbox, browser, committed)
    settle(request)  # a minute later: the person, not a scanner

    response = committed(browser.post, "/respond/", {"choice": "no"})

    assert response.status_code == 303
    held, counted = Answer.objects.order_by("pk")
    assert (held.counted, counted.counted, counted.flags) == (False, True, [])
    request.refresh_from_db()
    assert request.state == ConfirmationRequest.State.ANSWERED
    assert RunbookRun.objects.get().state == RunbookRun.State.COMPLETED
    assert list(request.incident.tasks.values_list("title", flat=True)) == [
        "Reset the credentials of Bob Builder"
    ]
    thanks = browser.get("/respond/thanks/").content.decode()
    assert "We have recorded your answer: “No, that was not me”." in thanks
    assert HELD_EN not in thanks
    page = browser.get("/respond/").content.decode()
    assert "We have recorded your answer “No, that was not me”" in page
    assert HELD_EN not in page


def test_a_german_speaker_is_told_in_german(asked, outbox, browser, committed, bob):
    bob.language = "de"
    bob.save()
    post_too_soon(asked, outbox, browser, committed)

    thanks = browser.get("/respond/thanks/").content.decode()
    again = browser.get("/respond/").content.decode()

    assert HELD_DE in thanks and HELD_DE in again
    assert "Wir haben Ihre Antwort erhalten" not in thanks + again
