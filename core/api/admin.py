"""API tokens in the admin. The secret is shown once, in a message right after creation;
afterwards only its prefix is. Tokens are revoked, never edited or deleted, so the record
of which integration had access stays."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.actors import Actor
from core.admin_helpers import call_service
from core.api.models import ApiToken
from core.api.services import token_create, token_revoke


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "scope", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["user"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    autocomplete_fields = ["user"]
    actions = ["revoke"]
    fields = ["name", "user", "scope"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at"]

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return self.fields if obj is None else [*self.fields, *self.readonly_fields]

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None):
        # A token's owner and scope are what was granted: change them by creating another.
        return [] if obj is None else [*self.fields, *self.readonly_fields]

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ApiToken, form, change: bool) -> None:
        if change:
            return  # nothing on an existing token is editable
        data = form.cleaned_data
        token, raw = token_create(
            actor=Actor.analyst(request.user),
            name=data["name"],
            user=data["user"],
            scope=data["scope"],
        )
        obj.pk = token.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            f"The token for {token.name} is: {raw} — copy it now, it is not stored and will "
            "not be shown again. Send it as the header Authorization: Bearer <token>.",
        )

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        actor = Actor.analyst(request.user)
        for token in queryset:
            call_service(
                request,
                lambda t=token: token_revoke(actor=actor, token=t),
                f"{token} revoked.",
            )
