"""Read-only pages for confirmation requests, delivery events and inbound email. Requests
change only through their services (sending, answers, deadlines, provider events), so the
admin shows them and never edits, adds or deletes; failed inbound email can be reprocessed."""

import nh3
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from core.actors import Actor
from core.admin_helpers import ReadOnlyMixin, call_service, object_button_url
from core.logging import redact_reply_tokens
from mailflow import (
    admin_answers,  # noqa: F401 (registers the answers' admin)
    admin_mailboxes,  # noqa: F401 (registers the mailboxes' admin)
    parsing,
)
from mailflow.admin_approvals import approval_vote_view
from mailflow.admin_held_answers import accept_held_answer_view
from mailflow.admin_list_filters import InboundReviewFilter, WaitingFilter
from mailflow.admin_question import held_section, question_summary
from mailflow.admin_request_actions import request_action_urls
from mailflow.inbound.retry import inbound_reprocess
from mailflow.inbound_review import inbound_accept_as_answer
from mailflow.models import (
    HELD_ANSWERS,
    Answer,
    ConfirmationRequest,
    InboundEmail,
    ResentEmail,
    TrackingEvent,
)
from mailflow.parsing import ParsedMessage, parse_message


class AnswerInline(ReadOnlyMixin, admin.TabularInline):
    model = Answer
    fields = ["option", "channel", "sender", "received_at", "flag_words", "counted"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Answer]:
        return super().get_queryset(request).select_related("request")

    @admin.display(description="answer")
    def option(self, obj: Answer) -> str:
        return obj.request.label_of(obj.option_key)

    @admin.display(description="flags")
    def flag_words(self, obj: Answer) -> str:
        return ", ".join(obj.flags) or "none"


class TrackingEventInline(ReadOnlyMixin, admin.TabularInline):
    model = TrackingEvent
    fields = ["received_at", "provider", "event_type", "description", "processed_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


class ResentEmailInline(ReadOnlyMixin, admin.TabularInline):
    model = ResentEmail
    verbose_name = "email sent again"
    verbose_name_plural = "emails sent again"
    fields = ["created_at", "requested_by", "sent_at", "message_id", "failed", "last_error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ResentEmail]:
        # Each row prints the email (its __str__ names the incident).
        return super().get_queryset(request).select_related("requested_by", "request__incident")


@admin.register(ConfirmationRequest)
class ConfirmationRequestAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "incident",
        "person",
        "state",
        "sent_at",
        "delivered_at",
        "answered_at",
        "deadline_at",
        "scanner_hits",
    ]
    list_select_related = ["incident", "person"]
    list_filter = ["state", WaitingFilter]
    search_fields = ["=incident__number"]
    # The token nonce and hashes stay off the page: they are the keys to the answer links.
    fields = [
        "incident",
        "run",
        "step_position",
        "task",
        "person",
        "recipient_email",
        "language",
        "question",
        "option_labels",
        "subject",
        "body",
        "evidence_requested",
        "state",
        "message_id",
        "provider_message_id",
        "created_at",
        "sent_at",
        "delivered_at",
        "answered_at",
        "remind_at",
        "deadline_at",
        "reminders_sent",
        "send_attempts",
        "send_deferrals",
        "last_error",
        "scanner_hits",
    ]
    readonly_fields = fields
    inlines = [AnswerInline, ResentEmailInline, TrackingEventInline]
    # The summary and the actions above the fields (mailflow.admin_question).
    change_form_template = "admin/mailflow/confirmationrequest/change_form.html"

    @admin.display(description="options")
    def option_labels(self, obj: ConfirmationRequest) -> str:
        labels = format_html_join("", "<li>{}</li>", ((o["label"],) for o in obj.options))
        return format_html('<ul style="margin: 0; padding-left: 1.2em">{}</ul>', labels)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None
    ):
        question = (
            ConfirmationRequest.objects.select_related("person", "incident", "task")
            .filter(pk=object_id if object_id.isdigit() else None)
            .first()
        )
        if question is not None and self.has_view_permission(request, question):
            held = Answer.objects.filter(HELD_ANSWERS, request=question).select_related(
                "request__person", "review_task"
            )
            extra_context = {
                **(extra_context or {}),
                "question": question_summary(request.user, question),
                "held": held_section(request.user, held),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "held-answers/<int:answer_id>/accept/",
                self.admin_site.admin_view(accept_held_answer_view),
                name="mailflow_held_answer_accept",
            ),
            path(
                "approvals/<int:request_id>/vote/",
                self.admin_site.admin_view(approval_vote_view),
                name="mailflow_approval_vote",
            ),
            *request_action_urls(self),
            *super().get_urls(),
        ]


