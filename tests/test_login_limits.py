"""The admin sign-in limits guesses per account and per client address (django-axes): a
clear lockout page, a log record without the password or the user name, and the API's
tokens and the answer page unaffected."""

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.utils import timezone

from core.actors import Actor
from core.api.services import token_create
from tests.factories import AnalystFactory

LOGIN = "/admin/login/"
PASSWORD = "the-right-password-7"
ATTACKER, OFFICE = "203.0.113.7", "198.51.100.20"


@pytest.fixture
def ana(db):
    return AnalystFactory(username="ana.lyst@corp.example.com", password=PASSWORD)


def sign_in(username: str, password: str, address: str = ATTACKER, **headers):
    client = Client(REMOTE_ADDR=address, **headers)
    response = client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})
    return client, response


def guess(username: str, times: int, address: str = ATTACKER) -> None:
    for attempt in range(times):
        _, response = sign_in(username, f"wrong-{attempt}", address)
        assert response.status_code in {200, 429}


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_wrong_passwords_up_to_the_limit_lock_the_account_with_a_clear_page(ana, settings, caplog):
    caplog.set_level(logging.INFO)
    guess(ana.username, settings.AXES_FAILURE_LIMIT - 1)
    _, last_guess = sign_in(ana.username, "wrong-again")

    client, right_password = sign_in(ana.username, PASSWORD)

    for response in (last_guess, right_password):
        assert response.status_code == 429
        html = response.content.decode()
        assert "Sign-in locked" in html
        assert f"refused for {settings.AXES_COOLOFF_MINUTES} minutes" in html
        assert ana.username not in html
        assert response["Retry-After"] == str(settings.AXES_COOLOFF_MINUTES * 60)
    assert not signed_in(client)
    lockouts = [r for r in caplog.records if "Locking out" in r.getMessage()]
    assert len(lockouts) >= 1 and lockouts[0].levelno == logging.WARNING
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert ATTACKER in logged  # who to block at the firewall
    assert ana.username not in logged and "wrong-" not in logged and PASSWORD not in logged
    attempt = AccessAttempt.objects.get()
    # The right password during the lockout counted as one more failure.
    assert (attempt.username, attempt.failures_since_start) == (ana.username, 6)
    assert "wrong-" not in attempt.post_data and ana.username not in attempt.post_data


def test_a_locked_account_is_refused_from_every_address(ana, settings):
    guess(ana.username, settings.AXES_FAILURE_LIMIT, address=ATTACKER)

    client, response = sign_in(ana.username, PASSWORD, address=OFFICE)

    assert response.status_code == 429
    assert not signed_in(client)


def test_a_locked_address_is_refused_for_every_account(ana, settings):
    for number in range(settings.AXES_FAILURE_LIMIT):
        guess(f"someone-{number}", 1, address=ATTACKER)

    locked, refused = sign_in(ana.username, PASSWORD, address=ATTACKER)
    elsewhere, accepted = sign_in(ana.username, PASSWORD, address=OFFICE)

    assert refused.status_code == 429 and not signed_in(locked)
    assert accepted.status_code == 302 and signed_in(elsewhere)


def test_the_right_password_works_again_once_the_cool_off_has_passed(ana, settings):
    guess(ana.username, settings.AXES_FAILURE_LIMIT)
    almost = timezone.now() - timedelta(minutes=settings.AXES_COOLOFF_MINUTES - 1)
    AccessAttempt.objects.update(attempt_time=almost)
    _, still_locked = sign_in(ana.username, PASSWORD, address=OFFICE)

    over = timezone.now() - timedelta(minutes=settings.AXES_COOLOFF_MINUTES, seconds=1)
    AccessAttempt.objects.update(attempt_time=over)
    client, response = sign_in(ana.username, PASSWORD, address=OFFICE)

    assert still_locked.status_code == 429
    assert response.status_code == 302 and signed_in(client)


def test_fewer_failures_than_the_limit_leave_the_sign_in_open(ana, settings):
    guess(ana.username, settings.AXES_FAILURE_LIMIT - 1)

    client, response = sign_in(ana.username, PASSWORD)

    assert response.status_code == 302 and signed_in(client)


def test_the_forwarded_address_counts_only_when_the_proxy_is_trusted(ana, settings):
    # Untrusted, X-Forwarded-For is the client's own claim: the connection counts.
    for number in range(settings.AXES_FAILURE_LIMIT):
        sign_in(f"x{number}", "wrong", OFFICE, HTTP_X_FORWARDED_FOR=f"192.0.2.{number}")
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {OFFICE}
    AccessAttempt.objects.all().delete()

    settings.TRUST_X_FORWARDED_FOR = True
    sign_in("x", "wrong", OFFICE, HTTP_X_FORWARDED_FOR=f"{ATTACKER}, 10.0.0.1")
    # A proxy that passes junk on: the connection's address, not a database error.
    sign_in("y", "wrong", OFFICE, HTTP_X_FORWARDED_FOR="not-an-address")

    assert sorted(AccessAttempt.objects.values_list("username", "ip_address")) == [
        ("x", ATTACKER),
        ("y", OFFICE),
    ]


def test_a_locked_address_still_reaches_the_api_with_a_token_and_the_answer_page(ana, settings):
    guess(ana.username, settings.AXES_FAILURE_LIMIT)
    _, token = token_create(actor=Actor.system("tests"), name="SIEM", user=ana)
    client = Client(REMOTE_ADDR=ATTACKER)

    api = client.get("/api/incidents/", HTTP_AUTHORIZATION=f"Bearer {token}")
    page = client.get("/respond/")

    assert api.status_code == 200
    assert page.status_code == 200 and "This link is no longer valid" in page.content.decode()
