"""Query filters of the incidents API (django-filter). Every filter has a help text: it
becomes the parameter's description in the OpenAPI schema."""

import django_filters as filters
from django.db.models import Q, QuerySet

from core.api.filters import DateTimeFilter, StatesFilter
from incidents.models import (
    ConfigurationItem,
    Evidence,
    Person,
    ResponseTask,
    SecurityIncident,
    TimelineEntry,
)
from incidents.selectors import incidents_waiting_for_answer
from incidents.timeline_kinds import kind_choices


class IncidentFilter(filters.FilterSet):
    state = StatesFilter(
        choices=SecurityIncident.State.choices,
        help_text="One or more states (repeat).",
    )
    category = filters.CharFilter(
        method="filter_category", help_text="Category slug or name (case-insensitive)."
    )
    priority = StatesFilter(
        choices=SecurityIncident.Priority.choices,
        help_text="One or more priorities, 1 (critical) to 4 (low) (repeat).",
    )
    assigned_to = filters.CharFilter(
        field_name="assigned_to__username", help_text="Username of the assigned analyst."
    )
    assigned = filters.BooleanFilter(
        field_name="assigned_to", lookup_expr="isnull", exclude=True,
        help_text="true: assigned to an analyst; false: unassigned.",
    )  # fmt: skip
    assignment_group = filters.CharFilter(
        field_name="assignment_group__name", help_text="Name of the assigned group."
    )
    affected_user_email = filters.CharFilter(
        field_name="affected_user__email",
        lookup_expr="iexact",
        help_text="Email of the affected person.",
    )
    affected_ci = filters.CharFilter(
        field_name="affected_ci__name", help_text="Name of the affected configuration item."
    )
    external_reference = filters.CharFilter(help_text="The detecting tool's alert id.")
    opened_after = DateTimeFilter(
        field_name="opened_at", lookup_expr="gte", help_text="Opened at or after (ISO 8601)."
    )
    opened_before = DateTimeFilter(
        field_name="opened_at", lookup_expr="lt", help_text="Opened before (ISO 8601)."
    )
    has_waiting_request = filters.BooleanFilter(
        method="filter_waiting",
        help_text="true: a question to the affected person awaits an answer; false: none.",
    )

    class Meta:
        model = SecurityIncident
        fields: list[str] = []

    def filter_category(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(category__slug=value) | Q(category__name__iexact=value))

    def filter_waiting(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        # A subquery rather than a join, so an incident with two open questions is listed
        # once without DISTINCT.
        waiting = incidents_waiting_for_answer().values("pk")
        return queryset.filter(pk__in=waiting) if value else queryset.exclude(pk__in=waiting)


class TaskFilter(filters.FilterSet):
    incident = filters.CharFilter(field_name="incident__number", help_text="Incident number.")
    state = StatesFilter(
        choices=ResponseTask.State.choices,
        help_text="One or more states (repeat).",
    )
    assignee = filters.CharFilter(
        field_name="assignee__username", help_text="Username of the assignee."
    )
    open = filters.BooleanFilter(method="filter_open", help_text="true: not yet finished.")

    class Meta:
        model = ResponseTask
        fields: list[str] = []

    def filter_open(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        open_states = [ResponseTask.State.OPEN, ResponseTask.State.IN_PROGRESS,
                       ResponseTask.State.AWAITING_USER]  # fmt: skip
        if value is None:
            return queryset
        if value:
            return queryset.filter(state__in=open_states)
        return queryset.exclude(state__in=open_states)


class TimelineFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=kind_choices, help_text="Entry kind, e.g. task.created.")
    kind_prefix = filters.CharFilter(
        field_name="kind", lookup_expr="startswith", help_text="Kind prefix, e.g. task."
    )

    class Meta:
        model = TimelineEntry
        fields: list[str] = []


class EvidenceFilter(filters.FilterSet):
    incident = filters.CharFilter(field_name="incident__number", help_text="Incident number.")
    task = filters.CharFilter(field_name="task__number", help_text="Task number.")
    source = filters.ChoiceFilter(choices=Evidence.Source.choices, help_text="Origin.")
    sha256 = filters.CharFilter(help_text="SHA-256 of the file (hex).")

    class Meta:
        model = Evidence
        fields: list[str] = []


class PersonFilter(filters.FilterSet):
    email = filters.CharFilter(lookup_expr="iexact", help_text="Email address.")
    kind = filters.ChoiceFilter(
        choices=Person.Kind.choices, help_text="person, or group (a shared mailbox)."
    )
    department = filters.CharFilter(help_text="Department (exact).")
    updated_after = DateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="Changed at or after (ISO 8601)."
    )

    class Meta:
        model = Person
        fields: list[str] = []


class ConfigurationItemFilter(filters.FilterSet):
    name = filters.CharFilter(help_text="Name (exact).")
    kind = filters.ChoiceFilter(choices=ConfigurationItem.Kind.choices, help_text="Kind.")
    owner_email = filters.CharFilter(
        field_name="owner__email", lookup_expr="iexact", help_text="Owner's email."
    )
    updated_after = DateTimeFilter(
        field_name="updated_at", lookup_expr="gte", help_text="Changed at or after (ISO 8601)."
    )

    class Meta:
        model = ConfigurationItem
        fields: list[str] = []
