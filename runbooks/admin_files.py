"""Runbook files from the runbook list: import an uploaded YAML file, and download one
runbook or the selected ones as YAML.

The import is the `runbooks import` command's (runbooks/files.py): the same validation,
every problem listed as "step N, field: message", nothing saved unless the whole file is
valid, and each imported runbook a new version recorded in its History under the author's
name. An upload is read as hostile: its size is capped before it is read, and the parser
refuses what would make a small file expensive (files.py).
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.text import slugify

from core.actors import Actor
from runbooks.files import RunbookFileError, runbook_export, runbooks_import_stream
from runbooks.models import Runbook

# A runbook file is a few kilobytes; anything far larger is refused unread.
MAX_RUNBOOK_FILE_BYTES = 256 * 1024
YAML_CONTENT_TYPE = "application/yaml; charset=utf-8"


class RunbookFileForm(forms.Form):
    file = forms.FileField(
        label="Runbook file (YAML)",
        help_text=f"UTF-8, at most {MAX_RUNBOOK_FILE_BYTES // 1024} KB, as the runbook list or "
        "`manage.py runbooks export` writes it; one runbook or several. A runbook of the same "
        "name is replaced by a new version. Nothing is imported unless every runbook in the "
        "file is valid.",
    )


def yaml_download(runbooks: list[Runbook]) -> HttpResponse:
    """One runbook as its file; several as one YAML stream, a document each (as `runbooks
    export` prints them), which the import reads back."""
    text = "---\n".join(runbook_export(runbook) for runbook in runbooks)
    name = (
        f"{slugify(runbooks[0].name) or 'runbook'}.yaml" if len(runbooks) == 1 else "runbooks.yaml"
    )
    response = HttpResponse(text, content_type=YAML_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class RunbookFilesAdminMixin:
    """Mix into the runbook ModelAdmin (before admin.ModelAdmin)."""

    change_list_template = "admin/runbooks/runbook/change_list.html"
    change_form_template = "admin/runbooks/runbook/change_form.html"
    actions = ["download_yaml"]

    def has_import_permission(self, request: HttpRequest) -> bool:
        # An import creates runbooks and also replaces existing ones, so it takes both.
        return self.has_add_permission(request) and self.has_change_permission(request)

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        prefix = f"{opts.app_label}_{opts.model_name}"
        # Ahead of the default URLs, whose "<path:object_id>/" would swallow ours.
        return [
            path("import/", self.admin_site.admin_view(self.import_view), name=f"{prefix}_import"),
            path(
                "<int:pk>/yaml/",
                self.admin_site.admin_view(self.export_view),
                name=f"{prefix}_export",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "yaml_import_allowed": self.has_import_permission(request),
        }
        return super().changelist_view(request, extra_context)

    # --- export

    @admin.action(description="Download selected runbooks as YAML", permissions=["view"])
    def download_yaml(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return yaml_download(list(queryset.prefetch_related("categories", "steps")))

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        runbook = get_object_or_404(Runbook, pk=pk)
        if not self.has_view_permission(request, runbook):
            raise PermissionDenied
        return yaml_download([runbook])

    # --- import

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        opts = self.model._meta
        problems: list[str] = []
        form = RunbookFileForm(request.POST, request.FILES) if request.method == "POST" else None
        if form is not None and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                imported = self._import(request, upload)
            except RunbookFileError as error:
                problems = error.problems
            else:
                listed = ", ".join(f"{r.name} (version {r.version})" for r in imported)
                self.message_user(request, f"Imported {listed}.", messages.SUCCESS)
                changelist = reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_changelist",
                    current_app=self.admin_site.name,
                )
                return HttpResponseRedirect(changelist)
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "title": "Import runbooks from a YAML file",
            "form": form or RunbookFileForm(),
            "errors": problems,
            "intro": (
                "To change a runbook in a file, download it from the runbook list (select it "
                'and choose "Download selected runbooks as YAML", or "Download YAML" on its '
                "page), edit it, and upload it here."
            ),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/import_file.html", context)

    @staticmethod
    def _import(request: HttpRequest, upload) -> list[Runbook]:
        if upload.size is not None and upload.size > MAX_RUNBOOK_FILE_BYTES:
            raise RunbookFileError(
                [f"file: larger than {MAX_RUNBOOK_FILE_BYTES // 1024} KB; is it a runbook file?"]
            )
        data = upload.read(MAX_RUNBOOK_FILE_BYTES + 1)
        if len(data) > MAX_RUNBOOK_FILE_BYTES:
            raise RunbookFileError([f"file: larger than {MAX_RUNBOOK_FILE_BYTES // 1024} KB"])
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise RunbookFileError(["file: not UTF-8 text; is it a runbook file?"]) from None
        return runbooks_import_stream(
            text,
            actor=Actor.analyst(request.user),
            source=f"{upload.name} (uploaded)",
        )
