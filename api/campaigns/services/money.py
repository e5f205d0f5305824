"""Currency: provider amounts to whole XAF, with ``Decimal`` and the configured rates."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from api.campaigns import conf
from api.campaigns.services._shared import invalid
from api.common.errors import ApplicationError, field_error


def to_xaf(amount: Decimal | str | int, currency: str) -> int:
    """Convert a provider amount to whole XAF with ``Decimal`` (never float), rounding half up.

    XAF passes through; EUR uses the fixed peg of 655.957; any other currency needs a rate in
    ``CURRENCY_RATES_XAF``: a missing rate is a 400 ``currency_rate_missing``, never a silent zero.
    """
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount).strip())
    except InvalidOperation:
        raise invalid("amount", f"{amount!r} is not a decimal amount.") from None
    if not value.is_finite():
        raise invalid("amount", "The amount must be a finite number.")
    code = (currency or "").strip().upper()
    if code == "XAF":
        rate = Decimal(1)
    elif code == "EUR":
        rate = conf.EUR_XAF_PEG
    elif code in conf.CURRENCY_RATES_XAF:
        rate = conf.CURRENCY_RATES_XAF[code]
    else:
        raise ApplicationError(
            f"No exchange rate to XAF for {code or 'an empty currency'}: set CURRENCY_RATES_XAF "
            f"(e.g. \"USD=600.5\").", code="currency_rate_missing",
            errors=[field_error("currency", f"No rate configured for {code}.", "currency_rate_missing")])
    return int((value * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
