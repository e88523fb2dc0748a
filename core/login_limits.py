"""The admin sign-in's guess limits (django-axes): which address a client has, and the page
a locked-out sign-in gets."""

import ipaddress

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.client_ip import client_ip as forwarded_or_connection_ip


def client_ip(request: HttpRequest) -> str:
    """The address the answer page's rate limits count (X-Forwarded-For's first entry only
    with TRUST_X_FORWARDED_FOR), kept only if it is an address: axes stores it in an IP
    column, which PostgreSQL refuses anything else for."""
    candidate = forwarded_or_connection_ip(request)
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return request.META.get("REMOTE_ADDR", "")


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """The admin's sign-in page style, saying why and for how long: 429 with Retry-After."""
    minutes = settings.AXES_COOLOFF_MINUTES
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "minutes": minutes,
    }
    response: HttpResponse = render(request, "admin/lockout.html", context, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
