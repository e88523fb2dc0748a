"""Reading the return date from an out-of-office text: the cues of each language, what
"until" and ranges mean, years, past dates, and text that gives no date."""

import time
from datetime import UTC, date, datetime

import pytest

from mailflow.parsing.away import read_return_date

RECEIVED = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def back(text: str, subject: str = "", received: datetime = RECEIVED) -> date | None:
    reading = read_return_date(text, subject=subject, received=received)
    return reading.returns_on if reading else None


@pytest.mark.parametrize(
    ("text", "returns_on"),
    [
        ("I am out of the office until 14 December.", date(2026, 12, 14)),
        ("Out of office through Friday 11 December.", date(2026, 12, 12)),
        ("Ich bin bis zum 14.12. nicht im Büro.", date(2026, 12, 14)),
        ("Ich bin bis einschließlich 14.12. nicht im Büro.", date(2026, 12, 15)),
        ("Je suis absent. De retour le lundi 14 décembre.", date(2026, 12, 14)),
        ("Estoy fuera hasta el 14 de diciembre incluido.", date(2026, 12, 15)),
        ("Ik ben afwezig tot en met maandag 14 december.", date(2026, 12, 15)),
        ("Sono fuori ufficio fino al 14 dicembre.", date(2026, 12, 14)),
        ("I'm away from 1 to 14 December.", date(2026, 12, 15)),
        ("Ich bin vom 1. bis 14. Dezember im Urlaub.", date(2026, 12, 15)),
        ("Ab dem 14.12. bin ich wieder im Büro.", date(2026, 12, 14)),
        ("I return on 12/14/2026.", date(2026, 12, 14)),
        ("I am out of the office until\nMonday 14 December.", date(2026, 12, 14)),
    ],
)
def test_the_return_day_is_read_as_the_module_documents(text, returns_on):
    assert back(text) == returns_on


def test_a_date_without_a_year_is_the_next_one_after_receipt():
    assert back("I'm on holiday until 19 January.") == date(2027, 1, 19)
    assert back("Back on 4 December.", received=datetime(2026, 11, 30, tzinfo=UTC)) == date(
        2026, 12, 4
    )


@pytest.mark.parametrize(
    "text",
    [
        "I am out until 3 January 2020.",  # an old reply left switched on
        "Ab dem 1.12. bin ich abwesend.",  # "from" without "again" starts an absence
        "Thanks for your email. I will reply soon.",
        "I am out of the office until further notice.",
        "",
    ],
)
def test_no_usable_date_reads_as_none(text):
    assert back(text) is None


def test_back_on_beats_until_and_the_sentence_is_the_one_it_came_from():
    reading = read_return_date(
        "I am away until 10 December. Back in the office on 14 December.",
        subject="Automatic reply: [SIR0001001] Question",
        received=RECEIVED,
    )

    assert reading == (date(2026, 12, 14), "Back in the office on 14 December.")


def test_the_subject_is_read_too():
    assert back("Regards, Erin", subject="Out of office until 14 Dec") == date(2026, 12, 14)


def test_a_quoted_original_is_not_read():
    assert back("Thanks.\n> Please answer until 14 December.") is None


def test_a_hostile_text_is_read_in_bounded_time():
    began = time.monotonic()

    assert back("until " * 50_000 + "bis 1." * 50_000) is None

    assert time.monotonic() - began < 5
