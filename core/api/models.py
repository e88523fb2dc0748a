"""API tokens: one per integration (a SIEM, a sync job), owned by a user whose groups decide
what it may do, and limited further by its scope."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    class Scope(models.TextChoices):
        READ = "read", "Read (GET only)"
        WRITE = "write", "Read and write"

    name = models.CharField(
        max_length=100, unique=True, help_text="Which integration uses it, e.g. Splunk ES."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name="owner",
        help_text="The token acts with this user's permissions (groups), within its scope.",
    )
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    # The token itself is shown once; only its SHA-256 is kept, so a database leak reveals
    # no working token. The prefix lets people tell tokens apart in the admin and logs.
    prefix = models.CharField(max_length=16, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
