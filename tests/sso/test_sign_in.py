"""Signing in through a real OpenID provider on a loopback port (tests/builders/oidc.py):
accounts keyed by `sub`, refreshed from the claims, with groups re-read at every sign-in."""

import logging

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user
from django.contrib.auth.models import User
from django.contrib.messages import get_messages

from core.sso.models import SsoIdentity
from incidents.groups import RUNBOOK_AUTHOR, SOC_ANALYST
from tests.builders.oidc import (
    ANALYSTS,
    AUTHORS,
    PROVIDER_NAME,
    come_back,
    sign_in,
    start_sign_in,
)
from tests.factories import AnalystFactory

ALICE = {
    "email": "alice@corp.example.com",
    "given_name": "Alice",
    "family_name": "Analyst",
    "preferred_username": "alice@corp.example.com",
    "email_verified": True,
}


def groups_of(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_the_first_sign_in_creates_the_account_of_the_sub_with_the_claims(
    db, client, provider, caplog
):
    provider.user("0f3c-alice", **ALICE, groups=[ANALYSTS])

    with caplog.at_level(logging.INFO, logger="core.sso"):
        response = sign_in(client, provider, "0f3c-alice")

    assert response.status_code == 302 and response["Location"] == "/admin/"
    identity = SsoIdentity.objects.select_related("user").get(sub="0f3c-alice")
    user = identity.user
    assert (user.username, user.email, user.first_name, user.last_name) == (
        "alice",
        "alice@corp.example.com",
        "Alice",
        "Analyst",
    )
    assert user.is_staff and not user.is_superuser
    assert not user.has_usable_password()
    assert groups_of(user) == {SOC_ANALYST}
    assert get_user(client).pk == user.pk
    assert "Incidents, tasks and runbooks" in client.get("/admin/").content.decode()
    # The sign-in and the access it gave are logged with the account's id, no address.
    assert f"SSO sign-in of user {user.pk} (new account)" in caplog.text
    assert f"SSO access of user {user.pk}: groups SOC analyst, staff yes" in caplog.text
    assert "alice@" not in caplog.text


def test_a_later_sign_in_refreshes_email_and_name_but_keeps_the_account(db, client, provider):
    provider.user("0f3c-alice", **ALICE, groups=[ANALYSTS])
    sign_in(client, provider, "0f3c-alice")
    client.logout()
    renamed = {**ALICE, "email": "alice.smith@corp.example.com", "family_name": "Smith"}
    provider.user("0f3c-alice", **renamed, groups=[ANALYSTS])

    sign_in(client, provider, "0f3c-alice")

    user = User.objects.get()
    assert (user.username, user.email, user.last_name) == (
        "alice",
        "alice.smith@corp.example.com",
        "Smith",
    )
    assert SsoIdentity.objects.get().user == user


def test_both_mapped_groups_give_both_django_groups(db, client, provider):
    provider.user("0f3c-alice", **ALICE, groups=[ANALYSTS, AUTHORS, "finance"])

    sign_in(client, provider, "0f3c-alice")

    assert groups_of(User.objects.get()) == {SOC_ANALYST, RUNBOOK_AUTHOR}


def test_removal_in_the_provider_removes_the_group_at_the_next_sign_in(db, client, provider):
    provider.user("0f3c-alice", **ALICE, groups=[ANALYSTS, AUTHORS])
    sign_in(client, provider, "0f3c-alice")
    client.logout()
    provider.user("0f3c-alice", **ALICE, groups=[AUTHORS])

    sign_in(client, provider, "0f3c-alice")

    user = User.objects.get()
    assert groups_of(user) == {RUNBOOK_AUTHOR}
    assert user.is_staff


def test_someone_in_no_mapped_group_is_refused_and_loses_staff_access(db, client, provider, caplog):
    provider.user("0f3c-alice", **ALICE, groups=[ANALYSTS])
    sign_in(client, provider, "0f3c-alice")
    client.logout()
    provider.user("0f3c-alice", **ALICE, groups=["finance"])

    with caplog.at_level(logging.INFO, logger="core.sso"):
        response = sign_in(client, provider, "0f3c-alice")

    assert response.status_code == 403
    page = response.content.decode()
    assert "No access" in page
    assert f"{PROVIDER_NAME} signed you in, but your account there is in none" in page
    user = User.objects.get()
    assert not user.is_staff
    assert groups_of(user) == set()
    assert not get_user(client).is_authenticated
    assert f"SSO access of user {user.pk}: groups none, staff no" in caplog.text
    # Refused by authorisation, not a failed password: nothing for django-axes to count.
    assert not AccessAttempt.objects.exists()


def test_a_first_sign_in_without_a_mapped_group_gets_no_access(db, client, provider):
    provider.user("9a1-mallory", email="mallory@corp.example.com")

    response = sign_in(client, provider, "9a1-mallory")

    assert response.status_code == 403
    assert not User.objects.get().is_staff
    assert not get_user(client).is_authenticated


def test_the_provider_email_never_takes_over_a_local_account(db, client, provider):
    local = AnalystFactory(username="alice", email="alice@corp.example.com")
    provider.user("evil-sub", **ALICE, groups=[ANALYSTS])

    sign_in(client, provider, "evil-sub")

    newcomer = SsoIdentity.objects.get(sub="evil-sub").user
    assert newcomer.pk != local.pk
    assert newcomer.username == "alice-2"
    assert get_user(client).pk == newcomer.pk
    local.refresh_from_db()
    assert local.check_password("pw")
    assert not SsoIdentity.objects.filter(user=local).exists()


def test_single_sign_on_never_keeps_a_superuser(db, client, provider):
    provider.user("0f3c-alice", **ALICE, groups=[ANALYSTS])
    sign_in(client, provider, "0f3c-alice")
    User.objects.update(is_superuser=True)
    client.logout()

    sign_in(client, provider, "0f3c-alice")

    assert not User.objects.get().is_superuser


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


FAILED = f"Signing in with {PROVIDER_NAME} did not complete."


def test_the_provider_refusing_ends_on_the_sign_in_page_with_a_message(db, client, provider):
    callback = provider.authorize(start_sign_in(client), "", deny=True)

    response = come_back(client, callback)

    assert response.status_code == 302 and response["Location"] == "/admin/login/"
    page = client.get(response["Location"]).content.decode()
    assert f'<li class="error">{FAILED}' in page
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda query: query.replace("state=", "state=x"), id="state mismatch"),
        pytest.param(lambda query: query.replace("code=", "code=x"), id="forged code"),
    ],
)
def test_a_forged_callback_ends_on_the_sign_in_page_and_counts_no_failure(
    db, client, provider, forge
):
    provider.user("0f3c-alice", **ALICE, groups=[ANALYSTS])
    callback = provider.authorize(start_sign_in(client), "0f3c-alice")

    response = come_back(client, forge(callback))

    assert response.status_code == 302 and response["Location"] == "/admin/login/"
    assert any(FAILED in message for message in messages_of(response))
    assert not User.objects.exists()
    assert not get_user(client).is_authenticated
    # No username-less failure for django-axes: one such count would be shared by every
    # single sign-on, and enough of them would lock all of them out.
    assert not AccessAttempt.objects.exists()


