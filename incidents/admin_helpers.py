"""Small pieces every admin in the project uses to hand analysts' input to services."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path

from incidents.errors import DomainError


class ReadOnlyMixin:
    """For records that only services write (timeline, evidence, runs, mail): the admin
    shows them and never adds, changes or deletes."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


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
