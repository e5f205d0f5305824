"""Small typed results of the Meta clients and webhook parsers (no Django, no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class BusinessUseCaseUsage:
    """One entry of ``X-Business-Use-Case-Usage``: usage of one business use case (e.g. ``ads_insights``).

    Percentages run 0..100; ``estimated_time_to_regain_access`` is in **minutes** (Meta's unit).
    """

    business_id: str
    type: str
    call_count: float = 0.0
    total_cputime: float = 0.0
    total_time: float = 0.0
    estimated_time_to_regain_access: int = 0


@dataclass(frozen=True, slots=True)
class Usage:
    """Rate-limit usage read from the headers of the last Graph response.

    - ``X-App-Usage``: ``call_count``, ``total_cputime``, ``total_time`` (percent of the app's hourly budget).
    - ``X-Business-Use-Case-Usage``: one ``BusinessUseCaseUsage`` per business and use case.
    - ``X-Ad-Account-Usage``: ``acc_id_util_pct`` (percent), ``reset_time_duration`` (seconds),
      ``ads_api_access_tier``.

    An absent header means Meta saw too few calls to report usage: it reads as zero.
    """

    call_count: float = 0.0
    total_cputime: float = 0.0
    total_time: float = 0.0
    business_use_cases: tuple[BusinessUseCaseUsage, ...] = ()
    ad_account_util_pct: float | None = None
    ad_account_reset_time_duration: int | None = None
    ads_api_access_tier: str | None = None

    @property
    def peak_pct(self) -> float:
        """The highest usage percentage across every header: the budget closest to throttling."""
        values = [self.call_count, self.total_cputime, self.total_time]
        for buc in self.business_use_cases:
            values += [buc.call_count, buc.total_cputime, buc.total_time]
        if self.ad_account_util_pct is not None:
            values.append(self.ad_account_util_pct)
        return max(values)

    @property
    def regain_access_seconds(self) -> float | None:
        """Meta's own estimate of how long until a throttled budget is usable again, or None if not given."""
        estimates = [buc.estimated_time_to_regain_access * 60.0 for buc in self.business_use_cases]
        if self.ad_account_reset_time_duration is not None:
            estimates.append(float(self.ad_account_reset_time_duration))
        return max(estimates) if estimates else None


@dataclass(frozen=True, slots=True)
class PageMetricDay:
    """One daily value of one Page Insights metric (``day`` is the day the value describes)."""

    metric: str
    day: date
    value: int


@dataclass(frozen=True, slots=True)
class AdInsightRow:
    """Daily delivery of one campaign from Ads Insights (``level=campaign``, ``time_increment=1``).

    ``spend`` is parsed from Meta's decimal string and is in ``currency`` (the ad account's currency);
    for XAF it has no fractional part.
    """

    campaign_id: str
    campaign_name: str
    day: date
    spend: Decimal
    currency: str
    impressions: int
    reach: int
    clicks: int
    actions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AdCampaign:
    """A campaign of an ad account."""

    id: str
    name: str
    status: str


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What Meta returns for an accepted outbound message (Messenger ``mid`` or WhatsApp ``wamid``)."""

    message_id: str
    recipient_id: str


@dataclass(frozen=True, slots=True)
class MessengerEvent:
    """One Messenger webhook event, flattened.

    ``event_id`` is the message ``mid`` when Meta gives one, otherwise a stable id derived from
    sender, timestamp and ref, so a redelivered webhook is deduplicated.
    ``is_ctm_ad`` is true when the person came from a click-to-Messenger ad (referral source ``ADS``).
    """

    event_id: str
    psid: str
    page_id: str
    timestamp: datetime
    kind: str  # "message" | "referral" | "postback" | "delivery" | "read" | "other"
    text: str | None = None
    ref: str | None = None
    ad_id: str | None = None
    source: str | None = None
    is_ctm_ad: bool = False
    payload: str | None = None  # postback payload or quick-reply payload (``text`` keeps the shown title)
    # Receipts: "delivery" lists the delivered ``mids`` (when Meta gives them); for both "delivery"
    # and "read", every message the Page sent before ``watermark`` is delivered / read.
    mids: tuple[str, ...] = ()
    watermark: datetime | None = None


@dataclass(frozen=True, slots=True)
class WhatsAppEvent:
    """One WhatsApp Cloud API webhook event, flattened.

    For ``kind == "message"`` ``event_id`` is the inbound ``wamid``. For ``kind == "status"`` it is
    ``"<wamid>:<status>"``: Meta sends one status per step (sent, delivered, read, failed) for the same
    wamid, and each step must survive deduplication.
    """

    event_id: str
    phone_e164: str
    profile_name: str | None
    phone_number_id: str
    timestamp: datetime
    kind: str  # "message" | "status" | "other"
    text: str | None = None
    referral: dict[str, Any] | None = None
    is_ctwa_ad: bool = False
    message_id: str | None = None  # the wamid itself
    status: str | None = None  # sent | delivered | read | failed (status events)
    error_codes: tuple[int, ...] = ()  # status errors, e.g. 131047 outside the 24h window
    # The id of a tapped interactive reply (button_reply / list_reply) or the payload of a template
    # quick-reply button; ``text`` then holds the title the person saw.
    reply_id: str | None = None
    # Status events: Meta's per-message pricing (``pricing``) and the conversation it belongs to.
    pricing_category: str | None = None  # marketing | utility | authentication | service ...
    billable: bool | None = None  # whether Meta charges for this message
    pricing_model: str | None = None  # "PMP" (per-message pricing, since July 2025) or legacy "CBP"
    conversation_id: str | None = None
    error_title: str | None = None  # title of the first status error, e.g. for 131049
    pricing_type: str | None = None  # regular | free_customer_service | free_entry_point
    reply_to: str | None = None  # wamid of the business message an inbound message answers (context.id)


@dataclass(frozen=True, slots=True)
class WhatsAppTemplate:
    """One message template of a WhatsApp Business Account, as ``GET /{waba_id}/message_templates`` lists it.

    ``status`` is Meta's (``APPROVED``, ``PAUSED``, ``REJECTED``, ``PENDING``, ``DISABLED`` ...);
    only an approved template can be sent. ``components`` are Meta's dicts, untouched.
    ``body_parameter_count`` is the number of distinct ``{{n}}`` placeholders in the BODY text:
    a send must fill exactly that many body parameters or Meta answers 132000.
    """

    id: str
    name: str
    language: str
    category: str
    status: str
    components: tuple[dict[str, Any], ...]
    body_parameter_count: int
    parameter_format: str = "POSITIONAL"  # or "NAMED" ({{first_name}} placeholders)

    @property
    def is_approved(self) -> bool:
        """True when Meta lets this template be sent."""
        return self.status.upper() == "APPROVED"

    @property
    def body_text(self) -> str:
        """The BODY component text with its placeholders, or "" when the template has no body."""
        for component in self.components:
            if str(component.get("type", "")).upper() == "BODY":
                return str(component.get("text") or "")
        return ""
