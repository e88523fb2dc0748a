"""Filters shared by the apps' FilterSets."""

from datetime import UTC, datetime

import django_filters as filters
from django import forms
from django_filters.fields import IsoDateTimeField


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time, converted to UTC before it reaches the query. PostgreSQL
    refuses some odd but valid offsets on ancient dates (0070-03-12T16:43-21:05), which
    would be a 500; in UTC they are plain timestamps. Out of range is a 400."""

    def to_python(self, value: object) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Enter a date-time within years 1 to 9999.") from None


class DateTimeFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class StatesFilter(filters.MultipleChoiceFilter):
    """One or more values of a field (?state=a&state=b). Without DISTINCT, which
    django-filter adds by default: these filters follow forward keys only, so no row
    comes twice, and DISTINCT would make PostgreSQL sort every match instead of reading
    the index in order, which grows with the table."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("distinct", False)
        super().__init__(*args, **kwargs)
