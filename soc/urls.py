from anymail import urls as anymail_urls
from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

# anymail's views, routed below, signal each event they read; mailflow.receivers store them.
from mailflow import receivers, webhooks  # noqa: F401
from mailflow.admin_ask_people import ask_people_view
from mailflow.admin_campaign import (
    campaign_csv_view,
    campaign_progress_view,
    campaign_remind_view,
    campaign_view,
)
from mailflow.configured_providers import configured_urls
from mailflow.mailbox_views import mailbox, mailbox_email
from runbooks.admin_incident import start_runbook_view
from soc.metrics_view import metrics_view

admin.site.site_header = "SOC incident response"
admin.site.site_title = "SOC"
admin.site.index_title = "Incidents, tasks and runbooks"

# The answer page's style and headers for a person; machine answers on /anymail/ and /api/.
handler500 = "mailflow.error_pages.server_error"

FAVICON = "soc/favicon.ico"


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    # Browsers ask for /favicon.ico on a page that names no icon: the answer pages, the
    # local mailbox, the API's. The admin's pages name it (templates/admin/base_site.html).
    return HttpResponseRedirect(static(FAVICON))


urlpatterns = [
    # The analysts' home is the admin; the admin's own "View site" link leads here.
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("favicon.ico", favicon),
    # For Prometheus; off (404) until METRICS_TOKEN or METRICS_ALLOWED_IPS is set.
    path("metrics", metrics_view, name="metrics"),
    # Under the incident's admin path, ahead of the admin's own: the sidebar marks the model
    # whose URL the page's path starts with, and these pages belong to an incident. Wired
    # here because incidents may not import mailflow or runbooks.
    path(
        "admin/incidents/securityincident/<int:incident_id>/ask-people/",
        admin.site.admin_view(ask_people_view),
        name="incident_ask_people",
    ),
    path(
        "admin/incidents/securityincident/<int:incident_id>/campaign/",
        admin.site.admin_view(campaign_view),
        name="incident_campaign",
    ),
    path(
        "admin/incidents/securityincident/<int:incident_id>/campaign/progress/",
        admin.site.admin_view(campaign_progress_view),
        name="incident_campaign_progress",
    ),
    path(
        "admin/incidents/securityincident/<int:incident_id>/campaign/remind/",
        admin.site.admin_view(campaign_remind_view),
        name="incident_campaign_remind",
    ),
    path(
        "admin/incidents/securityincident/<int:incident_id>/campaign/people.csv",
        admin.site.admin_view(campaign_csv_view),
        name="incident_campaign_csv",
    ),
    path(
        "admin/incidents/securityincident/<int:incident_id>/start-runbook/",
        admin.site.admin_view(start_runbook_view),
        name="incident_start_runbook",
    ),
    path("admin/", admin.site.urls),
    # Single sign-on: the redirect URI to register at the provider is SITE_URL/oidc/callback/.
    # Both views answer 404 while it is off (OIDC_RP_CLIENT_ID unset).
    path("oidc/", include("core.sso.urls")),
    # Inbound posts kept as they came for the worker, ahead of anymail's own views. A
    # provider that is not configured answers 404 on all of them.
    path("", include(configured_urls(webhooks.urlpatterns))),
    path("anymail/", include((configured_urls(anymail_urls.urlpatterns), "anymail"))),
    path("api/", include("api.urls")),
    # Only with the local email backend (404 otherwise): read what the demo "sent".
    path("dev/mailbox/", mailbox, name="mailbox"),
    path("dev/mailbox/<str:name>/", mailbox_email, name="mailbox_email"),
    path("", include("mailflow.urls")),
]
