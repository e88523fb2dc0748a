from django.urls import path

from core.sso.views import CallbackView, StartView

# The names mozilla-django-oidc reverses by default.
urlpatterns = [
    path("authenticate/", StartView.as_view(), name="oidc_authentication_init"),
    path("callback/", CallbackView.as_view(), name="oidc_authentication_callback"),
]
