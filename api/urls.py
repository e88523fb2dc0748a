"""The REST API's URL wiring: every app's endpoints under /api/, and the OpenAPI schema and
docs generated from them. The base classes they share live in core.api."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

# The schema views below describe the token authentication through this extension.
from core.api import schema  # noqa: F401
from core.api.permissions import IsAuthenticated
from incidents.api import (
    ConfigurationItemViewSet,
    EvidenceViewSet,
    IncidentViewSet,
    PersonViewSet,
    TaskViewSet,
)
from mailflow.api import AnswerViewSet, CampaignView, RequestViewSet
from runbooks.api import RunbookViewSet, RunViewSet

router = DefaultRouter()
router.register("incidents", IncidentViewSet, basename="incident")
router.register("tasks", TaskViewSet, basename="task")
router.register("evidence", EvidenceViewSet, basename="evidence")
router.register("requests", RequestViewSet, basename="request")
router.register("answers", AnswerViewSet, basename="answer")
router.register("runbooks", RunbookViewSet, basename="runbook")
router.register("runs", RunViewSet, basename="run")
router.register("directory/people", PersonViewSet, basename="person")
router.register("directory/cis", ConfigurationItemViewSet, basename="ci")

app_name = "api"
urlpatterns = [
    # Anonymous callers get 401 here too: the schema describes the whole case record.
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]),
        name="schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", permission_classes=[IsAuthenticated]),
        name="docs",
    ),
    # An incident's campaign, served by mailflow (incidents may not import it).
    re_path(
        r"^incidents/(?P<number>[A-Za-z0-9]{1,16})/campaign/$",
        CampaignView.as_view(),
        name="incident-campaign",
    ),
    path("", include(router.urls)),
]