@admin.register(TrackingEvent)
class TrackingEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["received_at", "provider", "event_type", "request", "processed_at"]
    list_select_related = ["request__incident"]
    list_filter = ["provider", "event_type"]
    search_fields = ["=message_id", "=request__incident__number"]
    fields = [
        "provider",
        "event_type",
        "event_id",
        "message_id",
        "request",
        "recipient",
        "description",
        "occurred_at",
        "received_at",
        "processed_at",
        "attempts",
        "raw",
    ]
    readonly_fields = fields


# --- Inbound email ----------------------------------------------------------------------

# Formatting only: no links, images, media, forms, frames, scripts or styles, and no
# attributes at all (so no event handlers, inline CSS or URLs). The text between removed
# tags stays; script and style content goes.
SAFE_HTML_TAGS = {
    "p", "br", "div", "span", "b", "strong", "i", "em", "u", "s", "small", "sub", "sup",
    "blockquote", "pre", "code", "hr", "ul", "ol", "li", "dl", "dt", "dd",
    "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption",
    "h1", "h2", "h3", "h4", "h5", "h6",
}  # fmt: skip
# Inside the sandboxed frame: nothing may load, whatever survived sanitising.
_FRAME_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
MAX_SHOWN_TEXT = 200_000


def sanitise_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=SAFE_HTML_TAGS,
        clean_content_tags={"script", "style", "title", "template", "noscript"},
        attributes={},
        url_schemes=set(),
        link_rel=None,
        strip_comments=True,
    )


def _parsed(inbound: InboundEmail) -> ParsedMessage | None:
    """The stored original, parsed once per page (the readonly fields each ask)."""
    if not hasattr(inbound, "_parsed_message"):
        try:
            with inbound.raw.open("rb") as handle:
                inbound._parsed_message = parse_message(handle.read())
        except (OSError, ValueError):
            inbound._parsed_message = None
    return inbound._parsed_message


def _unreadable() -> str:
    return format_html("<em>{}</em>", "The stored message could not be read.")


def _unparsed() -> str:
    return format_html(
        "<em>{}</em>", "Not parsed: the provider's post is kept as it came (see below)."
    )


