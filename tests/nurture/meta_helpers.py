"""Shared by the inbound pipeline tests: how the fake providers reach the app, a dispatcher without limits.

The fakes (fixtures ``staff_chat``, ``whatsapp``, ``messenger`` in conftest.py) post their signed webhooks to the app's Meta webhook URL through the Django test client (same
thread, same test transaction), as Meta would over HTTP.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from api.nurture.models import OutboundMessage
from api.nurture.ratelimit import RateLimiterBase
from tests.nurture.conftest import dispatch

META_URL = "/api/v1/webhooks/meta"
APP_SECRET = "meta-app-secret-for-e2e"
NUMBER = "+237677123456"
PSID = "6789012345678901"


class NoLimits(RateLimiterBase):
    """The shared rate limiter is not what these tests are about: every send may go at once."""

    def acquire(self, channel: str, recipient: str) -> tuple[float, str]:
        return 0.0, ""

    def pause(self, channel: str, seconds: float) -> None:
        pass


def deliver_all() -> None:
    """Run the dispatcher once; everything due must have an outcome afterwards."""
    dispatch(limiter=NoLimits())
    assert not OutboundMessage.objects.filter(state__in=["scheduled", "sending"], due_at__lte=timezone.now()).exists()


def meta_target(client: Any) -> Any:
    """The fakes' webhook target: a signed POST to the app's Meta webhook URL, through the test client."""

    def post(body: bytes, headers: dict[str, str]) -> Any:
        return client.generic("POST", META_URL, body, content_type="application/json",
                              HTTP_X_HUB_SIGNATURE_256=headers["X-Hub-Signature-256"])

    return post
