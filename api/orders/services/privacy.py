"""What a privacy erase of a contact does to the orders app's rows (registered in ``apps.py``)."""

from __future__ import annotations

from django.utils import timezone

from api.contacts.registry import ERASED_TEXT
from api.orders.models import Complaint, Feedback, Order, Refund


def orders_erase_contact(contact_id: int) -> None:
    """Orders and refunds keep their amounts; addresses, recipients' names, notes and the reasons given
    for refunds (often the person's own words) go."""
    Order.objects.filter(contact_id=contact_id).update(delivery_address="", neighbourhood="", note="",
                                                       gift_message="", updated_at=timezone.now())
    Order.objects.filter(recipient_id=contact_id).update(recipient_name="", recipient_phone="", delivery_address="",
                                                         neighbourhood="", gift_message="", updated_at=timezone.now())
    Complaint.objects.filter(contact_id=contact_id).update(text=ERASED_TEXT, resolution="")
    Feedback.objects.filter(contact_id=contact_id).update(comment="")
    Refund.objects.filter(order__contact_id=contact_id).update(reason="")
