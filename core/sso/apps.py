from django.apps import AppConfig


class SsoConfig(AppConfig):
    """Single sign-on at the organisation's identity provider (OpenID Connect): which
    account each provider identity signs in to, and the groups its claims give."""

    name = "core.sso"
    label = "sso"
    verbose_name = "Single sign-on"
