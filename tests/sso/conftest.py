"""The single sign-on tests' world: a real OpenID provider on a loopback port, and the app
pointed at it."""

import pytest

from tests.builders.oidc import Provider, running_provider


@pytest.fixture
def provider(settings, monkeypatch) -> Provider:
    # authlib, under the provider, refuses plain http unless told: its port is loopback.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    with running_provider() as running:
        for name, value in running.settings().items():
            setattr(settings, name, value)
        yield running
