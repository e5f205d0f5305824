"""Shared test set-up.

- No network beyond loopback: any other connection fails the test.
- Each test has its own weekly-report cache keys (``_own_report_cache``).
- ``CONFIOTES_REQUIRE_SERVICES=1`` (set by CI for the second run) makes the session
  fail, never skip, when PostgreSQL or Redis is not there.
"""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address) -> bool:
    if isinstance(address, tuple | list) and address:
        host = address[0]
    else:
        return True  # UNIX sockets (PostgreSQL's socket) stay on the machine
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: not allowed


def _guarded_connect(self, address):
    if not _is_loopback(address):
        raise OSError(f"Tests may not reach the network beyond loopback (tried {address!r}).")
    return _real_connect(self, address)


def _guarded_connect_ex(self, address):
    if not _is_loopback(address):
        raise OSError(f"Tests may not reach the network beyond loopback (tried {address!r}).")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


def pytest_sessionstart(session):
    if os.environ.get("CONFIOTES_REQUIRE_SERVICES") != "1":
        return
    from django.conf import settings

    problems = []
    if settings.IS_SQLITE:
        problems.append("DATABASE_URL does not point to PostgreSQL")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
        except Exception as exc:
            problems.append(f"Redis at {settings.REDIS_URL} is down ({exc.__class__.__name__})")
    if not settings.IS_SQLITE:
        import psycopg

        db = settings.DATABASES["default"]
        try:
            psycopg.connect(host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"],
                            password=db.get("PASSWORD") or None, connect_timeout=3).close()
        except Exception as exc:
            problems.append(f"PostgreSQL at {db['HOST']}:{db['PORT']} is down ({exc.__class__.__name__})")
    if problems:
        pytest.exit("Required services are not available: " + "; ".join(problems), returncode=3)


@pytest.fixture(autouse=True)
def _own_report_cache(request):
    """Each test its own weekly-report cache keys: a rolled-back test leaves the next one the same ids and
    counts, which the reports' fingerprints would take for the same data (``REPORT_CACHE_SCOPE``)."""
    from django.conf import settings

    settings.REPORT_CACHE_SCOPE = request.node.nodeid
    yield
    settings.REPORT_CACHE_SCOPE = ""


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_user(username="staff", password="pw-staff-123", is_staff=True)


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def staff_client(staff_user):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    token, _ = Token.objects.get_or_create(user=staff_user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client
