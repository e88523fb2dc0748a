"""What the admin's sign-in page offers (templates/admin/login.html), read from the settings
at each rendering: with single sign-on off, the page is Django's own."""

from django import template
from django.conf import settings

from core.sso.services import sso_enabled

register = template.Library()


@register.simple_tag
def sso_login() -> dict[str, object] | None:
    """The provider's name and whether passwords are open to all; None with single sign-on
    off."""
    if not sso_enabled():
        return None
    return {"provider": settings.OIDC_PROVIDER_NAME, "local_login": settings.LOCAL_LOGIN}
