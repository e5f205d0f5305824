"""What customers tell us: ratings of delivered orders and complaint cases."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from api.common.errors import ConflictError, NotFoundError
from api.contacts.selectors import contact_exists
from api.orders import conf
from api.orders.enums import ComplaintState, OrderEventKind
from api.orders.models import Complaint, Feedback, Order
from api.orders.services._shared import UNSET, Unset, given, invalid
from api.orders.services.orders import FEEDBACK_STATUSES, order_event_write, order_locked

# The ``channel`` of a complaint case that a low rating opened (no one wrote to complain): staff
# tell these cases apart in the list by it.
RATING_COMPLAINT_CHANNEL = "rating"


def feedback_record(*, order_id: int, rating: int, comment: str = "") -> Feedback:
    """Record the customer's rating (1-5) of a delivered order, once; emits ``feedback``.

    A rating at or under ``conf.UNHAPPY_RATING_THRESHOLD`` also opens a complaint case on the order,
    in the same transaction, and the event carries its id (``data["complaint_id"]``, else None): nurture's
    listener alerts staff and sends the apology, and the open case pauses marketing to the person
    (``selectors.contacts_with_open_complaint``) until staff resolve or close it.
    """
    if not 1 <= int(rating) <= 5:
        raise invalid("rating", "A rating is between 1 and 5.", "invalid")
    with transaction.atomic():
        order = order_locked(order_id)
        if order.status not in FEEDBACK_STATUSES:
            raise ConflictError(f"Feedback comes after delivery; {order.number} is {order.status}.",
                                code="not_delivered")
        if Feedback.objects.filter(order=order).exists():
            raise ConflictError(f"{order.number} already has feedback.", code="feedback_exists")
        feedback = Feedback.objects.create(order=order, contact_id=order.contact_id, rating=rating, comment=comment)
        complaint_id = None
        if int(rating) <= conf.UNHAPPY_RATING_THRESHOLD:
            complaint_id = _complaint_from_rating(order, int(rating), comment).pk
        order_event_write(order, OrderEventKind.FEEDBACK, rating=rating, comment=comment[:500],
                          complaint_id=complaint_id)
        return feedback


def _complaint_from_rating(order: Order, rating: int, comment: str) -> Complaint:
    """The case a low rating opens; its text (in French, as staff read it) quotes the customer."""
    text = f"Note {rating}/5 pour la commande {order.number}"
    text += f" : « {comment} »" if comment.strip() else " (sans commentaire)"
    return Complaint.objects.create(contact_id=order.contact_id, order=order, channel=RATING_COMPLAINT_CHANNEL,
                                    text=text)


def complaint_create(*, text: str, contact_id: int | None = None, order_id: int | None = None, channel: str = "",
                     owner_id: int | None = None) -> Complaint:
    """Open a complaint case; with an order, the contact is the order's buyer."""
    with transaction.atomic():
        if order_id is not None:
            order = Order.objects.filter(pk=order_id).only("contact_id").first()
            if order is None:
                raise invalid("order_id", f"No order #{order_id}.", "does_not_exist")
            contact_id = contact_id or order.contact_id
        if contact_id is None:
            raise invalid("contact_id", "Give contact_id or order_id.", "required")
        if not contact_exists(contact_id):
            raise invalid("contact_id", f"No contact #{contact_id}.", "does_not_exist")
        _check_owner(owner_id)
        complaint = Complaint.objects.create(contact_id=contact_id, order_id=order_id, channel=channel, text=text,
                                             owner_id=owner_id)
        return complaint


def _check_owner(owner_id: int | None) -> None:
    if owner_id is not None and not get_user_model().objects.filter(pk=owner_id, is_staff=True).exists():
        raise invalid("owner_id", f"No staff user #{owner_id}.", "does_not_exist")


def complaint_update(*, complaint_id: int, state: str | Unset = UNSET, owner_id: int | None | Unset = UNSET,
                     resolution: str | Unset = UNSET) -> Complaint:
    """Change the given state, owner (None: nobody) or resolution of a complaint case; resolving it
    stamps ``resolved_at``, reopening it clears it."""
    fields = given(state=state, owner_id=owner_id, resolution=resolution)
    _check_owner(owner_id if isinstance(owner_id, int) else None)
    with transaction.atomic():
        complaint = Complaint.objects.select_for_update().filter(pk=complaint_id).first()
        if complaint is None:
            raise NotFoundError(f"No complaint #{complaint_id}.")
        for name, value in fields.items():
            setattr(complaint, name, value)
        if complaint.state in (ComplaintState.RESOLVED, ComplaintState.CLOSED) and complaint.resolved_at is None:
            complaint.resolved_at = timezone.now()
        elif complaint.state in (ComplaintState.OPEN, ComplaintState.IN_PROGRESS):
            complaint.resolved_at = None
        complaint.save()
        return complaint

