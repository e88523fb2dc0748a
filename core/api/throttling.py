"""Rate limiting per token (per user for sessions), so one misbehaving integration cannot
starve the others. The rate is read on each request from settings.API_RATE_PER_MINUTE."""

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from core.api.models import ApiToken

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class TokenRateThrottle(SimpleRateThrottle):
    scope = "api"

    def get_rate(self) -> str:
        # Read here, not at import like DRF's DEFAULT_THROTTLE_RATES, so tests and
        # deployments can change it through settings.
        return f"{settings.API_RATE_PER_MINUTE}/min"

    def get_cache_key(self, request: "Request", view: "APIView") -> str | None:
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            return None  # anonymous callers are refused before throttling
        return self.cache_format % {"scope": self.scope, "ident": ident}
