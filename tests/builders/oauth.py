"""An OAuth2 token endpoint in place of the identity provider's (Microsoft Entra, Google):
the one HTTP call that leaves the process when a mailbox logs in with XOAUTH2."""

from dataclasses import dataclass, field
from typing import Any

import requests

from mailflow import mailbox_oauth


@dataclass
class FakeEndpoint:
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def post(self, url: str, data: dict[str, str], timeout: float) -> requests.Response:
        self.calls.append({"url": url, "data": dict(data), "timeout": timeout})
        response = requests.Response()
        response.status_code = self.status
        response._content = requests.compat.json.dumps(self.body).encode()
        return response


def token_endpoint(monkeypatch, *, status: int = 200, **body: Any) -> FakeEndpoint:
    """Answer every token request with `body` (token= becomes access_token); tokens kept
    by earlier tests are forgotten."""
    if "token" in body:
        body["access_token"] = body.pop("token")
    endpoint = FakeEndpoint(status=status, body=body)
    monkeypatch.setattr(mailbox_oauth.requests, "post", endpoint.post)
    mailbox_oauth.forget_tokens()
    return endpoint
