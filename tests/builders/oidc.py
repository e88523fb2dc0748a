"""A real OpenID provider for the single sign-on tests: oidc-provider-mock (Flask and
authlib), on a loopback port in a thread of the test process. It signs its ID tokens with
RS256 and serves discovery, authorize (a form where one types the `sub`), token, userinfo
and JWKS; the claims of each `sub` are set beforehand with `user()`. Our code talks to it
over HTTP exactly as to Entra ID, Okta or Keycloak."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from unittest.mock import patch
from urllib.parse import urlsplit

import requests
from django.test import Client
from oidc_provider_mock import run_server_in_thread
from oidc_provider_mock._app import OpenIDCode

from incidents.groups import RUNBOOK_AUTHOR, SOC_ANALYST

ANALYSTS = "soc-analysts"
AUTHORS = "runbook-authors"
PROVIDER_NAME = "Corp ID"


@dataclass(frozen=True)
class Provider:
    url: str

    def user(self, sub: str, **claims: object) -> None:
        """What the provider says of `sub` from now on, in its ID token and user info."""
        requests.put(f"{self.url}/users/{sub}", json=claims, timeout=10).raise_for_status()

    def settings(self) -> dict[str, object]:
        """The settings that point the app at this provider (its port is only known now)."""
        return {
            "OIDC_RP_CLIENT_ID": "soc-confirm",
            "OIDC_RP_CLIENT_SECRET": "test-client-secret",
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.url}/oauth2/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.url}/oauth2/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.url}/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.url}/jwks",
            "OIDC_PROVIDER_NAME": PROVIDER_NAME,
            "OIDC_GROUPS_CLAIM": "groups",
            "OIDC_GROUP_MAP": {SOC_ANALYST: [ANALYSTS], RUNBOOK_AUTHOR: [AUTHORS]},
            "AUTHENTICATION_BACKENDS": [
                "axes.backends.AxesStandaloneBackend",
                "django.contrib.auth.backends.ModelBackend",
                "core.sso.backends.OidcBackend",
            ],
        }

    def authorize(self, authorization_url: str, sub: str, *, deny: bool = False) -> str:
        """Submit the provider's sign-in form as `sub` (or press Deny): the URL of our
        callback it sends the browser back to."""
        form = {"action": "deny"} if deny else {"sub": sub}
        answer = requests.post(authorization_url, data=form, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        return answer.headers["Location"]


def _jwt_config_naming_the_key(self, grant, client=None) -> dict:
    # This version of the provider signs without naming the key (no `kid` in the token's
    # header) under the authlib installed; Entra ID, Okta and Keycloak always name it, and
    # mozilla-django-oidc looks the key up by it.
    config = _ORIGINAL_JWT_CONFIG(self, grant, client)
    return {**config, "kid": config["key"]["kid"]}


_ORIGINAL_JWT_CONFIG = OpenIDCode.get_jwt_config


@contextmanager
def running_provider() -> Iterator[Provider]:
    with (
        patch.object(OpenIDCode, "get_jwt_config", _jwt_config_naming_the_key),
        run_server_in_thread(require_nonce=True) as server,
    ):
        yield Provider(url=f"http://localhost:{server.server_port}")


def start_sign_in(client: Client) -> str:
    """Press "Sign in with ...": the provider's authorization URL we redirect to."""
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 302, response
    return response["Location"]


def come_back(client: Client, callback_url: str):
    """Follow the provider's redirect to our callback, as the browser would."""
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}")


def sign_in(client: Client, provider: Provider, sub: str):
    """The whole round trip: our start view, the provider's form, our callback."""
    return come_back(client, provider.authorize(start_sign_in(client), sub))
