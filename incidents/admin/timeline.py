"""Read-only search across every incident's timeline."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from core.admin_helpers import LargeTableAdminMixin, ReadOnlyMixin
from incidents.admin.search import INCIDENT_NUMBER, number_lookup
from incidents.models import TimelineEntry
from incidents.timeline_kinds import kind_choices, kind_namespaces


class TimelineKindFilter(admin.SimpleListFilter):
    """Each registered kind by its label. Listing the kinds in use (the default filter)
    reads the whole table with SELECT DISTINCT on every page load; the registry is fixed."""

    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return kind_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(kind=self.value())
        return queryset


class TimelineNamespaceFilter(admin.SimpleListFilter):
    """Kinds by namespace ("task" for every task.* kind), as the registry names them."""

    title = "kind group"
    parameter_name = "kind_prefix"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(namespace, f"{namespace}.*") for namespace in kind_namespaces()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(kind__startswith=f"{self.value()}.")
        return queryset


@admin.register(TimelineEntry)
class TimelineEntryAdmin(ReadOnlyMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Read-only search across every incident's timeline."""

    list_display = ["created_at", "incident", "kind_shown", "actor_kind", "actor_name", "summary"]
    list_select_related = ["incident"]
    list_filter = [TimelineKindFilter, TimelineNamespaceFilter, "actor_kind"]
    search_fields = ["=incident__number", "summary"]
    search_help_text = "An incident number lists its entries; other words search summaries."
    # Newest first, read backwards from timeline_created_idx.
    ordering = ["-created_at", "-id"]

    @admin.display(description="kind", ordering="kind")
    def kind_shown(self, entry: TimelineEntry) -> str:
        # The raw name too: runbook authors and API users match on it.
        return format_html('{} <code class="soc-kind">{}</code>', entry.kind_label, entry.kind)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        number = number_lookup(search_term, {INCIDENT_NUMBER: "incident__number"})
        if number:
            return queryset.filter(**number), False
        return super().get_search_results(request, queryset, search_term)
