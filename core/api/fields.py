"""Serializer fields the API shares."""

from typing import Any

from rest_framework import serializers

from core.text import has_nul


class SlugRelatedField(serializers.SlugRelatedField):
    """DRF's SlugRelatedField, refusing NUL as DRF's CharField does: the lookup would
    find nothing on SQLite and fail the request on PostgreSQL, which cannot compare it."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and has_nul(data):
            raise serializers.ValidationError("Null characters are not allowed.")
        return super().to_internal_value(data)