def test_the_sign_in_page_shows_the_button_and_the_admin_login_after_it(db, client, provider):
    page = client.get("/admin/login/?next=/admin/incidents/").content.decode()

    assert f"Sign in with {PROVIDER_NAME}" in page
    assert 'href="/oidc/authenticate/?next=/admin/incidents/"' in page
    assert 'id="login-form"' in page and "Break-glass sign-in" not in page


def test_the_page_the_sign_in_started_from_is_where_it_ends(db, client, provider):
    provider.user("0f3c-alice", **ALICE, groups=[ANALYSTS])
    start = client.get("/oidc/authenticate/?next=/admin/incidents/")

    response = come_back(client, provider.authorize(start["Location"], "0f3c-alice"))

    assert response["Location"] == "/admin/incidents/"


def test_an_address_locked_by_password_guesses_is_locked_for_single_sign_on_too(
    db, client, provider, settings
):
    provider.user("0f3c-alice", **ALICE, groups=[ANALYSTS])
    for guess in range(settings.AXES_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": f"guess{guess}", "password": "x"})

    response = sign_in(client, provider, "0f3c-alice")

    assert response.status_code == 429
    assert "Sign-in locked" in response.content.decode()
    assert not User.objects.exists()


def test_an_address_the_provider_does_not_vouch_for_is_not_taken(db, client, provider, settings):
    # Approvals find an approver's account by its email: an address someone could set
    # themselves at the provider must not make them that approver.
    unverified = {**ALICE, "email": "manager@corp.example.com", "email_verified": False}
    provider.user("0f3c-alice", **unverified, groups=[ANALYSTS])

    sign_in(client, provider, "0f3c-alice")

    assert User.objects.get().email == ""
    client.logout()
    settings.OIDC_TRUST_EMAIL = True
    sign_in(client, provider, "0f3c-alice")
    assert User.objects.get().email == "manager@corp.example.com"


def test_a_password_post_carrying_a_code_and_state_never_reaches_the_provider(db, client, provider):
    AnalystFactory(username="bob", password="right-password-1")

    response = client.post(
        "/admin/login/?code=stolen&state=whatever", {"username": "bob", "password": "wrong"}
    )

    assert response.status_code == 200
    assert "Please enter the correct username and password" in response.content.decode()
    assert not get_user(client).is_authenticated


def test_an_error_link_nobody_started_does_not_sign_the_analyst_out(db, client, provider):
    provider.user("0f3c-alice", **ALICE, groups=[ANALYSTS])
    sign_in(client, provider, "0f3c-alice")

    response = client.get("/oidc/callback/?error=access_denied&state=forged")

    assert response["Location"] == "/admin/login/"
    assert get_user(client).is_authenticated


def test_a_session_opened_at_the_provider_lasts_a_working_day(db, client, provider, settings):
    provider.user("0f3c-alice", **ALICE, groups=[ANALYSTS])

    sign_in(client, provider, "0f3c-alice")

    assert client.session.get_expiry_age() == settings.OIDC_SESSION_HOURS * 3600 == 36000


def test_a_break_glass_name_not_created_yet_is_never_given_to_a_provider_account(
    db, client, provider, settings
):
    settings.LOCAL_LOGIN_USERS = ["BreakGlass"]
    provider.user("0f3c-eve", preferred_username="breakglass", groups=[ANALYSTS])

    sign_in(client, provider, "0f3c-eve")

    assert User.objects.get().username == "breakglass-2"


def test_a_next_page_on_another_site_is_ignored(db, client, provider):
    provider.user("0f3c-alice", **ALICE, groups=[ANALYSTS])
    start = client.get("/oidc/authenticate/?next=https://evil.example/admin/")

    response = come_back(client, provider.authorize(start["Location"], "0f3c-alice"))

    assert response["Location"] == "/admin/"