@admin.register(InboundEmail)
class InboundEmailAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """What came in and what became of it. Everything from the mail is hostile: Django
    escapes the plain fields, the methods below build HTML only with format_html, and
    the HTML part is sanitised and shown in a sandboxed frame that loads nothing."""

    list_display = [
        "received_at",
        "provider",
        "status",
        "classification",
        "correlation",
        "incident_number",
        "subject",
    ]
    list_select_related = ["request__incident", "incident"]
    list_filter = ["status", InboundReviewFilter, "classification", "provider"]
    search_fields = ["subject", "message_id"]
    actions = ["reprocess_failed"]
    fields = [
        "status",
        "reason",
        "accept_as_answer",
        "classification",
        "correlation",
        "request",
        "incident",
        "answer",
        "reply_text",
        "original_text",
        "original_html",
        "attachment_list",
        "parse_problems",
        "subject",
        "from_header",
        "to",
        "envelope_sender",
        "recipient",
        "message_id",
        "verdicts",
        "provider",
        "provider_event_id",
        "received_at",
        "processed_at",
        "attempts",
        "size",
        "post_content_type",
    ]
    readonly_fields = fields

    @admin.display(description="incident", ordering="request__incident__number")
    def incident_number(self, obj: InboundEmail) -> str:
        incident = obj.request.incident if obj.request else obj.incident
        return incident.number if incident else self.get_empty_value_display()

    # Reply addresses carry the request's reply token: shown without it, as everywhere.
    @admin.display(description="to")
    def to(self, obj: InboundEmail) -> str:
        return redact_reply_tokens(obj.to_header)

    @admin.display(description="envelope recipient")
    def recipient(self, obj: InboundEmail) -> str:
        return redact_reply_tokens(obj.envelope_recipient)

    @admin.display(description="original message (text)")
    def original_text(self, obj: InboundEmail) -> str:
        if obj.post and not obj.raw:
            return _unparsed()
        parsed = _parsed(obj)
        if parsed is None:
            return _unreadable()
        text = redact_reply_tokens(parsed.text[:MAX_SHOWN_TEXT]) or "(no text)"
        if len(parsed.text) > MAX_SHOWN_TEXT:
            text += f"\n[… cut at {MAX_SHOWN_TEXT} characters]"
        return format_html('<pre style="white-space: pre-wrap; margin: 0">{}</pre>', text)

    @admin.display(description="HTML part (sanitised)")
    def original_html(self, obj: InboundEmail) -> str:
        parsed = _parsed(obj)
        if parsed is None or not parsed.html.strip():
            return self.get_empty_value_display()
        document = (
            f'<!doctype html><meta http-equiv="Content-Security-Policy" '
            f'content="{_FRAME_POLICY}">{sanitise_html(redact_reply_tokens(parsed.html))}'
        )
        # srcdoc is an attribute, so format_html escapes the document once more; the
        # empty sandbox forbids scripts, forms, navigation and same-origin access.
        return format_html(
            "<details><summary>Show</summary>"
            '<iframe sandbox="" referrerpolicy="no-referrer" srcdoc="{}" '
            'style="width: 100%; height: 24em; border: 1px solid #ccc"></iframe></details>',
            document,
        )

    @admin.display(description="attachments")
    def attachment_list(self, obj: InboundEmail) -> str:
        parsed = _parsed(obj)
        if parsed is None:
            return _unreadable()
        if not parsed.attachments:
            return self.get_empty_value_display()
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    a.filename or "(no name)",
                    a.content_type,
                    filesizeformat(a.size),
                    "inline" if a.inline else "attachment",
                )
                for a in parsed.attachments
            ),
        )
        return format_html(
            "<table><tr><th>Name</th><th>Type</th><th>Size</th><th></th></tr>{}</table>",
            rows,
        )

    @admin.display(description="parsing problems")
    def parse_problems(self, obj: InboundEmail) -> str:
        parsed = _parsed(obj)
        if parsed is None:
            return _unreadable()
        return "; ".join(parsed.problems) or self.get_empty_value_display()

    def get_readonly_fields(self, request: HttpRequest, obj: InboundEmail | None = None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None or not self._acceptable(request, obj):
            fields.remove("accept_as_answer")
        return fields

    def get_fields(self, request: HttpRequest, obj: InboundEmail | None = None):
        return self.get_readonly_fields(request, obj)

    def _acceptable(self, request: HttpRequest, obj: InboundEmail) -> bool:
        return (
            obj.status == InboundEmail.Status.FLAGGED
            and obj.classification == parsing.REPLY
            and obj.request_id is not None
            and self.has_reprocess_permission(request)
        )

    @admin.display(description="accept as the answer")
    def accept_as_answer(self, obj: InboundEmail) -> str:
        # Buttons of the page's own form (its CSRF token goes along), posted elsewhere.
        url = reverse("admin:mailflow_inboundemail_accept", args=[obj.pk])
        buttons = format_html_join(
            " ",
            '<button type="submit" class="button" formaction="{}" formmethod="post" '
            'name="option" value="{}">Accept as “{}”</button>',
            ((url, option["key"], option["label"]) for option in obj.request.options),
        )
        return format_html(
            "<p>{}</p>{}",
            "Only after you have verified with the person, through another channel, that "
            "they sent it: the runbook then continues on this answer, in your name.",
            buttons,
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            object_button_url(
                self,
                "accept",
                self._accept,
                allowed=self._acceptable,
                back_to=lambda obj: reverse("admin:mailflow_inboundemail_change", args=[obj.pk]),
            ),
            *super().get_urls(),
        ]

    def _accept(self, request: HttpRequest, obj: InboundEmail) -> None:
        option = request.POST.get("option", "")
        call_service(
            request,
            lambda: inbound_accept_as_answer(
                inbound=obj, option_key=option, actor=Actor.analyst(request.user)
            ),
            f"Accepted as the answer “{obj.request.label_of(option)}”.",
        )

    def has_reprocess_permission(self, request: HttpRequest) -> bool:
        # Changing is otherwise off for everyone; reprocessing is the one change allowed.
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @admin.action(description="Reprocess selected failed messages", permissions=["reprocess"])
    def reprocess_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = sum(
            inbound_reprocess(inbound=inbound)
            for inbound in queryset.filter(status=InboundEmail.Status.FAILED)
        )
        skipped = queryset.count() - done
        self.message_user(
            request,
            f"{done} message(s) queued for processing again"
            + (f"; {skipped} skipped (only failed messages are reprocessed)." if skipped else "."),
            messages.SUCCESS if done else messages.WARNING,
        )
