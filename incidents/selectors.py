"""Questions about incidents whose answer belongs to a higher layer.

Incidents import no app above them. When one of their pages or filters needs to know
something those apps keep (is a question to the affected person still waiting?), the
app that knows names a selector in settings, as it names its actions and timeline kinds.
"""

from django.conf import settings
from django.db.models import QuerySet
from django.utils.module_loading import import_string

from incidents.models import SecurityIncident


def incidents_waiting_for_answer() -> QuerySet[SecurityIncident]:
    """Incidents with a question to the affected person still waiting for its answer:
    settings.INCIDENT_WAITING_SELECTOR's answer, or none when no app asks questions."""
    path = getattr(settings, "INCIDENT_WAITING_SELECTOR", "")
    if not path:
        return SecurityIncident.objects.none()
    return import_string(path)()
