"""Every answer, read-only: the list the dashboard's "answers needing review" open, with
what each answer said, where it came from and why it was not taken. Answers change only
through their services (accepting a held answer is on the incident and email pages)."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from core.admin_helpers import LargeTableAdminMixin, ReadOnlyMixin
from incidents.admin.search import INCIDENT_NUMBER, number_lookup
from mailflow.admin_list_filters import AnswerReviewFilter
from mailflow.models import Answer


@admin.register(Answer)
class AnswerAdmin(ReadOnlyMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = [
        "received_at",
        "incident",
        "person_asked",
        "answer",
        "channel",
        "sender",
        "flag_list",
        "counted",
    ]
    list_display_links = ["received_at", "answer"]
    list_select_related = ["request__incident", "request__person"]
    list_filter = [AnswerReviewFilter, "channel", "counted"]
    search_fields = ["=request__incident__number"]
    search_help_text = "An incident number finds its answers."
    ordering = ["-received_at", "-id"]
    list_per_page = 50
    fields = [
        "request",
        "option_key",
        "channel",
        "comment",
        "sender",
        "received_at",
        "from_recipient",
        "suspected_automated",
        "sender_mismatch",
        "is_revision",
        "late",
        "counted",
        "accepted_by",
        "review_task",
    ]
    readonly_fields = fields

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        number = number_lookup(search_term, {INCIDENT_NUMBER: "request__incident__number"})
        if number:
            return queryset.filter(**number), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="incident", ordering="request__incident__number")
    def incident(self, answer: Answer) -> str:
        incident = answer.request.incident
        url = reverse("admin:incidents_securityincident_change", args=[incident.pk])
        return format_html('<a href="{}">{}</a>', url, incident.number)

    @admin.display(description="asked")
    def person_asked(self, answer: Answer) -> str:
        request = answer.request
        return request.person.full_name if request.person else request.recipient_email

    @admin.display(description="answer")
    def answer(self, answer: Answer) -> str:
        return answer.request.label_of(answer.option_key)

    @admin.display(description="flags")
    def flag_list(self, answer: Answer) -> str:
        return ", ".join(answer.flags) or "-"
