"""Who did something: every service takes an `Actor` and writes it onto the timeline."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


class ActorKind(models.TextChoices):
    ANALYST = "analyst", "Analyst"
    SYSTEM = "system", "System"
    RUNBOOK = "runbook", "Runbook"
    END_USER = "end_user", "End user"
    EMAIL_PROVIDER = "email_provider", "Email provider"
    # A detection tool or other system calling the REST API with its own token.
    INTEGRATION = "integration", "Integration"


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    name: str
    user: "AbstractBaseUser | None" = None

    @classmethod
    def analyst(cls, user: "AbstractBaseUser") -> "Actor":
        return cls(ActorKind.ANALYST, user.get_full_name() or user.get_username(), user)

    @classmethod
    def system(cls, name: str = "System") -> "Actor":
        return cls(ActorKind.SYSTEM, name)

    @classmethod
    def runbook(cls, name: str) -> "Actor":
        return cls(ActorKind.RUNBOOK, name)

    @classmethod
    def end_user(cls, name: str) -> "Actor":
        return cls(ActorKind.END_USER, name)

    @classmethod
    def email_provider(cls, name: str) -> "Actor":
        return cls(ActorKind.EMAIL_PROVIDER, name)

    @classmethod
    def integration(cls, name: str, user: "AbstractBaseUser | None" = None) -> "Actor":
        """A REST API client, named after its token; `user` is the token's owner, whose
        permissions it acts with."""
        return cls(ActorKind.INTEGRATION, name, user)
