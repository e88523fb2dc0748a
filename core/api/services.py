"""Creating, revoking and recording the use of API tokens."""

import hashlib
import logging
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.actors import Actor
from core.api.models import ApiToken
from core.errors import DomainError

logger = logging.getLogger(__name__)

# "soc_" tells a leaked string apart as ours (secret scanners can match it); 32 random bytes
# are 256 bits, far beyond guessing.
TOKEN_PREFIX = "soc_"  # noqa: S105 - a marker, not a secret
_SHOWN_PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
# Recording every request's use would write on every read; once a minute is enough to
# tell a live integration from a dead one.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(
    *, actor: Actor, name: str, user: AbstractBaseUser, scope: str = ApiToken.Scope.READ
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored nor shown
    again: only its hash is kept."""
    name = name.strip()
    if not name:
        raise DomainError("A token needs a name saying which integration uses it.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                name=name,
                user=user,
                scope=ApiToken.Scope(scope),
                prefix=raw[:_SHOWN_PREFIX_LENGTH],
                token_hash=token_hash(raw),
                created_by=actor.user,
            )
    except IntegrityError:
        raise DomainError(f"A token named {name!r} already exists.") from None
    # The prefix identifies the token; the secret never reaches a log line.
    logger.info("API token %s (%s) created by %s", token.pk, token.prefix, actor.name)
    return token, raw


def token_revoke(*, actor: Actor, token: ApiToken) -> bool:
    """Revoke a token at once; its next request gets 401. False if it already was."""
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        logger.info("API token %s (%s) revoked by %s", token.pk, token.prefix, actor.name)
    token.refresh_from_db(fields=["revoked_at"])
    return bool(revoked)


def token_mark_used(*, token: ApiToken) -> None:
    """Record that the token was used, at most once per LAST_USED_RESOLUTION. The check on
    the loaded row skips the write for most requests; the conditional UPDATE keeps
    concurrent requests from writing it more than once."""
    now = timezone.now()
    stale = now - LAST_USED_RESOLUTION
    if token.last_used_at is not None and token.last_used_at >= stale:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)
    ).update(last_used_at=now)
    token.last_used_at = now


def token_find(raw: str) -> ApiToken | None:
    """The token (with its owner) for a presented secret, revoked or not, or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    return ApiToken.objects.select_related("user").filter(token_hash=token_hash(raw)).first()
