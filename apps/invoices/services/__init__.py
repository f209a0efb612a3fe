"""Writes of the invoices app, by module (import from `apps.invoices.services`):
- `numbering`: gapless document numbers;
- `totals`: line, discount and tax arithmetic in the currency's minor unit;
- `documents`: create, issue, void, write off, credit notes and refunds;
- `payments`: manual payments, card charges, what a paid invoice does, dunning;
- `billing`: the billing run of one gym;
- `sales`: a new membership's first invoice, pay now, saving a card, pay links;
- `stripe_events`: applying Stripe events once each, and the daily reconciliation.
Conventions are in `documents`' docstring.
"""

from .billing import (
    BillingRunResult,
    billing_run,
    membership_invoice_period,
    memberships_due,
    memberships_invoice_periods,
    next_billing_date_after,
)
from .documents import (
    InvoiceInput,
    IssueOptions,
    LineInput,
    invoice_create,
    invoice_credit,
    invoice_issue,
    invoice_mark_uncollectible,
    invoice_refund,
    invoice_void,
    invoices_create,
)
from .numbering import document_number_take, document_numbers_take
from .payments import (
    MANUAL_METHODS,
    ChargeOutcome,
    invoice_charge,
    invoices_charge,
    invoices_mark_overdue,
    invoices_settle_if_paid,
    membership_settle_if_clear,
    payment_intent_apply,
    payment_intents_apply,
    payment_record,
)
from .sales import (
    card_checkout_url,
    card_setup_intent,
    invoice_pay_url,
    membership_pay_now,
    membership_sale_invoice,
    stripe_customer_for,
)
from .stripe_events import HANDLED_TYPES, payment_intent_result, stripe_event_apply, stripe_reconcile
from .totals import Totals, invoice_totals, round_money

__all__ = [
    "HANDLED_TYPES",
    "MANUAL_METHODS",
    "BillingRunResult",
    "ChargeOutcome",
    "InvoiceInput",
    "IssueOptions",
    "LineInput",
    "Totals",
    "billing_run",
    "card_checkout_url",
    "card_setup_intent",
    "document_number_take",
    "document_numbers_take",
    "invoice_charge",
    "invoice_create",
    "invoice_credit",
    "invoice_issue",
    "invoice_mark_uncollectible",
    "invoice_pay_url",
    "invoice_refund",
    "invoice_totals",
    "invoice_void",
    "invoices_charge",
    "invoices_create",
    "invoices_mark_overdue",
    "invoices_settle_if_paid",
    "membership_invoice_period",
    "membership_pay_now",
    "membership_sale_invoice",
    "membership_settle_if_clear",
    "memberships_due",
    "memberships_invoice_periods",
    "next_billing_date_after",
    "payment_intent_apply",
    "payment_intent_result",
    "payment_intents_apply",
    "payment_record",
    "round_money",
    "stripe_customer_for",
    "stripe_event_apply",
    "stripe_reconcile",
]
