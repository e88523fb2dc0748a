"""System checks for settings a production deployment cannot do without (when DEBUG is
off), and for the timeline kinds that subscribers and runbook triggers name (always).

They are errors, not warnings: `migrate`, `runserver` and the WSGI/ASGI entry points (see
`soc.startup`) refuse to start until they are fixed.
"""

from django.conf import settings
from django.core.checks import Error, register
from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)

from incidents.timeline_kinds import TimelineKindError, kinds_registered
from mailflow.localmail import BACKEND
from runbooks.models import Trigger


def _strong_secret_key(key: str) -> bool:
    """What `check --deploy` asks of SECRET_KEY (security.W009), as an error: the key signs
    sessions and derives every answer token."""
    return (
        len(key) >= SECRET_KEY_MIN_LENGTH
        and len(set(key)) >= SECRET_KEY_MIN_UNIQUE_CHARACTERS
        and not key.startswith((SECRET_KEY_INSECURE_PREFIX, "insecure"))
    )


@register("soc")
def check_production_settings(app_configs=None, **kwargs) -> list[Error]:
    if settings.DEBUG:
        return []
    errors = []
    if not _strong_secret_key(settings.SECRET_KEY):
        errors.append(
            Error(
                f"SECRET_KEY is too weak: it needs at least {SECRET_KEY_MIN_LENGTH} characters, "
                f"{SECRET_KEY_MIN_UNIQUE_CHARACTERS} of them different, and must not be a "
                f"development key (it has {len(settings.SECRET_KEY)} characters, "
                f"{len(set(settings.SECRET_KEY))} different).",
                hint="Set SECRET_KEY to a long random value: "
                "python -c 'import secrets; print(secrets.token_urlsafe(50))'",
                id="soc.E001",
            )
        )
    if not settings.SITE_URL:
        errors.append(
            Error(
                "SITE_URL is not set, so links in emails cannot be built.",
                hint="Set SITE_URL to the public base URL, e.g. https://soc.example.com",
                id="soc.E002",
            )
        )
    if not settings.ANYMAIL_WEBHOOK_SECRET:
        errors.append(
            Error(
                "ANYMAIL_WEBHOOK_SECRET is not set, so email provider webhooks are unprotected.",
                hint="Set ANYMAIL_WEBHOOK_SECRET to 'user:password' and give the same "
                "credentials to your provider's webhook URL.",
                id="soc.E003",
            )
        )
    if not settings.ALLOWED_HOSTS:
        errors.append(
            Error(
                "ALLOWED_HOSTS is empty, so every request would be refused.",
                hint="Set ALLOWED_HOSTS to the host names the app is served under.",
                id="soc.E004",
            )
        )
    return errors


@register("soc")
def check_local_mailbox(app_configs=None, **kwargs) -> list[Error]:
    if settings.DEBUG or settings.EMAIL_BACKEND != BACKEND or settings.ALLOW_LOCAL_MAILBOX:
        return []
    return [
        Error(
            "EMAIL_BACKEND is the local mailbox, which sends no email and shows every "
            "question with its live answer links at /dev/mailbox/.",
            hint="Set EMAIL_BACKEND to your provider's backend, e.g. "
            "anymail.backends.postmark.EmailBackend. For a demo that should send nothing, "
            "set ALLOW_LOCAL_MAILBOX=true.",
            id="soc.E005",
        )
    ]


@register("soc")
def check_timeline_kinds(app_configs=None, **kwargs) -> list[Error]:
    """A subscriber or a runbook trigger naming a kind nobody writes would never fire, and
    nothing else would say so."""
    try:
        known = kinds_registered()
    except (ImportError, TimelineKindError) as error:
        return [
            Error(
                f"TIMELINE_KINDS cannot be read: {error}",
                hint="List dotted paths to lists of incidents.timeline_kinds.Kind, each "
                "kind named once.",
                id="soc.E006",
            )
        ]
    errors = [
        Error(
            f"TIMELINE_SUBSCRIBERS: {subscriber} subscribes to the unknown kind {kind!r}.",
            hint="Use a kind listed in TIMELINE_KINDS.",
            id="soc.E007",
        )
        for subscriber, kinds in settings.TIMELINE_SUBSCRIBERS.items()
        for kind in kinds
        if kind not in known
    ]
    errors += [
        Error(
            f"Runbook trigger {trigger!r} is not a timeline kind, so no runbook would start.",
            hint="Make each runbooks.models.Trigger value a kind listed in TIMELINE_KINDS.",
            id="soc.E008",
        )
        for trigger in Trigger.values
        if trigger != Trigger.MANUAL and trigger not in known
    ]
    return errors
