"""Access tokens for XOAUTH2 mailboxes: asked of the token endpoint by client credentials
or refresh token, kept until shortly before they expire, and a refusal explained without
the secret. Only the HTTP call to the endpoint is replaced (tests.builders.oauth)."""

import pytest

from mailflow.mailbox_oauth import TokenError, access_token
from tests.builders.oauth import token_endpoint

SETTINGS = {
    "token_url": "https://login.example.com/tenant/oauth2/v2.0/token",
    "client_id": "client-1",
    "scope": "https://outlook.office365.com/.default",
}


def test_a_client_credentials_token_is_asked_once_and_kept_until_it_nearly_expires(
    monkeypatch,
):
    endpoint = token_endpoint(monkeypatch, token="at-1", expires_in=3600)

    first = access_token(**SETTINGS, grant="client_credentials", secret="s3cret")
    second = access_token(**SETTINGS, grant="client_credentials", secret="s3cret")

    assert first == second == "at-1"
    assert len(endpoint.calls) == 1
    assert endpoint.calls[0]["url"] == SETTINGS["token_url"]
    assert endpoint.calls[0]["data"] == {
        "grant_type": "client_credentials",
        "client_id": "client-1",
        "scope": "https://outlook.office365.com/.default",
        "client_secret": "s3cret",
    }


def test_a_token_about_to_expire_is_asked_for_again(monkeypatch):
    endpoint = token_endpoint(monkeypatch, token="short", expires_in=60)

    access_token(**SETTINGS, grant="client_credentials", secret="s3cret")
    access_token(**SETTINGS, grant="client_credentials", secret="s3cret")

    assert len(endpoint.calls) == 2


def test_a_refresh_token_grant_sends_the_refresh_token(monkeypatch):
    endpoint = token_endpoint(monkeypatch, token="at-2", expires_in=3600)

    assert access_token(**SETTINGS, grant="refresh_token", secret="rt-xyz") == "at-2"
    assert endpoint.calls[0]["data"]["grant_type"] == "refresh_token"
    assert endpoint.calls[0]["data"]["refresh_token"] == "rt-xyz"
    assert "client_secret" not in endpoint.calls[0]["data"]


def test_a_refusal_names_the_error_code_and_never_the_secret(monkeypatch):
    token_endpoint(
        monkeypatch,
        status=401,
        error="invalid_client",
        error_description="AADSTS7000215: Invalid client secret provided: s3cret",
    )

    with pytest.raises(TokenError) as refused:
        access_token(**SETTINGS, grant="client_credentials", secret="s3cret")

    assert str(refused.value) == "The OAuth token endpoint refused (HTTP 401, invalid_client)."


def test_a_token_endpoint_without_https_is_refused_before_anything_is_sent(monkeypatch):
    endpoint = token_endpoint(monkeypatch, token="never")

    with pytest.raises(TokenError, match="https://"):
        access_token(
            **{**SETTINGS, "token_url": "http://login.example.com/token"},
            grant="client_credentials",
            secret="s3cret",
        )

    assert endpoint.calls == []
