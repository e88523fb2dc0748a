"""`{details.<name>}` in runbook texts: validated against the schemas, filled in as plain
text, a web address defanged, and a line naming a missing detail left out."""

import pytest

from runbooks.actions import validate_params
from runbooks.params import PLACEHOLDER
from runbooks.placeholders import render_text

BODY = (
    "We saw failed sign-ins.\n\nWhen: {details.time}\nFrom: {details.source_ip}\nBye {first_name}"
)


def render(template: str, details: dict, **values: str) -> str:
    return render_text(template, PLACEHOLDER, values, details)


def test_details_are_filled_in_and_lines_without_them_are_left_out(settings):
    settings.TIME_ZONE = "Europe/Lisbon"

    text = render(BODY, {"time": "2026-07-04T07:42:00+00:00"}, first_name="Bob")

    assert text == "We saw failed sign-ins.\n\nWhen: 2026-07-04 08:42 (WEST)\nBye Bob"


def test_trailing_blank_lines_go_with_the_lines_left_out():
    text = render("Hello.\n\nFrom: {details.source_ip}", {})

    assert text == "Hello."


def test_a_text_of_one_line_naming_only_missing_details_keeps_a_dash():
    assert render("Was the sign-in from {details.location} you?", {}) == (
        "Was the sign-in from — you?"
    )


def test_a_detail_stays_plain_text_and_a_web_address_is_defanged():
    details = {
        "site": "https://files.example.net/a.zip",
        "device": "<b>Pwn</b> see http://evil.example.com or www.evil.example.com",
    }

    site = render("{details.site}", details)
    device = render("{details.device}", details)

    assert site == "hxxps://files[.]example[.]net/a.zip"
    assert device == "<b>Pwn</b> see hxxp://evil.example.com or www[.]evil.example.com"


def test_a_detail_never_fills_in_another_placeholder():
    text = render("{details.device} {first_name}", {"device": "{first_name}"}, first_name="Bob")

    assert text == "{first_name} Bob"


def test_a_runbook_may_name_any_schemas_detail():
    cleaned, errors = validate_params("add_note", {"text": "From {details.source_ip}"})

    assert errors == {}
    assert cleaned["text"] == "From {details.source_ip}"


def test_an_unknown_detail_is_refused_listing_the_known_ones():
    _cleaned, errors = validate_params("add_note", {"text": "{details.password}"})

    assert errors["text"].startswith("unknown detail {details.password}; known: ")
    assert "{details.source_ip}" in errors["text"]


@pytest.mark.parametrize(
    "options",
    [
        [{"key": "a", "label": "A", "next": 3}, {"key": "b", "label": "B"}],
        [{"key": "a", "label": "A", "next": "x" * 501}, {"key": "b", "label": "B"}],
        [{"key": "a", "label": "A", "then": "x"}, {"key": "b", "label": "B"}],
    ],
)
def test_an_options_next_text_must_be_text(options):
    _cleaned, errors = validate_params("ask_user", {"question": "Q?", "options": options})

    assert "options" in errors


def test_an_option_may_say_what_happens_next_in_several_languages():
    options = [
        {"key": "yes", "label": "Yes", "next": {"en": "Nothing to do.", "de": "Nichts zu tun."}},
        {"key": "no", "label": "No", "next": "Your password will be reset."},
        {"key": "maybe", "label": "Maybe", "next": ""},
    ]

    cleaned, errors = validate_params("ask_user", {"question": "Q?", "options": options})

    assert errors == {}
    assert cleaned["options"] == [*options[:2], {"key": "maybe", "label": "Maybe"}]
