from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.throttling import AnonRateThrottle


class LoginThrottle(AnonRateThrottle):
    rate = "20/min"


class StaffTokenView(ObtainAuthToken):
    """Exchange a staff user name and password for the API token."""

    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(
        summary="Get the API token of a staff user",
        description="Send `username` and `password`; use the returned token as `Authorization: Token <token>`.",
        examples=[
            OpenApiExample("Credentials", value={"username": "admin", "password": "..."}, request_only=True),
            OpenApiExample("Token", value={"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"}, response_only=True),
        ],
        tags=["auth"],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)
