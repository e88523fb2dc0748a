"""An object's admin History, as its History page lists it."""

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model

ACTIONS = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}


def admin_history(obj: Model) -> list[tuple[str, str, str]]:
    """(action, username, message) for each entry, oldest first."""
    entries = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)
    ).order_by("action_time", "pk")
    return [
        (ACTIONS[entry.action_flag], entry.user.get_username(), entry.get_change_message())
        for entry in entries
    ]
