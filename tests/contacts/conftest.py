"""Fixtures of the contacts tests, including a stand-in for another app's model.

``LoyaltyCard`` plays an app written later (orders, campaigns) that points to contacts:
its table is created once for the test database, and tests register it with
``register_contact_relation`` as such an app would in its ``ready()``.
"""

from __future__ import annotations

import pytest
from django.db import connection, models

from api.contacts.models import Contact


class LoyaltyCard(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="+")
    number = models.CharField(max_length=20)
    points = models.IntegerField(default=0)

    class Meta:
        app_label = "contacts"
        db_table = "test_contacts_loyaltycard"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), connection.schema_editor() as editor:
        editor.create_model(LoyaltyCard)
    return


@pytest.fixture
def loyalty_relation():
    from api.contacts.registry import register_contact_relation, unregister_contact_relation

    register_contact_relation(LoyaltyCard, "contact", label="loyalty_cards")
    yield LoyaltyCard
    unregister_contact_relation(LoyaltyCard, "contact")
