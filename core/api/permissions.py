"""What a caller may do: the Django model permissions of the user (through the admin
groups, so the API allows what the admin allows), within the token's scope."""

from typing import TYPE_CHECKING

from rest_framework import permissions

from core.api.models import ApiToken

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class TokenScope(permissions.BasePermission):
    """A read token may only read, whatever its owner may do."""

    message = "This token is read-only."

    def has_permission(self, request: "Request", view: "APIView") -> bool:
        if isinstance(request.auth, ApiToken) and request.auth.scope != ApiToken.Scope.WRITE:
            return request.method in permissions.SAFE_METHODS
        return True


class ModelPermissions(permissions.DjangoModelPermissions):
    """DjangoModelPermissions, plus: reading needs the view permission, and an action
    endpoint (a state change through a service) needs the permission the view names in
    `action_permission` for it, by default "change"."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }

    def has_permission(self, request: "Request", view: "APIView") -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if getattr(view, "_ignore_model_permissions", False):
            return True  # the API root: a list of links, no records
        queryset = self._queryset(view)
        model = queryset.model
        verbs = getattr(view, "action_permissions", {}).get(getattr(view, "action", None))
        if verbs is None:
            return request.user.has_perms(self.get_required_permissions(request.method, model))
        opts = model._meta
        return request.user.has_perms(
            [f"{opts.app_label}.{verb}_{opts.model_name}" for verb in verbs]
        )


class IsAuthenticated(permissions.IsAuthenticated):
    """For the schema and docs: any signed-in caller, anonymous gets 401."""
