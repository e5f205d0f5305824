from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common.selectors import health_get
from api.common.serializers import HealthSerializer

_HEALTH_EXAMPLE = {
    "status": "ok",
    "time": "2026-11-25T09:00:00+01:00",
    "database": {"ok": True, "engine": "postgresql"},
    "broker": {"ok": True, "kind": "redis"},
    "workers": {"ok": True, "last_heartbeat_at": "2026-11-25T08:59:40+01:00", "age_seconds": 20.0,
                "worker": "celery@web-1"},
    "checks": {"order_events": {"ok": True, "failed": 0, "late": 0}},
}


class HealthView(APIView):
    """Database, broker and worker heartbeat, for operators and load balancers."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Health of the database, the broker and the workers",
        description="Public. 200 while the database answers (status `ok` or `degraded`), 503 when it does not. "
        "`workers.ok` is false when no worker ran the heartbeat task recently; `checks.order_events.ok` is "
        "false while an order event failed for good or is late for one of its listeners.",
        responses={200: HealthSerializer, 503: HealthSerializer},
        examples=[OpenApiExample("Everything is up", value=_HEALTH_EXAMPLE, response_only=True)],
        tags=["system"],
    )
    def get(self, request):
        health = health_get()
        return Response(HealthSerializer(health).data, status=503 if health["status"] == "down" else 200)
