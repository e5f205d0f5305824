"""A value the spec documents as a field's default is one the endpoint accepts when a client sends it."""

from __future__ import annotations


def test_an_upsert_sending_the_documented_blank_consent_how_is_accepted(staff_client):
    # Generated clients send a documented default as is: "" for consent_how was refused as blank (400)
    answer = staff_client.post("/api/v1/contacts/upsert", {
        "phone": "+237677123456", "name": "Awa Ngono", "consents": ["whatsapp"], "consent_how": "",
    }, format="json")

    assert answer.status_code == 201, answer.json()
    consents = {consent["channel"]: consent for consent in answer.json()["contact"]["consents"]}
    assert consents["whatsapp"]["active"] is True
    assert consents["whatsapp"]["granted_how"] == "upsert"
