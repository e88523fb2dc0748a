"""/metrics for Prometheus, behind a bearer token, a list of client networks, or both.

With neither METRICS_TOKEN nor METRICS_ALLOWED_IPS set the endpoint is off and answers
404, as any unknown address does. A refusal says nothing about why beyond its status: 403
for a client address outside the networks, 401 for a missing or wrong token.
"""

import hmac
import ipaddress

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from soc.metrics import REGISTRY


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    token: str = settings.METRICS_TOKEN
    networks: list[str] = settings.METRICS_ALLOWED_IPS
    if not token and not networks:
        raise Http404
    # The connection's own address, never X-Forwarded-For: a proxy that appends to that
    # header leaves its first entry to the client, who could name an allowed address.
    if networks and not address_allowed(request.META.get("REMOTE_ADDR", ""), networks):
        return HttpResponse(status=403)
    if token and not bearer_matches(request, token):
        response = HttpResponse(status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)


def address_allowed(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # no address
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.5 from a dual-stack listener is 10.0.0.5
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def bearer_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Compared as bytes in constant time: the header is the client's, any characters.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )
