"""OAuth2 access tokens for mailboxes that log in with XOAUTH2 (Microsoft 365, Gmail).

The token comes from the mailbox's token endpoint by the client-credentials grant (the
client secret in the environment) or the refresh-token grant (the refresh token in the
environment), and is kept in this process until shortly before it expires: a poll every
minute must not ask the identity provider every minute. Tokens live in memory only, never
in the database, the cache or a log."""

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

# A token is renewed this long before the endpoint says it expires: a poll that starts
# with it must finish logging in before it does.
_EARLY = 120.0


class TokenError(Exception):
    """The token endpoint could not be reached or refused: the message is a sentence for
    the mailbox's status, without secrets."""


@dataclass(frozen=True)
class _Cached:
    token: str
    expires_at: float


_tokens: dict[tuple[str, ...], _Cached] = {}
_lock = threading.Lock()


def access_token(*, token_url: str, client_id: str, scope: str, grant: str, secret: str) -> str:
    """A valid access token for these settings, from memory or from the endpoint."""
    # The secret is part of the key: a rotated secret or refresh token gets a new token.
    key = (token_url, client_id, scope, grant, secret)
    with _lock:
        cached = _tokens.get(key)
        if cached and cached.expires_at - _EARLY > time.monotonic():
            return cached.token
    token, lifetime = _request_token(
        token_url=token_url, client_id=client_id, scope=scope, grant=grant, secret=secret
    )
    with _lock:
        _tokens[key] = _Cached(token, time.monotonic() + lifetime)
    return token


def forget_tokens() -> None:
    """Drop every kept token (a login refused with one: the next poll asks again)."""
    with _lock:
        _tokens.clear()


def _request_token(
    *, token_url: str, client_id: str, scope: str, grant: str, secret: str
) -> tuple[str, float]:
    if urlsplit(token_url).scheme != "https":
        raise TokenError("The OAuth token endpoint must be an https:// URL.")
    form: dict[str, str] = {"grant_type": grant, "client_id": client_id}
    if scope:
        form["scope"] = scope
    if grant == "refresh_token":
        form["refresh_token"] = secret
    else:
        form["client_secret"] = secret
    try:
        response = requests.post(token_url, data=form, timeout=settings.MAILBOX_TIMEOUT)
    except requests.RequestException as error:
        raise TokenError(
            f"The OAuth token endpoint could not be reached ({type(error).__name__})."
        ) from None
    body = _json(response)
    if response.status_code != 200 or not isinstance(body.get("access_token"), str):
        # The endpoint's error code says what is wrong (invalid_client, invalid_grant ...);
        # its description may quote the request, so it is not kept.
        code = str(body.get("error", ""))[:80] or "no token in the answer"
        raise TokenError(f"The OAuth token endpoint refused (HTTP {response.status_code}, {code}).")
    try:
        lifetime = float(body.get("expires_in", 3600))
    except (TypeError, ValueError):
        lifetime = 3600.0
    return body["access_token"], lifetime


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
