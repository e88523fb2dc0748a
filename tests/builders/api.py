"""Calling the API as an integration does: its tokens and clients, and the list endpoints."""

from rest_framework.test import APIClient

from core.actors import Actor
from core.api.models import ApiToken
from core.api.services import token_create

LIST_URLS = [
    "/api/incidents/",
    "/api/tasks/",
    "/api/evidence/",
    "/api/requests/",
    "/api/answers/",
    "/api/runbooks/",
    "/api/runs/",
    "/api/directory/people/",
    "/api/directory/cis/",
]


def make_token(user, scope: str = ApiToken.Scope.WRITE, name: str = "Splunk ES") -> str:
    _, raw = token_create(actor=Actor.system("tests"), name=name, user=user, scope=scope)
    return raw


def client_with(token: str | None = None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client
