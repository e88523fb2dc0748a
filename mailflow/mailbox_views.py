"""The local mailbox: staff read what the local email backend "sent" (demo and development).
Gone (404) whenever a real email backend is configured. Every question's live answer links
are here, so staff status is not enough: it takes mailflow.view_local_mailbox (superusers,
and the demo's analysts)."""

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from mailflow.localmail import BACKEND, stored_email, stored_emails

PERMISSION = "mailflow.view_local_mailbox"


def _require_local_backend() -> None:
    if settings.EMAIL_BACKEND != BACKEND:
        raise Http404


@staff_member_required
@permission_required(PERMISSION, raise_exception=True)
def mailbox(request: HttpRequest) -> HttpResponse:
    _require_local_backend()
    context = {**admin.site.each_context(request), "title": "Local mailbox"}
    context["emails"] = stored_emails()
    return TemplateResponse(request, "mailflow/mailbox/list.html", context)


@staff_member_required
@permission_required(PERMISSION, raise_exception=True)
def mailbox_email(request: HttpRequest, name: str) -> HttpResponse:
    _require_local_backend()
    message = stored_email(name)
    if message is None:
        raise Http404
    context = {**admin.site.each_context(request), "title": message.subject, "email": message}
    return TemplateResponse(request, "mailflow/mailbox/email.html", context)
