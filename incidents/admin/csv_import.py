"""An "Import CSV" page for a ModelAdmin, backed by a directory import service."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from incidents.directory import MAX_IMPORT_BYTES, DirectoryImportError, ImportReport, RowError


class CsvImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text=f"UTF-8, at most {MAX_IMPORT_BYTES // (1024 * 1024)} MB. "
        "Nothing is imported unless every row is valid.",
    )


class CsvImportAdminMixin:
    """Mix into a ModelAdmin (before admin.ModelAdmin) and set `csv_importer`.

    `csv_importer` is a service such as `directory_import_people`: keyword `data: bytes`,
    returns an ImportReport, raises DirectoryImportError.
    """

    csv_importer: Callable[..., ImportReport]
    csv_columns_help: str = ""
    change_list_template = "admin/incidents/change_list_with_import.html"

    def has_csv_import_permission(self, request: HttpRequest) -> bool:
        # An import creates rows and also overwrites existing ones, so it takes both.
        return self.has_add_permission(request) and self.has_change_permission(request)

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        view = self.admin_site.admin_view(self.import_csv_view)
        name = f"{opts.app_label}_{opts.model_name}_import_csv"
        # Ahead of the default URLs, whose "<path:object_id>/" would swallow ours.
        return [path("import-csv/", view, name=name), *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "csv_import_allowed": self.has_csv_import_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def import_csv_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_csv_import_permission(request):
            raise PermissionDenied
        opts = self.model._meta
        errors: list[RowError] = []
        form = CsvImportForm(request.POST, request.FILES) if request.method == "POST" else None
        if form is not None and form.is_valid():
            # Through the class: a plain function stored on a class would be bound to self.
            importer = type(self).csv_importer
            try:
                # One byte over the limit lets the service refuse a huge upload unread.
                report = importer(data=form.cleaned_data["file"].read(MAX_IMPORT_BYTES + 1))
            except DirectoryImportError as error:
                errors = error.errors
            else:
                self.message_user(
                    request,
                    f"Created {report.created}, updated {report.updated}.",
                    messages.SUCCESS,
                )
                changelist = f"admin:{opts.app_label}_{opts.model_name}_changelist"
                return HttpResponseRedirect(reverse(changelist, current_app=self.admin_site.name))
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "title": f"Import {opts.verbose_name_plural} from CSV",
            "form": form or CsvImportForm(),
            "errors": errors,
            "intro": self.csv_columns_help,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/import_file.html", context)
