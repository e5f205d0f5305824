"""Public, unversioned URLs (the short tracking redirect ``/r/<code>``)."""

from django.urls import path

from api.campaigns.views import TrackingRedirectView

urlpatterns: list = [
    path("r/<str:code>", TrackingRedirectView.as_view(), name="tracking-redirect"),
]
