"""The reports' response rate per campaign counts who received the campaign's messages: nurture tells
campaigns (attribution's indicators cannot ask nurture), from the messages actually sent."""

from __future__ import annotations

import pytest
from django.utils import timezone

from api.attribution import services as attribution
from api.campaigns.enums import TouchpointKind
from api.campaigns.services import campaign_create, touchpoint_record
from api.common.businesstime import business_today, week_start
from api.nurture.services import broadcast_create, broadcast_start
from tests.nurture.conftest import dispatch, make_contact

pytestmark = pytest.mark.django_db


def test_a_campaign_broadcast_s_recipients_are_the_response_rate_s_base(fake_telegram):
    campaign_create(name="Noël", code="NOEL", channel="telegram")
    awa = make_contact(4001, first_name="Awa")
    make_contact(4002, first_name="Brice")
    make_contact(4003, first_name="Carine", consent=False)  # no consent: not sent, not a recipient
    broadcast = broadcast_create(name="Noël", text="Coffrets de Noël !", send_at=timezone.now(),
                                 channels=["telegram"], campaign_code="NOEL")
    broadcast_start(broadcast_id=broadcast.pk)
    dispatch()
    touchpoint_record(contact_id=awa.pk, channel="telegram", kind=TouchpointKind.INBOUND_MESSAGE,
                      campaign_code="NOEL", provider_event_id="tg:noel-reply")

    figures = attribution.week_indicators_compute(monday=week_start(business_today()))

    assert figures["recipients_known"] is True
    [noel] = figures["campaigns"]
    assert (noel["campaign_code"], noel["recipients"], noel["responders"], noel["response_rate"]) == ("NOEL", 2, 1, 0.5)
