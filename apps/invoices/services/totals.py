"""Invoice arithmetic: line amounts, discount and tax, rounded to the currency's minor unit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision

from ..errors import InvoiceError

ZERO = Decimal("0.00")
HUNDRED = Decimal("100")


def minor_unit(currency: str) -> Decimal:
    """The currency's smallest unit as a Decimal exponent: 0.01 for ZAR/GBP/USD, 1 for
    JPY (ISO 4217 minor units, from Babel's CLDR data)."""
    return Decimal(1).scaleb(-get_currency_precision(currency.upper()))


def round_money(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded to the currency's minor unit, halves away from zero
    (ROUND_HALF_UP, the commercial rounding tax authorities such as HMRC and SARS accept
    per invoice): 10.005 GBP -> 10.01; 0.125 -> 0.13."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Totals:
    """An invoice's totals in its currency: `subtotal` (sum of lines), `discount`,
    `tax` (included in or added to the discounted subtotal) and `total` (owed)."""

    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal


def invoice_totals(
    *, amounts: Iterable[Decimal], discount: Decimal, tax_rate: Decimal, tax_inclusive: bool, currency: str
) -> Totals:
    """Totals of an invoice whose lines come to `amounts` (Decimal, gym currency).

    Tax is worked out once, on the discounted subtotal (not per line), and rounded to
    the minor unit:
    - inclusive prices: tax = taxable x rate / (100 + rate), total = taxable;
      e.g. 115.00 at 15% holds 15.00 of tax;
    - exclusive prices: tax = taxable x rate / 100, total = taxable + tax.
    `tax_rate` is a percent (15.00 = 15%). Raises `InvoiceError("invalid_amount")` for
    a negative discount or one larger than the subtotal, or a negative line.
    """
    amounts = list(amounts)
    if any(a < 0 for a in amounts):
        raise InvoiceError("invalid_amount", "Line amounts cannot be negative.")
    subtotal = round_money(sum(amounts, ZERO), currency)
    discount = round_money(discount, currency)
    if discount < 0 or discount > subtotal:
        raise InvoiceError("invalid_amount", "The discount must be between 0 and the subtotal.", "discount")
    taxable = subtotal - discount
    if tax_inclusive:
        tax = round_money(taxable * tax_rate / (HUNDRED + tax_rate), currency)
        total = taxable
    else:
        tax = round_money(taxable * tax_rate / HUNDRED, currency)
        total = taxable + tax
    return Totals(subtotal=subtotal, discount=discount, tax=tax, total=total)


def tax_part(amount: Decimal, *, tax_rate: Decimal, currency: str) -> Decimal:
    """The tax included in `amount` at `tax_rate` percent (for a credit note's tax)."""
    return round_money(amount * tax_rate / (HUNDRED + tax_rate), currency)
