"""Panels that higher layers add to the incident's admin page, listed by dotted path in
settings.INCIDENT_PAGE_PANELS: the incident admin shows them without importing them."""

from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string

from incidents.models import SecurityIncident


@dataclass(frozen=True)
class Panel:
    """A template included on the incident page; it reads `context` as `panel`. `place`:
    "header", in the summary at the top of the page (where things stand), or "below", after
    the form (what an analyst works through)."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    place: Literal["header", "below"] = "below"


def incident_panels(request: HttpRequest, incident: SecurityIncident) -> list[Panel]:
    """The panels with something to show for this incident and this user."""
    panels = (import_string(path)(request, incident) for path in settings.INCIDENT_PAGE_PANELS)
    return [panel for panel in panels if panel is not None]
