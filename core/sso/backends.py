"""The authentication backends of single sign-on, and of passwords when they are off."""

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AbstractUser
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from core.sso.services import sign_in


class SsoFailed(Exception):
    """A sign-in at the provider that gives no account. Not a PermissionDenied, and the
    backend never answers None for it: either would send user_login_failed, and
    django-axes would count it against a user name of None, one count shared by every
    single sign-on, which would lock them all out together."""


class NoAccess(SsoFailed):
    """The provider signed the person in, but its groups give none of the app's."""


class OidcBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's code flow, with accounts found by `sub` (core.sso.services)."""

    def authenticate(self, request, **kwargs):
        # Django asks every backend at every sign-in: without this, a password post to a
        # URL carrying ?code=&state= would make the app call the provider, unchecked by
        # the state and nonce that only our callback passes.
        if kwargs.get("nonce") is None:
            return None
        return super().authenticate(request, **kwargs)

    def get_or_create_user(self, access_token: str, id_token: str, payload: dict) -> AbstractUser:
        userinfo = self.get_userinfo(access_token, id_token, payload)
        sub = payload.get("sub")
        if not isinstance(sub, str) or not 0 < len(sub) <= 255:
            raise SsoFailed("the ID token has no usable sub claim")
        if not isinstance(userinfo, dict) or userinfo.get("sub") != sub:
            # OpenID Connect Core 5.3.2: the user info is not this person's.
            raise SsoFailed("the user info's sub differs from the ID token's")
        # The ID token's claims, with the user info's over them: some providers put the
        # groups in one only (Microsoft Entra ID: the ID token).
        user = sign_in(sub, {**payload, **userinfo})
        if not user.is_staff:
            raise NoAccess
        return user


class BreakGlassBackend(ModelBackend):
    """Passwords for the break-glass accounts alone (LOCAL_LOGIN=false): everyone else is
    refused here, whatever the sign-in page shows."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username not in settings.LOCAL_LOGIN_USERS:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
