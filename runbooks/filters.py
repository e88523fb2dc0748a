"""Query filters of the runbooks API (django-filter); help texts become the OpenAPI
parameter descriptions."""

import django_filters as filters

from core.api.filters import StatesFilter
from runbooks.models import Runbook, RunbookRun


class RunbookFilter(filters.FilterSet):
    active = filters.BooleanFilter(help_text="true: only active runbooks.")
    category = filters.CharFilter(
        field_name="categories__slug", help_text="Runs for this category (slug)."
    )

    class Meta:
        model = Runbook
        fields: list[str] = []


class RunFilter(filters.FilterSet):
    incident = filters.CharFilter(field_name="incident__number", help_text="Incident number.")
    state = StatesFilter(
        choices=RunbookRun.State.choices,
        help_text="One or more states (repeat).",
    )
    runbook = filters.CharFilter(field_name="runbook__name", help_text="Runbook name.")

    class Meta:
        model = RunbookRun
        fields: list[str] = []
