"""The staff token endpoint: user name and password in, the API token out, for staff users only."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle

from api.common.parsers import JSONParser


class LoginThrottle(AnonRateThrottle):
    rate = "20/min"


# The component names DRF's serializer had (AuthTokenRequest in, AuthToken out): clients keep their types.
@extend_schema_serializer(component_name="AuthToken")
class StaffCredentialsSerializer(AuthTokenSerializer):
    """The user name and password of a staff user; the answer is their API token."""

    # The API is the staff's: a customer or partner account with a password must not get a token that
    # every later permission check would then have to refuse. The refusal reads exactly like wrong
    # credentials, so the endpoint does not tell whether a password is right for a non-staff account.

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        if not attrs["user"].is_staff:
            # The words and code of DRF's own refusal of wrong credentials.
            raise serializers.ValidationError(_("Unable to log in with provided credentials."), code="authorization")
        return attrs


class StaffTokenView(ObtainAuthToken):
    """Exchange a staff user name and password for the API token."""

    # The credentials are in the body: no token or session is needed (nor a CSRF check with it).
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]
    # JSON only, like every other endpoint (DRF's view also takes form data and multipart).
    parser_classes = [JSONParser]
    serializer_class = StaffCredentialsSerializer

    @extend_schema(
        summary="Get the API token of a staff user",
        description="Send `username` and `password` of a staff user as JSON; use the returned token as "
                    "`Authorization: Token <token>`. Wrong credentials and users who are not staff get the same 400.",
        examples=[
            OpenApiExample("Credentials", value={"username": "admin", "password": "..."}, request_only=True),
            OpenApiExample("Token", value={"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"}, response_only=True),
        ],
        tags=["auth"],
    )
    def post(self, request: Request, *args: object, **kwargs: object) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})
