"""List filters the dashboard's figures link to. Each filters with the definition its
figure counts with (incidents.dashboard_figures), so the list shows the counted rows."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from incidents.dashboard_figures import OPEN_INCIDENT, overdue_tasks


class OpenIncidentFilter(admin.SimpleListFilter):
    title = "open or closed"
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Open"), ("no", "Closed or cancelled")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(OPEN_INCIDENT)
        if self.value() == "no":
            return queryset.exclude(OPEN_INCIDENT)
        return queryset


class TaskDueFilter(admin.SimpleListFilter):
    title = "due"
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("overdue", "Overdue")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "overdue":
            return queryset.filter(overdue_tasks(timezone.now()))
        return queryset
