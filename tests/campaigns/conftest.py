"""Fixtures of the campaigns tests: campaigns, contacts and Meta settings."""

from __future__ import annotations

import pytest

from api.campaigns import services
from api.contacts.services import contact_upsert


@pytest.fixture
def make_campaign(db):
    counter = {"n": 0}

    def make(**kwargs):
        counter["n"] += 1
        values = {"name": f"Campagne {counter['n']}", "code": f"CAMP-{counter['n']:03d}", "channel": "facebook_ads"}
        values.update(kwargs)
        return services.campaign_create(**values)

    return make


@pytest.fixture
def make_contact(db):
    def make(phone="+237699000001", **kwargs):
        return contact_upsert(phone=phone, **kwargs).contact

    return make


@pytest.fixture
def meta_settings(settings):
    settings.META_APP_SECRET = "app-secret-for-tests"
    settings.META_VERIFY_TOKEN = "verify-me"
    settings.META_ACCESS_TOKEN = "tok"
    settings.META_AD_ACCOUNT_ID = "act_1"
    settings.META_PAGE_ID = "104857600000001"
    settings.META_PAGE_ACCESS_TOKEN = "tok"
    return settings
