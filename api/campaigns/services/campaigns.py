"""Campaigns: tracking codes, unique among campaign and coupon codes, and the Facebook ids a campaign claims.

Coupons live in ``coupons``; the code rules they share are here (``check_code``, ``check_code_free``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import IntegrityError, transaction

from api.campaigns.enums import CampaignChannel, CampaignObjective, CampaignStatus, CostSource
from api.campaigns.models import Campaign, Coupon, FacebookCampaign
from api.campaigns.selectors import CODE_RE, normalize_code
from api.campaigns.services._shared import UNSET, Unset, invalid
from api.campaigns.services.facebook_costs import facebook_claims_apply
from api.common.errors import ConflictError, field_error

_CAMPAIGN_FIELDS = ("name", "code", "channel", "objective", "status", "starts_on", "ends_on", "budget_xaf",
                    "facebook_campaign_ids", "facebook_ad_ids", "landing_url", "notes")


def check_code(value: str, field_name: str = "code") -> str:
    """``value`` as a code is stored (upper case, trimmed); a 400 on ``field_name`` when malformed."""
    code = normalize_code(value)
    if not CODE_RE.match(code):
        raise invalid(field_name, "A code has 3 to 32 letters, digits, '_' or '-'.")
    return code


def _check_campaign_values(values: dict[str, Any]) -> None:
    choices = {"channel": CampaignChannel.values, "objective": CampaignObjective.values,
               "status": CampaignStatus.values}
    for name, allowed in choices.items():
        if name in values and values[name] not in allowed:
            raise invalid(name, f"{values[name]!r} is not one of {', '.join(allowed)}.", "invalid_choice")
    if values.get("starts_on") and values.get("ends_on") and values["ends_on"] < values["starts_on"]:
        raise invalid("ends_on", "The campaign cannot end before it starts.")
    for name in ("facebook_campaign_ids", "facebook_ad_ids"):
        ids = values.get(name)
        if ids is not None:
            if not isinstance(ids, list) or not all(str(x).isdigit() for x in ids):
                raise invalid(name, "A list of numeric Facebook ids.")
            values[name] = sorted({str(x) for x in ids})


def code_taken(code: str) -> ConflictError:
    """The 409 of a code already used by a campaign or a coupon."""
    return ConflictError(f"The code {code} is already used.", code="code_taken",
                         errors=[field_error("code", "Already used by a campaign or a coupon.", "unique")])


def check_code_free(code: str) -> None:
    """Raise ``code_taken`` when a campaign or a coupon already has ``code``."""
    if Campaign.objects.filter(code=code).exists() or Coupon.objects.filter(code=code).exists():
        raise code_taken(code)


def campaign_create(*, name: str, code: str, channel: str, objective: str = CampaignObjective.CAPTURE,
                    status: str = CampaignStatus.DRAFT, starts_on: date | None = None,
                    ends_on: date | None = None, budget_xaf: int | None = None,
                    facebook_campaign_ids: Sequence[str] = (), facebook_ad_ids: Sequence[str] = (),
                    landing_url: str = "", notes: str = "") -> Campaign:
    """Create a campaign. ``code`` is upper-cased and must be unique among campaign and coupon codes (409).

    Listed Facebook campaign ids are claimed at once (409 when another campaign claims one) and
    their already-synced spend becomes ``ads`` costs of this campaign.
    """
    values: dict[str, Any] = {
        "name": name, "code": check_code(code), "channel": channel, "objective": objective, "status": status,
        "starts_on": starts_on, "ends_on": ends_on, "budget_xaf": budget_xaf,
        "facebook_campaign_ids": list(facebook_campaign_ids), "facebook_ad_ids": list(facebook_ad_ids),
        "landing_url": landing_url or "", "notes": notes or "",
    }
    _check_campaign_values(values)
    check_code_free(values["code"])
    with transaction.atomic():
        campaign = Campaign(**values)
        campaign.full_clean(exclude=["code"])
        try:
            with transaction.atomic():
                campaign.save()
        except IntegrityError:
            raise code_taken(values["code"]) from None
        facebook_claims_apply(campaign=campaign, facebook_ids=values["facebook_campaign_ids"])
    return campaign


def campaign_update(*, campaign: Campaign, name: str | Unset = UNSET, code: str | Unset = UNSET,
                    channel: str | Unset = UNSET, objective: str | Unset = UNSET, status: str | Unset = UNSET,
                    starts_on: date | None | Unset = UNSET, ends_on: date | None | Unset = UNSET,
                    budget_xaf: int | None | Unset = UNSET, facebook_campaign_ids: Sequence[str] | Unset = UNSET,
                    facebook_ad_ids: Sequence[str] | Unset = UNSET, landing_url: str | Unset = UNSET,
                    notes: str | Unset = UNSET) -> Campaign:
    """Change the given fields of a campaign (same rules as ``campaign_create``); the others stay.

    Locks the campaign row; a new Facebook id list is claimed like on creation.
    """
    given = {"name": name, "code": code, "channel": channel, "objective": objective, "status": status,
             "starts_on": starts_on, "ends_on": ends_on, "budget_xaf": budget_xaf,
             "facebook_campaign_ids": facebook_campaign_ids, "facebook_ad_ids": facebook_ad_ids,
             "landing_url": landing_url, "notes": notes}
    changes: dict[str, Any] = {k: v for k, v in given.items() if v is not UNSET}
    for name_ in ("facebook_campaign_ids", "facebook_ad_ids"):
        if name_ in changes and not isinstance(changes[name_], list):
            changes[name_] = list(changes[name_])
    if "code" in changes:
        changes["code"] = check_code(changes["code"])
        if changes["code"] != campaign.code:
            check_code_free(changes["code"])
    merged = {**{f: getattr(campaign, f) for f in _CAMPAIGN_FIELDS}, **changes}
    _check_campaign_values(merged)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        for field_name in changes:
            setattr(campaign, field_name, merged[field_name])
        campaign.full_clean(exclude=["code"])
        try:
            with transaction.atomic():
                campaign.save()
        except IntegrityError:
            raise code_taken(merged["code"]) from None
        if "facebook_campaign_ids" in changes:
            facebook_claims_apply(campaign=campaign, facebook_ids=merged["facebook_campaign_ids"])
    return campaign


def campaign_delete(*, campaign: Campaign) -> None:
    """Delete a campaign that has no synced cost and no touchpoint (409 otherwise: archive it instead)."""
    if campaign.touchpoints.exists() or campaign.costs.filter(source=CostSource.SYNCED).exists():
        raise ConflictError("This campaign has touchpoints or synced costs; set its status to ended instead.",
                            code="campaign_in_use")
    with transaction.atomic():
        FacebookCampaign.objects.filter(campaign=campaign).update(campaign=None)
        campaign.delete()
