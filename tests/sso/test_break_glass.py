"""Passwords off (LOCAL_LOGIN=false) for everyone but the named break-glass accounts,
refused in the authentication backend whatever the page shows; and the sign-in page as
Django has it while single sign-on is off."""

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate, get_user
from django.test import RequestFactory

from tests.builders.oidc import PROVIDER_NAME
from tests.factories import AnalystFactory, UserFactory


@pytest.fixture
def passwords_off(settings, provider):
    settings.LOCAL_LOGIN = False
    settings.LOCAL_LOGIN_USERS = ["breakglass"]
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        "core.sso.backends.BreakGlassBackend",
        "core.sso.backends.OidcBackend",
    ]


def post_password(client, username: str):
    return client.post("/admin/login/", {"username": username, "password": "pw", "next": "/admin/"})


def test_with_passwords_off_only_the_break_glass_account_signs_in_with_one(
    db, client, passwords_off
):
    AnalystFactory(username="alice")
    breakglass = UserFactory(username="breakglass", is_staff=True, is_superuser=True)
    request = RequestFactory().post("/admin/login/")

    assert authenticate(request, username="alice", password="pw") is None
    assert authenticate(request, username="breakglass", password="pw") == breakglass

    refused = post_password(client, "alice")
    assert refused.status_code == 200
    assert "Please enter the correct username and password" in refused.content.decode()
    assert not get_user(client).is_authenticated
    # Still a failed password for django-axes, counted against the account.
    assert AccessAttempt.objects.filter(username="alice").exists()

    assert post_password(client, "breakglass")["Location"] == "/admin/"
    assert get_user(client) == breakglass


def test_with_passwords_off_the_form_folds_under_break_glass(db, client, passwords_off):
    page = client.get("/admin/login/").content.decode()

    assert f"Sign in with {PROVIDER_NAME}" in page
    assert '<details class="break-glass">' in page and "<summary>Break-glass sign-in" in page
    assert 'id="login-form"' in page


def test_with_passwords_on_every_local_account_signs_in_with_its_password(db, client, provider):
    AnalystFactory(username="alice")

    assert post_password(client, "alice")["Location"] == "/admin/"


def test_with_single_sign_on_off_the_sign_in_page_is_djangos_own(
    db, client, django_assert_num_queries
):
    AnalystFactory(username="alice")
    with django_assert_num_queries(0):
        page = client.get("/admin/login/").content.decode()

    assert "Sign in with" not in page and "Break-glass" not in page
    assert 'id="login-form"' in page
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
    assert post_password(client, "alice")["Location"] == "/admin/"
