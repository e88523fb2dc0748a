"""The incident page's "Details" card: what happened, as the detection tool reported it
(incidents.details). Read-only: details come from the tool through the API, and an
analyst's notes go on the timeline."""

from datetime import datetime

from django.http import HttpRequest
from django.utils import timezone

from incidents.admin.panels import Panel
from incidents.details import detail_kind, detail_label
from incidents.models import SecurityIncident


def incident_details_panel(request: HttpRequest, incident: SecurityIncident) -> Panel | None:
    if not incident.details:
        return None
    rows = []
    for name, value in incident.details.items():
        shown = str(value)
        if detail_kind(name) == "time":
            try:
                moment = timezone.localtime(datetime.fromisoformat(shown))
                shown = f"{moment:%Y-%m-%d %H:%M %Z}"
            except ValueError:
                pass  # shown as stored
        rows.append({"label": detail_label(name), "value": shown, "name": name})
    return Panel("admin/incidents/securityincident/details_card.html", {"rows": rows}, "header")
