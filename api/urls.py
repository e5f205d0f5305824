"""URLs of Confiotes: the versioned API under /api/v1/, its docs, the admin and the staff back office (/app/)."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from api.common.auth_views import StaffTokenView

handler400 = "api.common.exceptions.json_400"
handler403 = "api.common.exceptions.json_403"
handler404 = "api.common.exceptions.json_404"
handler500 = "api.common.exceptions.json_500"

api_v1: list = [
    path("", include("api.common.urls")),
    path("auth/token", StaffTokenView.as_view(), name="auth-token"),
    path("", include("api.contacts.urls")),
    path("", include("api.orders.urls")),
    path("", include("api.campaigns.urls")),
    path("", include("api.nurture.urls")),
    path("", include("api.attribution.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("admin/", admin.site.urls),
    path("app/", include("api.backoffice.urls")),
    path("", include("api.campaigns.public_urls")),
]
