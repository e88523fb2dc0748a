"""{% dashboard %}: the analysts' dashboard, shown above the admin index's app list
(templates/admin/index.html)."""

from typing import Any

from django import template

from incidents.dashboard import dashboard_for

register = template.Library()


@register.inclusion_tag("admin/incidents/dashboard.html", takes_context=True)
def dashboard(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff:
        return {"dashboard": None}
    return {"dashboard": dashboard_for(user)}
