"""The end users' answer page, at the site root (the email links are /respond/<token>/)."""

from django.urls import path

from mailflow import views

app_name = "mailflow"

urlpatterns = [
    path("respond/", views.respond, name="respond"),
    # Before the token pattern, which would otherwise take "thanks" for a token.
    path("respond/thanks/", views.thanks, name="respond_thanks"),
    path("respond/<str:token>/", views.land, name="respond_land"),
]
