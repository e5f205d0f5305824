from datetime import timedelta

import pytest
from django.utils import timezone

from api.common.models import WorkerHeartbeat
from api.common.services import heartbeat_record

pytestmark = pytest.mark.django_db


def test_health_reports_database_broker_and_no_worker_yet(api_client):
    response = api_client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True
    assert body["workers"] == {"ok": False, "last_heartbeat_at": None, "age_seconds": None, "worker": None}
    assert body["status"] == "degraded"


def test_health_is_ok_after_a_recent_heartbeat(api_client):
    heartbeat_record(worker="celery@test")
    body = api_client.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["workers"]["ok"] is True
    assert body["workers"]["worker"] == "celery@test"


def test_health_shows_a_stale_worker_as_down(api_client, settings):
    WorkerHeartbeat.objects.create(worker="celery@old", beat_at=timezone.now() - timedelta(minutes=10))
    body = api_client.get("/api/v1/health").json()
    assert body["workers"]["ok"] is False
    assert body["workers"]["age_seconds"] >= 600
    assert body["status"] == "degraded"
