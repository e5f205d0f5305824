"""A screen's form shows a service's refusal, whichever way the service refuses, and nothing is kept."""

from __future__ import annotations

import pytest
from django import forms
from django.core.exceptions import ValidationError

from api.backoffice.views.base import call_service
from api.contacts.models import Contact
from api.contacts.services import contact_upsert

pytestmark = pytest.mark.django_db


class NoteForm(forms.Form):
    note = forms.CharField()


def test_a_model_validation_error_of_a_service_lands_on_the_form_and_rolls_back():
    def service() -> None:
        contact_upsert(phone="+237690000777", name="Awa")  # written, then refused: must not stay
        raise ValidationError({"note": ["Ensure this value has at most 500 characters (it has 501)."],
                               "due_at": ["Enter a valid date/time."]})

    form = NoteForm(data={"note": "x"})
    assert form.is_valid()
    assert call_service(form, service) is None
    assert form.errors["note"] == ["Ensure this value has at most 500 characters (it has 501)."]
    assert form.non_field_errors() == ["Enter a valid date/time."]
    assert not Contact.objects.exists()
