"""Errors raised by the invoice and payment services. `code` is stable (the API returns
it as `error.code`); `message` is a sentence for staff or the member.

Codes:
- `invoice_not_open`: paying, charging or crediting an invoice that is not open (a
  paid invoice is never edited; corrections are credit notes and refunds).
- `invoice_not_voidable`: voiding a paid invoice, or one with money already received
  (refund it instead).
- `overpayment`: a payment larger than the amount due.
- `invalid_amount`: an amount of 0 or less, or a discount larger than the subtotal.
- `refund_too_large`: a refund or credit note beyond what was paid or is still owed.
- `no_saved_card`: charging a member with no saved card, or a gym without Stripe.
- `stripe_not_connected`: a Stripe action in a gym that has not connected Stripe.
- `stripe_unavailable`: Stripe could not be reached; nothing was charged twice, the
  attempt is retried with the same idempotency key.
"""

from __future__ import annotations

from apps.core.errors import DomainError


class InvoiceError(DomainError):
    """An invoice or payment rule was broken. Nothing was changed when it is raised."""
