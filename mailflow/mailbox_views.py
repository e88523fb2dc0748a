"""The local mailbox: staff read what the local email backend "sent" (demo and development).
Gone (404) whenever a real email backend is configured. Every question's live answer links
are here, so staff status is not enough: it takes mailflow.view_local_mailbox (superusers,
and the demo's analysts).

An email's HTML part is shown as the person sees it, inside a frame that keeps it from the
admin: sandboxed without scripts or same-origin access, under a policy that refuses scripts
and every fetch but inline styles. It may open links in a new tab (the answer links are how
a scenario is played through), and those tabs leave the sandbox so the answer page works."""

import re

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from mailflow.localmail import BACKEND, stored_email, stored_emails

PERMISSION = "mailflow.view_local_mailbox"
FRAME_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"
FRAME_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_DOCTYPE = re.compile(r"\A\s*<!doctype[^>]*>", re.IGNORECASE)


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
    part = "text" if request.GET.get("part") == "text" or not message.html else "html"
    context = {
        **admin.site.each_context(request),
        "title": message.subject,
        "email": message,
        "part": part,
        "frame": html_frame(message.html) if part == "html" else "",
    }
    return TemplateResponse(request, "mailflow/mailbox/email.html", context)


def html_frame(html: str) -> SafeString:
    """The HTML part in a sandboxed frame. srcdoc is an attribute, so format_html escapes
    the document once: the email cannot close the frame and write into the admin page."""
    doctype = _DOCTYPE.match(html)
    head = doctype.group(0) if doctype else "<!doctype html>"
    document = (
        f'{head}<meta http-equiv="Content-Security-Policy" content="{FRAME_POLICY}">'
        # Links open in a new tab: the frame itself may not navigate away.
        f'<base target="_blank">{html[doctype.end() if doctype else 0 :]}'
    )
    return format_html(
        '<iframe class="soc-email-html" title="The email as HTML" sandbox="{}" '
        'referrerpolicy="no-referrer" srcdoc="{}"></iframe>',
        FRAME_SANDBOX,
        document,
    )
