"""Which address a client has, for rate limits and sign-in guess limits."""

from django.conf import settings
from django.http import HttpRequest


def client_ip(http: HttpRequest) -> str:
    """REMOTE_ADDR, or with TRUST_X_FORWARDED_FOR the first X-Forwarded-For entry (the
    proxy in front must overwrite that header, or clients choose their own address)."""
    if getattr(settings, "TRUST_X_FORWARDED_FOR", False):
        forwarded = http.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return http.META.get("REMOTE_ADDR", "")
