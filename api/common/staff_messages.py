"""Messages to staff from any app, delivered by the one app that talks to messaging providers.

Every message leaves through nurture's outbox (``DESIGN.md``: "nothing else talks to a messaging
provider"), but the apps that have something to tell staff (attribution's Monday summary, and any
alert of orders or campaigns) stand beside or below nurture in the layers and may not import it. So
they call ``staff_message_send`` here, in the ground floor every app may use, and nurture registers
the deliverer in its ``ready()`` (``register_staff_messenger``), which queues a ``STAFF`` outbox row.

It lives in ``api/common`` rather than beside the referral-reward listeners in ``api/contacts``: a
staff message is about no contact, and orders and campaigns, which sit between contacts and nurture,
should be able to use it without depending on the customer file.

The deliverer runs in the caller's transaction: the caller's rows and the queued message commit
together or not at all, and ``key`` (the outbox idempotency key, prefixed ``staff:``) makes a replay
queue nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from api.common.hooks import Hooks


@dataclass(frozen=True)
class StaffMessage:
    """One message for the staff chat: ``key`` names it once (e.g. ``weekly_summary:2026-11-16``),
    ``text`` is what staff read (French), ``image_url`` an optional public picture sent with it."""

    key: str
    text: str
    image_url: str = ""


StaffMessenger = Callable[[StaffMessage], bool]
_MESSENGERS: Hooks[StaffMessenger] = Hooks("A staff messenger")


def register_staff_messenger(key: str, messenger: StaffMessenger) -> None:
    """Deliver every staff message sent from now on with ``messenger`` (returns whether it was queued).

    Registering the same pair twice is a no-op; another messenger under a taken key is a configuration error.
    """
    _MESSENGERS.register(key, messenger)


def unregister_staff_messenger(key: str) -> None:
    """Forget the messenger under ``key`` (tests)."""
    _MESSENGERS.unregister(key)


def staff_message_send(message: StaffMessage) -> bool:
    """Hand ``message`` to every registered messenger, in the caller's transaction.

    True when at least one queued it; False when none is registered or none has a staff chat
    configured (the caller then knows nothing will reach staff). A messenger that fails makes the
    caller fail, so that its own writes roll back and the whole is tried again.
    """
    queued = False
    for messenger in list(_MESSENGERS.values()):
        queued = bool(messenger(message)) or queued
    return queued


__all__ = ["StaffMessage", "StaffMessenger", "register_staff_messenger", "staff_message_send",
           "unregister_staff_messenger"]
