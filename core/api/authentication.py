"""Who is calling: an integration with its API token, or an analyst's admin session (for
the browsable API and the docs page)."""

from django.contrib.auth.models import AbstractBaseUser
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core.actors import Actor
from core.api.models import ApiToken
from core.api.services import token_find, token_mark_used

KEYWORD = "Bearer"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer soc_…`. A revoked token, an unknown one or one whose owner was
    deactivated gets 401 with the same message, so a caller learns nothing from it."""

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None  # not ours: session authentication may still apply
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the token as: Authorization: Bearer …")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.") from None
        token = token_find(raw)
        if token is None or not token.is_active or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        token_mark_used(token=token)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Its presence makes DRF answer unauthenticated requests with 401, not 403.
        return f'{KEYWORD} realm="api"'


def request_actor(request: Request) -> Actor:
    """The actor the services record: the integration (named after its token, acting as its
    owner) or the analyst whose session this is."""
    if isinstance(request.auth, ApiToken):
        return Actor.integration(request.auth.name, request.user)
    return Actor.analyst(request.user)
