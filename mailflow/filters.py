"""Query filters of the mailflow API (django-filter); help texts become the OpenAPI
parameter descriptions."""

import django_filters as filters
from django.db.models import Q, QuerySet

from core.api.filters import StatesFilter
from mailflow.models import HELD_ANSWERS, OPEN_STATES, Answer, ConfirmationRequest


class RequestFilter(filters.FilterSet):
    incident = filters.CharFilter(field_name="incident__number", help_text="Incident number.")
    task = filters.CharFilter(field_name="task__number", help_text="Task number.")
    state = StatesFilter(
        choices=ConfirmationRequest.State.choices,
        help_text="One or more states (repeat).",
    )
    waiting = filters.BooleanFilter(
        method="filter_waiting", help_text="true: still waiting for an answer."
    )
    evidence_requested = filters.BooleanFilter(help_text="The person was asked for files.")
    channel = filters.ChoiceFilter(
        field_name="answers__channel",
        choices=Answer.Channel.choices,
        distinct=True,
        help_text="Has an answer through this channel.",
    )

    class Meta:
        model = ConfirmationRequest
        fields: list[str] = []

    def filter_waiting(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        return (
            queryset.filter(state__in=OPEN_STATES)
            if value
            else queryset.exclude(state__in=OPEN_STATES)
        )


class AnswerFilter(filters.FilterSet):
    incident = filters.CharFilter(
        field_name="request__incident__number", help_text="Incident number."
    )
    request = filters.NumberFilter(field_name="request_id", help_text="Request id.")
    state = StatesFilter(
        field_name="request__state",
        choices=ConfirmationRequest.State.choices,
        help_text="State of the answered request (repeat).",
    )
    channel = filters.ChoiceFilter(choices=Answer.Channel.choices, help_text="Channel.")
    option_key = filters.CharFilter(help_text="The option chosen, or unrecognised.")
    counted = filters.BooleanFilter(help_text="true: the answer that moved the runbook on.")
    suspected_automated = filters.BooleanFilter(help_text="Flag: looked like a mail scanner.")
    sender_mismatch = filters.BooleanFilter(help_text="Flag: not from the person asked.")
    is_revision = filters.BooleanFilter(help_text="Flag: changed an earlier answer.")
    late = filters.BooleanFilter(help_text="Flag: arrived after the request closed.")
    flagged = filters.BooleanFilter(method="filter_flagged", help_text="true: any flag set.")
    held = filters.BooleanFilter(
        method="filter_held",
        help_text="true: flagged as a possible scanner or another sender, not counted, and "
        "its question still open: waiting for an analyst to accept it.",
    )

    class Meta:
        model = Answer
        fields: list[str] = []

    def filter_flagged(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        flags = (
            Q(suspected_automated=True) | Q(sender_mismatch=True) | Q(is_revision=True)
            | Q(late=True)
        )  # fmt: skip
        return queryset.filter(flags) if value else queryset.exclude(flags)

    def filter_held(self, queryset: QuerySet, name: str, value: bool | None) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(HELD_ANSWERS) if value else queryset.exclude(HELD_ANSWERS)
