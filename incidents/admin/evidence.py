"""Evidence, read-only: it is added from the incident page, through evidence_add. Files
are served for download, and raster images for preview, never rendered as they are."""

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from core.admin_helpers import LargeTableAdminMixin, ReadOnlyMixin
from incidents.evidence_download import evidence_download_response, harden
from incidents.models import Evidence


class QuarantinedFilter(admin.SimpleListFilter):
    title = "quarantined"
    parameter_name = "quarantined"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.exclude(quarantine_reason="")
        if self.value() == "no":
            return queryset.filter(quarantine_reason="")
        return queryset


@admin.register(Evidence)
class EvidenceAdmin(ReadOnlyMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Evidence is added from the incident page, through evidence_add."""

    list_display = [
        "filename",
        "incident",
        "detected_content_type",
        "size",
        "source",
        "quarantined",
        "added_at",
        "download",
    ]
    list_select_related = ["incident"]
    list_filter = ["source", "detected_content_type", QuarantinedFilter]
    search_fields = ["filename", "sha256", "=incident__number"]
    exclude = ["file"]
    readonly_fields = [f.name for f in Evidence._meta.fields if f.name != "file"] + ["download"]

    @admin.display(description="quarantined", boolean=True)
    def quarantined(self, evidence: Evidence) -> bool:
        return evidence.quarantined

    @admin.display(description="File")
    def download(self, evidence: Evidence) -> str:
        url = reverse("admin:incidents_evidence_download", args=[evidence.pk])
        return format_html('<a href="{}">Download</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:pk>/download/",
                self.admin_site.admin_view(self.download_view),
                name="incidents_evidence_download",
            ),
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="incidents_evidence_preview",
            ),
            *super().get_urls(),
        ]

    def _readable(self, request: HttpRequest, pk: int) -> Evidence:
        # admin_view has already sent anyone who is not active staff to the login page.
        if not request.user.has_perm("incidents.view_evidence"):
            raise PermissionDenied
        return get_object_or_404(Evidence, pk=pk)

    def download_view(self, request: HttpRequest, pk: int) -> FileResponse:
        """Always a download: the file is never rendered by the analyst's browser."""
        return evidence_download_response(self._readable(request, pk))

    def preview_view(self, request: HttpRequest, pk: int) -> FileResponse:
        """Inline only for raster images identified by their bytes, under a type the
        browser will not reinterpret (nosniff) and a CSP that forbids everything."""
        evidence = self._readable(request, pk)
        if not evidence.previewable:
            raise Http404
        response = FileResponse(
            evidence.file.open("rb"), content_type=evidence.detected_content_type
        )
        response["Content-Disposition"] = "inline"
        return harden(response)
