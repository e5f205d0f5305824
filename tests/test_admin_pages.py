"""The Django admin never answers 500: it is for superusers, it adds and edits contacts, products and
orders through the services (errors come back on the form), and shows every other row read-only."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token

from api.contacts.services import contact_upsert, import_job_create
from api.nurture.services.bot import telegram_update_receive
from api.nurture.services.outbox import outbound_enqueue
from api.orders.services import complaint_create, partner_api_key_create, partner_create, product_create

pytestmark = pytest.mark.django_db

# Rows only a long-running part of the system writes (a Facebook sync cursor, a referral reward once a
# referred friend buys, a week's stored indicators after an attribution run): no row to open a change
# page of, their list and add pages are still opened.
WITHOUT_ROWS_HERE = {"campaigns.SyncCursor", "attribution.ReferralReward", "attribution.WeeklyIndicators",
                     "nurture.Enrollment", "orders.OrderEventDelivery", "orders.OrderEventRecord"}


@pytest.fixture(autouse=True)
def _no_webhook_kicks(settings):
    settings.PARTNER_WEBHOOKS_KICK = False


def _url(model, page: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


def _contact_form(**values) -> dict:
    form = {"name": "", "first_name": "", "last_name": "", "phone": "", "email": "", "whatsapp": "",
            "telegram_username": "", "instagram": "", "city": "", "neighbourhood": "", "segment": "unknown",
            "acquisition_channel": "", "self_reported_source": "", "referred_by": ""}
    return form | values


def _order_form(contact_id, **values) -> dict:
    form = {"contact": str(contact_id), "item_1": "", "quantity_1": "1", "item_2": "", "quantity_2": "",
            "item_3": "", "quantity_3": "", "payment_method": "orange_money", "delivery_fee_xaf": "1000",
            "delivery_address": "Carrefour Ndokoti", "neighbourhood": "Ndokoti", "coupon_code": "",
            "campaign_code": "", "self_reported_source": "Facebook", "note": ""}
    return form | values


def _other_rows(superuser) -> None:
    """A row of the models the demo data leaves empty, each written by its own service."""
    Group.objects.create(name="Livreurs")
    Token.objects.create(user=superuser)
    buyer = contact_upsert(phone="+237690000001", name="Brice Kamga").contact
    complaint_create(text="Le sirop est arrivé tiède", contact_id=buyer.pk)
    partner = partner_create(name="Épicerie du Port")
    partner_api_key_create(partner_id=partner.pk, name="caisse")
    import_job_create(file_name="clients.csv", data="nom;téléphone\nAwa;699000002\n".encode())
    outbound_enqueue(idempotency_key="admin-test", channel="telegram", recipient="4242", text="Bonjour",
                     contact_id=buyer.pk)
    telegram_update_receive(payload={"update_id": 9001, "message": {
        "message_id": 1, "date": 1764700000, "chat": {"id": 4243, "type": "private"},
        "from": {"id": 4243, "is_bot": False, "first_name": "Awa"}, "text": "Bonjour"}})


def test_every_admin_page_of_every_model_opens_for_a_superuser(admin_client, admin_user):
    """Given the demo data and a row of every other model, every list, add and change page answers:
    200, or 403 for adding where the model is read-only; never a 500."""
    call_command("seed_demo", verbosity=0)
    _other_rows(admin_user)
    without_rows = set()
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label
        listing = admin_client.get(_url(model, "changelist"))
        assert listing.status_code == 200, label
        if model_admin.search_fields:
            assert admin_client.get(_url(model, "changelist"), {"q": "69"}).status_code == 200, label
        add = admin_client.get(_url(model, "add"))
        request = listing.wsgi_request
        assert add.status_code == (200 if model_admin.has_add_permission(request) else 403), label
        row = model._default_manager.order_by("pk").first()
        if row is None:
            without_rows.add(label)
            continue
        assert admin_client.get(_url(model, "change", row.pk)).status_code == 200, label
    assert without_rows <= WITHOUT_ROWS_HERE


def test_contacts_added_in_the_admin_get_an_e164_phone_and_their_own_referral_code(admin_client):
    from api.contacts.models import Contact

    first = admin_client.post(_url(Contact, "add"), _contact_form(name="Mireille Ngo", phone="6 99 12 34 56",
                                                                  city="Douala"))
    second = admin_client.post(_url(Contact, "add"), _contact_form(name="Hervé Fotso", phone="00237 677 00 11 22"))

    assert (first.status_code, second.status_code) == (302, 302)
    mireille, herve = Contact.objects.get(name="Mireille Ngo"), Contact.objects.get(name="Hervé Fotso")
    assert (mireille.phone, herve.phone) == ("+237699123456", "+237677001122")
    assert mireille.referral_code
    assert herve.referral_code
    assert mireille.referral_code != herve.referral_code


@pytest.mark.parametrize(("values", "field_message"), [
    ({"phone": "12345"}, "12345 is not a valid phone number."),
    ({"phone": "", "email": ""}, None),
    ({"phone": "699 12 34 56"}, "A contact with these identities exists"),
    ({"phone": "690001122", "email": "pas-un-email"}, "Enter a valid email address."),
])
def test_a_bad_contact_in_the_admin_is_a_form_error_and_adds_nobody(admin_client, values, field_message):
    from api.contacts.models import Contact

    contact_upsert(phone="+237699123456", name="Mireille Ngo")

    response = admin_client.post(_url(Contact, "add"), _contact_form(name="Quelqu'un", **values))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    if field_message:
        assert field_message in response.content.decode()
    assert Contact.objects.count() == 1


def test_a_contact_edited_in_the_admin_goes_through_contact_update(admin_client):
    from api.contacts.models import Contact

    mireille = contact_upsert(phone="+237699123456", name="Mireille Ngo").contact
    contact_upsert(phone="+237677001122", name="Hervé Fotso")
    url = _url(Contact, "change", mireille.pk)

    moved = admin_client.post(url, _contact_form(name="Mireille Ngo Bassa", phone="6 90 11 22 33", city="Buea"))
    taken = admin_client.post(url, _contact_form(name="Mireille Ngo Bassa", phone="677 00 11 22", city="Buea"))

    assert moved.status_code == 302, moved.context["adminform"].form.errors
    assert taken.status_code == 200
    assert taken.context["adminform"].form.errors
    mireille.refresh_from_db()
    assert (mireille.name, mireille.phone, mireille.city) == ("Mireille Ngo Bassa", "+237690112233", "Buea")


def test_an_order_added_in_the_admin_is_priced_and_numbered_by_order_create(admin_client, admin_user):
    from api.orders.models import Order

    buyer = contact_upsert(phone="+237699123456", name="Mireille Ngo").contact
    ginger = product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500, unit_cost_xaf=1200)

    response = admin_client.post(_url(Order, "add"), _order_form(buyer.pk, item_1=f"product:{ginger.pk}",
                                                                 quantity_1="2"))

    assert response.status_code == 302
    order = Order.objects.get()
    line = order.lines.get()
    assert (order.contact_id, order.subtotal_xaf, order.total_xaf) == (buyer.pk, 7000, 8000)
    assert (line.unit_price_xaf, line.unit_cost_xaf, line.quantity) == (3500, 1200, 2)
    assert order.number.startswith("CF-")
    assert order.created_by == admin_user
    assert list(order.history.values_list("to_status", flat=True)) == ["pending"]


@pytest.mark.parametrize(("values", "error_field"), [
    ({"item_1": ""}, "item_1"),                          # no line
    ({"quantity_1": "0"}, "quantity_1"),
    ({"quantity_1": "300000"}, "item_1"),                # over the most one order may be: order_create says so
    ({"delivery_fee_xaf": "-5"}, "delivery_fee_xaf"),
    ({"contact": "999999"}, "contact"),                  # nobody
    ({"contact": "merged"}, "contact"),                  # merged into another: order_create refuses it
])
def test_a_bad_order_in_the_admin_is_a_form_error_and_creates_nothing(admin_client, values, error_field):
    from api.contacts.services import contact_merge
    from api.orders.models import Order

    buyer = contact_upsert(phone="+237699123456", name="Mireille Ngo").contact
    ginger = product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500)
    if values.get("contact") == "merged":
        twin = contact_upsert(phone="+237677001122", name="Mireille N.").contact
        contact_merge(target_id=buyer.pk, source_id=twin.pk)
        values = {"contact": str(twin.pk)}

    response = admin_client.post(_url(Order, "add"), _order_form(buyer.pk, item_1=f"product:{ginger.pk}") | values)

    assert response.status_code == 200
    assert error_field in response.context["adminform"].form.errors
    assert not Order.objects.exists()


def test_an_existing_order_cannot_be_changed_in_the_admin(admin_client):
    from api.orders.models import Order
    from api.orders.services import order_create

    buyer = contact_upsert(phone="+237699123456", name="Mireille Ngo").contact
    ginger = product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500)
    order = order_create(contact_id=buyer.pk, lines=[{"product_id": ginger.pk, "quantity": 1}])

    page = admin_client.get(_url(Order, "change", order.pk))
    post = admin_client.post(_url(Order, "change", order.pk), {"total_xaf": "1"})

    assert page.status_code == 200
    assert order.number in page.content.decode()
    assert post.status_code == 403
    order.refresh_from_db()
    assert order.total_xaf == 3500


def test_a_product_with_a_taken_sku_is_a_form_error(admin_client):
    from api.orders.models import Product

    product_create(sku="SIR-GING-50", name="Sirop de gingembre", price_xaf=3500)
    form = {"sku": "SIR-GING-50", "name": "Autre", "kind": "syrup", "volume_ml": "500", "tier": "standard",
            "price_xaf": "3000", "unit_cost_xaf": "900", "active": "on"}

    response = admin_client.post(_url(Product, "add"), form)

    assert response.status_code == 200
    assert "sku" in response.context["adminform"].form.errors
    assert Product.objects.count() == 1


def test_read_only_models_refuse_a_posted_add_form(admin_client):
    from api.campaigns.models import Campaign

    response = admin_client.post(_url(Campaign, "add"), {"name": "Foire", "code": "FOIRE", "channel": "fair"})

    assert response.status_code == 403
    assert not Campaign.objects.exists()


def test_staff_who_are_not_superusers_do_not_get_the_admin(client, django_user_model):
    from api.contacts.models import Contact

    staff = django_user_model.objects.create_user(username="awa", password="pw-staff-123", is_staff=True)
    client.force_login(staff)

    index = client.get("/admin/")
    contacts = client.get(_url(Contact, "changelist"))
    added = client.post(_url(Contact, "add"), _contact_form(name="Intrus", phone="699123456"))

    assert index.status_code == 302
    assert "/admin/login/" in index["Location"]
    assert contacts.status_code == 302
    assert added.status_code == 302
    assert not Contact.objects.exists()
