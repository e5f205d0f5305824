"""Facebook campaigns mapped to campaigns, and the ``ads`` costs their stored daily spend makes.

Nothing here calls Facebook: the syncs (``facebook_sync``) store the daily spend, and these
services turn what is stored into costs of the campaigns that claim each Facebook campaign.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from api.campaigns.enums import CostKind, CostSource
from api.campaigns.models import Campaign, CampaignCost, FacebookAdDay, FacebookCampaign
from api.common.errors import ConflictError, NotFoundError, field_error

#: The ``external_key`` of the one synced ``ads`` cost row per (campaign, day).
ADS_COST_KEY = "facebook_ads"


def facebook_claims_apply(*, campaign: Campaign, facebook_ids: Iterable[str]) -> None:
    """Make ``campaign`` claim exactly ``facebook_ids``, then recompute its ``ads`` costs.

    Raises 409 ``facebook_campaign_taken`` when another campaign claims one of the ids. Ids never
    synced yet get a ``FacebookCampaign`` row, so their spend lands here once a sync reads it.
    Assumes the caller's transaction (campaign create or update) holds the campaign row.
    """
    wanted = {str(x) for x in facebook_ids}
    taken = (FacebookCampaign.objects.filter(facebook_id__in=wanted, campaign__isnull=False)
             .exclude(campaign=campaign).select_related("campaign"))
    for fb in taken:
        owner = fb.campaign.code if fb.campaign is not None else "?"
        raise ConflictError(f"Facebook campaign {fb.facebook_id} is already mapped to {owner}.",
                            code="facebook_campaign_taken",
                            errors=[field_error("facebook_campaign_ids", "Already mapped.", "unique")])
    existing = set(FacebookCampaign.objects.filter(facebook_id__in=wanted).values_list("facebook_id", flat=True))
    FacebookCampaign.objects.bulk_create([FacebookCampaign(facebook_id=x) for x in sorted(wanted - existing)])
    FacebookCampaign.objects.filter(campaign=campaign).exclude(facebook_id__in=wanted).update(campaign=None)
    FacebookCampaign.objects.filter(facebook_id__in=wanted).update(campaign=campaign)
    if sorted(campaign.facebook_campaign_ids or []) != sorted(wanted):
        campaign.facebook_campaign_ids = sorted(wanted)
        campaign.save(update_fields=["facebook_campaign_ids", "updated_at"])
    ads_costs_recompute(campaign_ids={campaign.pk})


def facebook_campaign_map(*, facebook_id: str, campaign: Campaign | None) -> FacebookCampaign:
    """Map a Facebook campaign to ``campaign`` (or unmap it with None); its synced spend moves with it.

    Keeps ``Campaign.facebook_campaign_ids`` of both campaigns in step and recomputes their ``ads``
    costs from the stored daily spend, without calling Facebook. 404 for an id never synced.
    """
    with transaction.atomic():
        fb = FacebookCampaign.objects.select_for_update().filter(facebook_id=str(facebook_id)).first()
        if fb is None:
            raise NotFoundError(f"No Facebook campaign {facebook_id} has been synced.")
        previous = fb.campaign
        if previous is not None and campaign is not None and previous.pk == campaign.pk:
            return fb
        fb.campaign = campaign
        fb.save(update_fields=["campaign", "updated_at"])
        touched: set[int] = set()
        for owner, add in ((previous, False), (campaign, True)):
            if owner is None:
                continue
            ids = {str(x) for x in owner.facebook_campaign_ids or []}
            ids = ids | {fb.facebook_id} if add else ids - {fb.facebook_id}
            owner.facebook_campaign_ids = sorted(ids)
            owner.save(update_fields=["facebook_campaign_ids", "updated_at"])
            touched.add(owner.pk)
        ads_costs_recompute(campaign_ids=touched)
    return fb


def ads_costs_recompute(*, campaign_ids: set[int] | None = None, since: date | None = None,
                        until: date | None = None) -> dict[str, int]:
    """Make the synced ``ads`` costs equal the stored daily spend of the mapped Facebook campaigns.

    One row per (campaign, day), key ``facebook_ads``; only rows whose amount differs are written,
    so running it twice changes nothing. Limited to ``campaign_ids`` and ``since..until`` when given.
    Returns how many cost rows were created, updated and deleted.
    """
    spend = FacebookAdDay.objects.filter(facebook_campaign__campaign__isnull=False)
    costs = CampaignCost.objects.filter(kind=CostKind.ADS, source=CostSource.SYNCED, external_key=ADS_COST_KEY)
    if campaign_ids is not None:
        spend = spend.filter(facebook_campaign__campaign_id__in=campaign_ids)
        costs = costs.filter(campaign_id__in=campaign_ids)
    if since is not None:
        spend, costs = spend.filter(day__gte=since), costs.filter(day__gte=since)
    if until is not None:
        spend, costs = spend.filter(day__lte=until), costs.filter(day__lte=until)
    wanted: dict[tuple[int, date], tuple[int, Decimal, str]] = {}
    for agg in (spend.values("facebook_campaign__campaign_id", "day", "currency").order_by()
                .annotate(xaf=Sum("spend_xaf"), original=Sum("spend"))):
        key = (agg["facebook_campaign__campaign_id"], agg["day"])
        xaf, original, _ = wanted.get(key, (0, Decimal(0), agg["currency"]))
        wanted[key] = (xaf + int(agg["xaf"] or 0), original + (agg["original"] or Decimal(0)), agg["currency"])
    existing: dict[tuple[int, date], CampaignCost] = {(c.campaign_id, c.day): c for c in costs}
    created: list[CampaignCost] = []
    updated: list[CampaignCost] = []
    deleted: list[int] = []
    for key, (xaf, original, currency) in wanted.items():
        row = existing.pop(key, None)
        if xaf <= 0:
            if row is not None:
                deleted.append(row.pk)
            continue
        if row is None:
            created.append(CampaignCost(campaign_id=key[0], day=key[1], kind=CostKind.ADS, source=CostSource.SYNCED,
                                        amount_xaf=xaf, original_amount=original, currency=currency,
                                        external_key=ADS_COST_KEY, note="Facebook Ads spend"))
        elif (row.amount_xaf, row.original_amount, row.currency) != (xaf, original, currency):
            row.amount_xaf, row.original_amount, row.currency = xaf, original, currency
            row.updated_at = timezone.now()
            updated.append(row)
    deleted += [row.pk for row in existing.values()]
    CampaignCost.objects.bulk_create(created, batch_size=1000)
    CampaignCost.objects.bulk_update(updated, ["amount_xaf", "original_amount", "currency", "updated_at"],
                                     batch_size=1000)
    CampaignCost.objects.filter(pk__in=deleted).delete()
    return {"created": len(created), "updated": len(updated), "deleted": len(deleted)}
