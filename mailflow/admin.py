"""Read-only pages for confirmation requests and delivery events. Requests change only
through their services (sending, answers, deadlines, provider events), so the admin shows
them and never edits, adds or deletes."""

from django.contrib import admin
from django.http import HttpRequest

from mailflow.models import Answer, ConfirmationRequest, TrackingEvent


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class AnswerInline(ReadOnlyMixin, admin.TabularInline):
    model = Answer
    fields = ["option_key", "channel", "sender", "received_at", "flags", "counted"]
    readonly_fields = fields
    extra = 0
    can_delete = False


class TrackingEventInline(ReadOnlyMixin, admin.TabularInline):
    model = TrackingEvent
    fields = ["received_at", "provider", "event_type", "description", "processed_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


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
    list_filter = ["state"]
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
        "options",
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
        "last_error",
        "scanner_hits",
    ]
    readonly_fields = fields
    inlines = [AnswerInline, TrackingEventInline]


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
        "raw",
    ]
    readonly_fields = fields
