"""FCFA amounts and percentages as staff read them."""

from __future__ import annotations

from django.utils import translation

from api.backoffice.templatetags.backoffice import fcfa, percent, signed_percent


def test_amounts_are_whole_fcfa_grouped_by_thousands():
    assert fcfa(1250000) == "1\u202f250\u202f000\u00a0FCFA"
    assert fcfa(None) == "–"


def test_ratios_are_percentages_never_raw_decimals():
    with translation.override("fr"):
        assert percent(0.58) == "58\u00a0%"
        assert percent(-0.3991) == "−40\u00a0%"
        assert signed_percent(0.13) == "+13\u00a0%"
        assert percent(1.5, 1) == "150,0\u00a0%"
        assert percent(None) == "–"
