"""Small pieces every admin in the project uses to hand analysts' input to services."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path
from django.utils.functional import cached_property
from django.utils.html import format_html

from core.errors import DomainError
from core.text import has_invisible


class ReadOnlyMixin:
    """For records that only services write (timeline, evidence, runs, mail): the admin
    shows them and never adds, changes or deletes."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class InvisibleCharactersHintMixin:
    """An input obeys a right-to-left override in its value, and the value must stay as
    stored (saving the form saves it). Under such a field, say so and show the value with
    its invisible characters marked (by core.reveal_invisible)."""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        for name, field in form.base_fields.items():
            value = getattr(obj, name, None) if obj is not None else None
            if isinstance(value, str) and has_invisible(value):
                # Admin templates print help_text unescaped: format_html escapes the value.
                field.help_text = format_html(
                    "{} Contains invisible characters: {}", field.help_text, value
                )
        return form


def call_service(request: HttpRequest, call: Callable[[], object], success: str) -> bool:
    """Run a service call; report a refusal (and, if given, the success) as a message."""
    try:
        call()
    except DomainError as error:
        messages.error(request, str(error))
        return False
    if success:
        messages.success(request, success)
    return True


def form_errors_to_messages(request: HttpRequest, form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        for error in errors:
            messages.error(request, f"{label}: {error}" if label else error)


def object_button_url(
    model_admin: admin.ModelAdmin,
    name: str,
    handler: Callable[[HttpRequest, Any], None],
    *,
    allowed: Callable[[HttpRequest, Any], bool],
    back_to: Callable[[Any], str],
) -> URLPattern:
    """URL `<pk>/<name>/` for a button on an object's admin page: POST only (a link or a
    prefetching browser changes nothing), permission-checked, then back to `back_to(obj)`.
    Named `<app>_<model>_<name>`."""
    model: type[models.Model] = model_admin.model
    opts = model._meta

    def view(request: HttpRequest, pk: int) -> HttpResponse:
        obj = get_object_or_404(model, pk=pk)
        if request.method != "POST":
            raise Http404
        if not allowed(request, obj):
            raise PermissionDenied
        handler(request, obj)
        return HttpResponseRedirect(back_to(obj))

    return path(
        f"<int:pk>/{name}/",
        model_admin.admin_site.admin_view(view),
        name=f"{opts.app_label}_{opts.model_name}_{name}",
    )


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows. The admin counts the filtered list on every page load, and
    an exact COUNT(*) over a million timeline entries costs more than the page itself; no
    analyst pages past the 200th page of 50, they filter or search. The count reads at
    most CAP + 1 rows (a COUNT over a LIMIT subquery), so its cost stops growing with the
    table. The templates in admin/incidents/ show a capped count as "10000+"."""

    CAP = 10_000

    @cached_property
    def _counted(self) -> int:
        return self.object_list.order_by()[: self.CAP + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.CAP)

    @property
    def capped(self) -> bool:
        # A count set from a short first page (FirstPageChangeList) needs no query here.
        return self.count == self.CAP and self._counted > self.CAP


class StaffListFilter(admin.RelatedFieldListFilter):
    """Filter on a user foreign key (assignee, assigned analyst) offering the staff users.
    RelatedOnlyFieldListFilter would find the users actually used with SELECT DISTINCT over
    the whole filtered table on every page load; analysts are few, rows are many."""

    def field_choices(self, field, request: HttpRequest, model_admin: admin.ModelAdmin):
        users = get_user_model().objects.filter(is_staff=True, is_active=True)
        ordering = self.field_admin_ordering(field, request, model_admin) or ["username"]
        return [(user.pk, str(user)) for user in users.order_by(*ordering)]


class FirstPageChangeList(ChangeList):
    """Reads the first page once, one row more than fits, and takes the count from it when
    it is all there is. A search on free words has no index and reads every row: Django's
    ChangeList reads them twice (COUNT, then the page), this reads them once. When there
    is more than a page, the rows read are still the page, and the capped COUNT follows.
    Other pages, and "show all", are Django's."""

    def get_results(self, request: HttpRequest) -> None:
        if self.page_num != 1 or self.show_all:
            return super().get_results(request)
        per_page = self.list_per_page
        head = list(self.queryset[: per_page + 1])
        paginator = self.model_admin.get_paginator(request, self.queryset, per_page)
        if len(head) <= per_page:
            paginator.count = len(head)  # known: no COUNT query
        self.result_count = paginator.count
        self.show_full_result_count = self.model_admin.show_full_result_count
        self.full_result_count = self.root_queryset.count() if self.show_full_result_count else None
        self.show_admin_actions = not self.show_full_result_count or bool(self.full_result_count)
        self.result_list = head[:per_page]
        self.can_show_all = self.result_count <= self.list_max_show_all
        self.multi_page = self.result_count > per_page
        self.paginator = paginator
        return None


class LargeTableAdminMixin:
    """For admins of tables that grow without bound (incidents, tasks, timeline, evidence):
    page loads whose cost does not grow with the table."""

    paginator = CappedCountPaginator
    show_full_result_count = False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return FirstPageChangeList
