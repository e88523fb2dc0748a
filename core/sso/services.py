"""Signing in through the identity provider: the account of a `sub`, refreshed from the
claims, and its groups set from the provider's groups at every sign-in."""

import logging
import re
from collections.abc import Mapping

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from core.sso.models import SsoIdentity

logger = logging.getLogger(__name__)

# What Django's user name validator accepts; anything else in a claim is dropped.
_NOT_IN_USERNAME = re.compile(r"[^\w.@+-]")


def sso_enabled() -> bool:
    return bool(settings.OIDC_RP_CLIENT_ID)


def granted_groups(claims: Mapping[str, object]) -> set[str]:
    """The Django groups the provider's groups claim gives (OIDC_GROUP_MAP): a list of
    names or ids, or a single one; anything else gives none."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM)
    if isinstance(value, str):
        provider_groups = {value}
    elif isinstance(value, list):
        provider_groups = {item for item in value if isinstance(item, str)}
    else:
        provider_groups = set()
    return {
        group
        for group, provider_values in settings.OIDC_GROUP_MAP.items()
        if provider_groups.intersection(provider_values)
    }


def sign_in(sub: str, claims: Mapping[str, object]) -> AbstractUser:
    """The account of `sub`, created on its first sign-in, with email and name from the
    claims and exactly the mapped groups the claims give. Staff (the admin) only with one
    of them; never a superuser, whatever was set by hand."""
    wanted = granted_groups(claims)
    with transaction.atomic():
        identity = SsoIdentity.objects.select_for_update().filter(sub=sub).first()
        created = identity is None
        if identity is None:
            user = get_user_model()(username=_free_username(claims))
            user.set_unusable_password()
            user.save()
            identity = SsoIdentity.objects.create(sub=sub, user=user)
        user = identity.user
        had = set(
            user.groups.filter(name__in=settings.OIDC_GROUP_MAP).values_list("name", flat=True)
        )
        access_before = (user.is_staff, user.is_superuser)
        _refresh_profile(user, claims)
        user.is_staff = bool(wanted)
        user.is_superuser = False
        user.save()
        if wanted != had:
            user.groups.remove(*Group.objects.filter(name__in=had - wanted))
            user.groups.add(*Group.objects.filter(name__in=wanted - had))
    logger.info("SSO sign-in of user %s%s", user.pk, " (new account)" if created else "")
    if wanted != had or access_before != (user.is_staff, False):
        logger.info(
            "SSO access of user %s: groups %s, staff %s",
            user.pk,
            ", ".join(sorted(wanted)) or "none",
            "yes" if user.is_staff else "no",
        )
    return user


def _refresh_profile(user: AbstractUser, claims: Mapping[str, object]) -> None:
    user.first_name = _text_claim(claims, "given_name", 150)
    user.last_name = _text_claim(claims, "family_name", 150)
    email = _text_claim(claims, "email", 254) if _email_verified(claims) else ""
    try:
        validate_email(email)
    except ValidationError:
        email = ""
    user.email = email


def _email_verified(claims: Mapping[str, object]) -> bool:
    """Whether the provider vouches for the address. One the person could set themselves
    must not become an address the app trusts: approvals find an approver's account by
    its email. OIDC_TRUST_EMAIL vouches for a provider that sends no email_verified."""
    return settings.OIDC_TRUST_EMAIL or claims.get("email_verified") in (True, "true")


def _text_claim(claims: Mapping[str, object], name: str, max_length: int) -> str:
    value = claims.get(name)
    return value.strip()[:max_length] if isinstance(value, str) else ""


def _free_username(claims: Mapping[str, object]) -> str:
    """A readable user name from the claims, made unique with a number. Set once: it only
    names the account, and never finds it (the `sub` does). An email-like name keeps its
    local part, so no address is shown where user names are."""
    preferred = _text_claim(claims, "preferred_username", 254) or _text_claim(claims, "email", 254)
    base = _NOT_IN_USERNAME.sub("", preferred.split("@")[0])[:140] or "sso-user"
    User = get_user_model()
    # A break-glass name not created yet stays free for its account: given to someone
    # here, `changepassword` on it would hand them a password that LOCAL_LOGIN=false allows.
    reserved = {name.lower() for name in settings.LOCAL_LOGIN_USERS}
    candidate, number = base, 1
    while candidate.lower() in reserved or User.objects.filter(username__iexact=candidate).exists():
        number += 1
        candidate = f"{base}-{number}"
    return candidate
