from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "SOC incident response"
admin.site.site_title = "SOC"
admin.site.index_title = "Incidents, tasks and runbooks"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("anymail/", include("anymail.urls")),
]
