"""The "Mailboxes" page: the mailboxes replies are read from, each with how its polling
goes (last poll, last success, last error, backlog) and a "Poll now" action. The
configuration is edited here; the secret never is: the page names its environment
variable and says whether it is set."""

from datetime import timedelta

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from core.actors import Actor
from mailflow.mailbox_polling import mailbox_poll_now, mailbox_save, mailbox_secret_is_set
from mailflow.models import Mailbox

_STATUS = [
    "last_poll_at",
    "last_success_at",
    "last_error",
    "consecutive_failures",
    "next_poll_at",
    "backlog",
    "uid_validity",
    "last_uid",
]


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "enabled",
        "last_success",
        "error",
        "backlog",
        "next_poll",
    ]
    list_filter = ["enabled", "kind"]
    search_fields = ["name"]
    actions = ["poll_now"]
    readonly_fields = ["secret", *_STATUS]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    # Which fields each kind reads: a Microsoft 365 mailbox leaves the IMAP ones empty.
    fieldsets = [
        (
            None,
            {"fields": ["name", "kind", "enabled", "folder", "processed_folder", "poll_interval"]},
        ),
        (
            "Login (both kinds)",
            {
                "description": "Microsoft 365: the user name is the mailbox's address, the "
                "variable holds the app's client secret or certificate (PEM), and the "
                "client id is the app registration's.",
                "fields": ["username", "secret_env", "secret", "oauth_client_id"],
            },
        ),
        (
            "IMAP only",
            {
                "fields": [
                    "host",
                    "port",
                    "security",
                    "auth",
                    "oauth_token_url",
                    "oauth_scope",
                    "oauth_grant",
                ]
            },
        ),
        (
            "Microsoft 365 (Graph) only",
            {
                "description": "The app registration needs the Mail.ReadWrite application "
                "permission, limited to this mailbox; see docs/inbound-graph.md.",
                "fields": ["tenant_id"],
            },
        ),
        ("Status", {"fields": _STATUS}),
    ]

    # Relative times: the list is read to see whether polling is healthy right now, and
    # they keep the list within the page beside its filters.
    @admin.display(description="last success", ordering="last_success_at")
    def last_success(self, obj: Mailbox) -> str:
        if not obj.last_success_at:
            return "never"
        if timezone.now() - obj.last_success_at < timedelta(minutes=1):
            return "just now"
        return f"{timesince(obj.last_success_at)} ago"

    @admin.display(description="next poll", ordering="next_poll_at")
    def next_poll(self, obj: Mailbox) -> str:
        if not obj.enabled:
            return "disabled"
        if not obj.next_poll_at or obj.next_poll_at <= timezone.now():
            return "due now"
        if obj.next_poll_at - timezone.now() < timedelta(minutes=1):
            return "in under a minute"
        return f"in {timeuntil(obj.next_poll_at)}"

    @admin.display(description="last error")
    def error(self, obj: Mailbox) -> str:
        return obj.last_error or self.get_empty_value_display()

    @admin.display(description="secret")
    def secret(self, obj: Mailbox) -> str:
        if not obj.secret_env:
            return self.get_empty_value_display()
        state = "set" if mailbox_secret_is_set(obj) else "NOT SET in this process"
        return format_html("<code>{}</code>: {}", obj.secret_env, state)

    def save_model(self, request: HttpRequest, obj: Mailbox, form, change: bool) -> None:
        mailbox_save(mailbox=obj, actor=Actor.analyst(request.user))

    @admin.action(description="Poll the selected mailboxes now", permissions=["change"])
    def poll_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        enabled = list(queryset.filter(enabled=True))
        for mailbox in enabled:
            mailbox_poll_now(mailbox=mailbox, actor=Actor.analyst(request.user))
        skipped = queryset.count() - len(enabled)
        self.message_user(
            request,
            f"{len(enabled)} mailbox(es) queued for a poll"
            + (f"; {skipped} disabled, not polled." if skipped else "."),
            messages.SUCCESS if enabled else messages.WARNING,
        )
