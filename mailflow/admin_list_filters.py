"""List filters the dashboard's figures link to. Each filters with the definition its
figure counts with (mailflow.dashboard_figures), so the list shows the counted rows."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from mailflow.dashboard_figures import FLAGGED_EMAIL, NEEDS_REVIEW, WAITING, due_soon, needs_review


class WaitingFilter(admin.SimpleListFilter):
    title = "waiting"
    parameter_name = "waiting"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("all", "Waiting for an answer"), ("due_soon", "Due within 4 h")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "all":
            return queryset.filter(WAITING)
        if self.value() == "due_soon":
            return queryset.filter(due_soon(timezone.now()))
        return queryset


class AnswerReviewFilter(admin.SimpleListFilter):
    title = "needs review"
    parameter_name = "review"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        groups = [(group, label) for group, (label, _) in NEEDS_REVIEW.items()]
        return [("any", "Any of these"), *groups]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "any" or self.value() in NEEDS_REVIEW:
            return queryset.filter(needs_review(self.value()))
        return queryset


class InboundReviewFilter(admin.SimpleListFilter):
    title = "needs an analyst"
    parameter_name = "review"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("flagged", "Flagged, on an open incident")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "flagged":
            return queryset.filter(FLAGGED_EMAIL)
        return queryset
