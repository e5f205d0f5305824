"""Who received a campaign's messages: a registry the sending app fills and the reports read.

The campaigns app owns campaigns but not the outbox: nurture sends the messages of a campaign's
sequences and broadcasts (``Sequence.campaign_code``, ``Broadcast.campaign_code``). Attribution's CRM
indicators need those recipients (response rate per campaign, clicks per recipient), and attribution
and nurture stand in the same layer, so neither may import the other: both meet here, one layer down.
Nurture registers a source in its ``AppConfig.ready()``; without one, the indicators say the
recipients are unknown instead of showing 0 %.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

#: ``(start, end) -> [(campaign_code, contact_id, sent_at)]``: the campaign messages sent in ``[start, end)``.
RecipientsSource = Callable[[datetime, datetime], Iterable[tuple[str, int, datetime]]]
_sources: list[RecipientsSource] = []


def campaign_recipients_register(source: RecipientsSource) -> None:
    """Register a source of campaign message recipients (idempotent: a source registered twice counts once)."""
    if source not in _sources:
        _sources.append(source)


def campaign_recipients_sent(start: datetime, end: datetime) -> list[tuple[str, int, datetime]] | None:
    """Every registered source's ``(campaign_code, contact_id, sent_at)`` of ``[start, end)``; None when no
    source is registered (the recipients are unknown, not zero)."""
    if not _sources:
        return None
    sent: list[tuple[str, int, datetime]] = []
    for source in _sources:
        sent.extend(source(start, end))
    return sent
