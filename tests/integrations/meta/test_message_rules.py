"""Rules the Meta clients apply before any HTTP call: label shortening, argument checks, error codes."""

from __future__ import annotations

import unicodedata

import pytest
import responses

from integrations.errors import PermanentError
from integrations.meta.errors import MetaPermanentError, MetaRateLimited
from integrations.meta.labels import fit_title
from integrations.meta.whatsapp import WhatsAppClient, whatsapp_error


@pytest.fixture
def client() -> WhatsAppClient:
    return WhatsAppClient("tok", "106540352242922")


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("Facebook", 20, "Facebook"),
    ("  Salon   ou foire ", 20, "Salon ou foire"),
    ("Bouche-à-oreille d'un ami", 20, "Bouche-à-oreille d'…"),
    ("Un revendeur près de chez moi", 24, "Un revendeur près de ch…"),
    ("Coffret de Noël pour vos invités", 12, "Coffret de…"),  # no space left before the dots
])
def test_titles_are_shortened_to_the_limit(text, limit, expected):
    assert fit_title(text, limit) == expected
    assert len(fit_title(text, limit)) <= limit


def test_decomposed_accents_count_once_and_are_never_cut_in_half():
    decomposed = unicodedata.normalize("NFD", "Dégustation à Yaoundé")  # 'e' + combining acute

    assert fit_title(decomposed, 21) == "Dégustation à Yaoundé"
    shortened = fit_title(unicodedata.normalize("NFD", "Dégustation"), 3)
    assert shortened == "Dé…"
    assert not unicodedata.combining(shortened[-2])


def test_an_emoji_sequence_is_not_left_with_a_dangling_joiner():
    family = "Famille \U0001F468\u200d\U0001F469\u200d\U0001F467 heureuse"

    shortened = fit_title(family, 11)

    assert "\u200d" not in shortened[-2:]
    assert shortened.endswith("…")


@responses.activate
def test_body_parameters_given_twice_are_refused(client):
    with pytest.raises(ValueError, match="twice"):
        client.send_template("+237677123456", "relance", "fr",
                             [{"type": "body", "parameters": [{"type": "text", "text": "Awa"}]}],
                             body_parameters=["Awa"])
    assert len(responses.calls) == 0


@responses.activate
def test_an_empty_body_parameter_is_refused_locally(client):
    with pytest.raises(PermanentError, match="empty body parameter"):
        client.send_template("+237677123456", "relance", "fr", body_parameters=["Awa", " "])
    assert len(responses.calls) == 0


@pytest.mark.parametrize("waba_id", ["", "../me", "act_1"])
def test_list_templates_wants_a_numeric_account_id(client, waba_id):
    with pytest.raises(ValueError, match="waba_id"):
        client.list_templates(waba_id)


@pytest.mark.parametrize(("code", "error_type", "reason"), [
    (130429, MetaRateLimited, "throughput"),
    (131056, MetaRateLimited, "pair_rate_limit"),
    (131049, MetaPermanentError, "ecosystem_limit"),
    (131047, MetaPermanentError, "outside_window"),
    (132015, MetaPermanentError, "template_paused"),
    (132000, MetaPermanentError, "template_param_count_mismatch"),
])
def test_every_mapped_error_keeps_its_code(code, error_type, reason):
    error = whatsapp_error(code, "from a status webhook")

    assert type(error) is error_type
    assert (error.code, error.provider_code, error.reason) == (code, code, reason)
    if error_type is MetaRateLimited:
        assert error.retry_after > 0
