"""Views used only by the foundation tests, mounted beside the real URLs."""

from django.urls import include, path
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from api.common.errors import ConflictError
from api.common.models import SystemFlag
from api.urls import urlpatterns as real_urlpatterns


class _LineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField(min_value=1)


class _OrderSerializer(serializers.Serializer):
    phone = serializers.CharField()
    lines = _LineSerializer(many=True)


class EchoOrderView(APIView):
    def post(self, request):
        serializer = _OrderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class ConflictView(APIView):
    def post(self, request):
        SystemFlag.objects.create(key="written-before-conflict")
        raise ConflictError("Cannot move from delivered to pending.", extra={"allowed": ["refunded"]})


class CrashView(APIView):
    def get(self, request):
        raise RuntimeError("database password is hunter2-secret")


class OverflowView(APIView):
    def get(self, request):
        # What a query does with a number of 30 digits: SQLite cannot bind it, PostgreSQL refuses the cast.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT CAST(%s AS INTEGER)", [int(request.query_params["id"])])
            return Response({"n": cursor.fetchone()[0]})


class _FlagSerializer(serializers.ModelSerializer):
    class Meta:
        model = SystemFlag
        fields = ["key", "value"]


class FlagListView(ListAPIView):
    serializer_class = _FlagSerializer
    queryset = SystemFlag.objects.all()

    def get_paginator_ordering(self):  # pragma: no cover - documentation only
        return ("key",)

    @property
    def paginator(self):
        from api.common.pagination import CreatedCursorPagination

        if not hasattr(self, "_paginator"):
            self._paginator = type("KeyCursor", (CreatedCursorPagination,), {"ordering": ("key",)})()
        return self._paginator


test_patterns = [
    path("echo-order", EchoOrderView.as_view()),
    path("conflict", ConflictView.as_view()),
    path("crash", CrashView.as_view()),
    path("overflow", OverflowView.as_view()),
    path("flags", FlagListView.as_view()),
]

urlpatterns = [path("api/v1/test/", include(test_patterns)), *real_urlpatterns]
handler404 = "api.common.exceptions.json_404"
handler500 = "api.common.exceptions.json_500"
