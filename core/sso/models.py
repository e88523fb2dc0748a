from django.conf import settings
from django.db import models


class SsoIdentity(models.Model):
    """The identity provider's subject (`sub` claim) an account signs in as. Accounts are
    found by it alone: the provider's email or user name claims never pick an account,
    since whoever controls them could otherwise take over a local one."""

    # OpenID Connect caps `sub` at 255 ASCII characters.
    sub = models.CharField(max_length=255, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identity"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"

    def __str__(self) -> str:
        return f"identity of user {self.user_id}"
