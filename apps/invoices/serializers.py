"""Output serializers of the invoices API (`apps.invoices.apis`): invoices with their
lines, payments, refunds and credit notes, the member's billing summary, and the
answers of the pay-now and card-setup endpoints.

Money is a string with two places in the invoice's `currency` (ISO 4217), as in the
rest of the API (`"500.00"`); dates are gym-local `YYYY-MM-DD`; timestamps are UTC.
Choice values (statuses, methods, kinds) are plain strings listed in each field's help:
a shared `StatusEnum` component would clash with the other apps' `status` fields.

The serializer context carries `request` (for absolute `pdf_url`s) and `today` (the
gym-local date that decides `overdue`).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from apps.classes.apis import UtcDateTimeField

from .models import Invoice, Payment

INVOICE_STATUS_HELP = "draft, open, paid, void or uncollectible."
PAYMENT_METHOD_HELP = "cash, card_terminal, bank_transfer, other (recorded by staff) or stripe (a card charge)."
PAYMENT_STATUS_HELP = "pending (a card charge waiting for Stripe's answer), succeeded or failed."
LINE_KIND_HELP = "plan_period, signup_fee, class_pack or manual."
# What an invoice's seller / bill-to snapshots show through the API (the snapshots also
# keep internal keys, such as the schema name and the logo's storage name).
SELLER_KEYS = ("name", "legal_name", "address", "tax_number", "country")
BILL_TO_KEYS = ("name", "email", "phone", "address")


PAYMENT_EXAMPLE: dict[str, Any] = {
    "id": 6610,
    "method": "cash",
    "method_label": "Cash",
    "amount": "45.00",
    "currency": "GBP",
    "status": "succeeded",
    "received_on": "2026-04-14",
    "reference": "Till 2, receipt 1182",
    "failure_message": "",
    "amount_refunded": "0.00",
    "created_at": "2026-04-14T08:31:20Z",
}
INVOICE_LIST_EXAMPLE: dict[str, Any] = {
    "id": 4410,
    "number": "INV-2026-00412",
    "status": "paid",
    "member": {"id": 311, "full_name": "Mia Moss"},
    "membership": 5120,
    "currency": "GBP",
    "issue_date": "2026-04-01",
    "due_date": "2026-04-08",
    "period_start": "2026-04-01",
    "period_end": "2026-04-30",
    "total": "45.00",
    "amount_paid": "45.00",
    "amount_credited": "0.00",
    "amount_due": "0.00",
    "overdue": False,
    "pdf_url": "https://iron-works.fitflow.app/api/v1/invoices/4410/pdf/",
}
INVOICE_DETAIL_EXAMPLE: dict[str, Any] = INVOICE_LIST_EXAMPLE | {
    "subtotal": "45.00",
    "discount": "0.00",
    "tax_rate": "20.00",
    "tax_inclusive": True,
    "tax": "7.50",
    "seller": {
        "name": "Iron Works",
        "legal_name": "Iron Works Fitness Ltd",
        "address": "1 Mill Lane, Manchester M1 1AA",
        "tax_number": "GB123456789",
        "country": "GB",
    },
    "bill_to": {
        "name": "Mia Moss",
        "email": "mia@example.com",
        "phone": "+447700900123",
        "address": "12 Canal Street, Manchester",
    },
    "notes": "",
    "auto_collect": False,
    "attempt_count": 0,
    "next_payment_attempt": None,
    "last_payment_error": "",
    "paid_at": "2026-04-14T08:31:20Z",
    "voided_at": None,
    "void_reason": "",
    "lines": [
        {
            "id": 9120,
            "kind": "plan_period",
            "description": "Unlimited monthly, 1-30 April 2026",
            "quantity": 1,
            "unit_price": "45.00",
            "amount": "45.00",
            "period_start": "2026-04-01",
            "period_end": "2026-04-30",
        }
    ],
    "payments": [PAYMENT_EXAMPLE],
    "credit_notes": [],
}
CREDIT_NOTE_EXAMPLE: dict[str, Any] = {
    "id": 301,
    "number": "CN-2026-00031",
    "amount": "15.00",
    "tax": "2.50",
    "reason": "Studio closed for a week",
    "issue_date": "2026-04-14",
    "refunds": [
        {
            "id": 120,
            "payment": 6610,
            "amount": "15.00",
            "status": "succeeded",
            "reason": "Studio closed for a week",
            "created_at": "2026-04-14T09:10:00Z",
        }
    ],
}
MEMBER_BILLING_EXAMPLE: dict[str, Any] = {
    "currency": "GBP",
    "amount_due": "45.00",
    "amount_overdue": "0.00",
    "open_invoices": 1,
    "card": {"brand": "visa", "last4": "4242", "exp_month": 8, "exp_year": 2028},
    "online_payments": True,
}


def _money(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=12, decimal_places=2, **kwargs)


def invoice_is_overdue(invoice: Invoice, today: datetime.date) -> bool:
    """True when the invoice is open and its due date is before `today` (gym-local) or
    its card charge failed: `apps.invoices.selectors.invoice_overdue_q` in Python (a
    list row carries it as the `is_overdue` annotation)."""
    annotated = getattr(invoice, "is_overdue", None)
    if annotated is not None:
        return bool(annotated)
    return invoice.status == Invoice.Status.OPEN and (invoice.due_date < today or bool(invoice.last_payment_error))


@extend_schema_serializer(component_name="InvoiceMember")
class InvoiceMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField()


@extend_schema_serializer(component_name="InvoiceLine")
class InvoiceLineSerializer(serializers.Serializer):
    """One line: `quantity` x `unit_price` = `amount` (tax as the invoice says)."""

    id = serializers.IntegerField()
    kind = serializers.CharField(help_text=LINE_KIND_HELP)
    description = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = _money()
    amount = _money()
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True)


@extend_schema_serializer(component_name="InvoicePayment")
class PaymentSerializer(serializers.Serializer):
    """Money received (or tried) against an invoice. `reference` is staff's note of a
    manual payment (receipt, bank reference); empty for card charges."""

    id = serializers.IntegerField()
    method = serializers.CharField(help_text=PAYMENT_METHOD_HELP)
    method_label = serializers.CharField(source="get_method_display")
    amount = _money()
    currency = serializers.CharField()
    status = serializers.CharField(help_text=PAYMENT_STATUS_HELP)
    received_on = serializers.DateField(help_text="Gym-local date the money came in (or the charge was tried).")
    reference = serializers.SerializerMethodField()
    failure_message = serializers.CharField(help_text="Why a card charge failed; empty otherwise.")
    amount_refunded = _money()
    created_at = UtcDateTimeField()

    def get_reference(self, payment: Payment) -> str:
        # A card charge keeps the saved card's PaymentMethod id here: internal.
        return "" if payment.method == Payment.Method.STRIPE else payment.reference


@extend_schema_serializer(component_name="InvoiceRefund")
class RefundSerializer(serializers.Serializer):
    """Money given back from one payment (through Stripe for card payments, by hand
    for manual ones)."""

    id = serializers.IntegerField()
    payment = serializers.IntegerField(source="payment_id")
    amount = _money()
    status = serializers.CharField(help_text="pending, succeeded or failed.")
    reason = serializers.CharField()
    created_at = UtcDateTimeField()


@extend_schema_serializer(component_name="InvoiceCreditNote")
class CreditNoteSerializer(serializers.Serializer):
    """A numbered document that reduces what the invoice asks for (`amount`, of which
    `tax`), with the refunds that gave the money back (none on an open invoice)."""

    id = serializers.IntegerField()
    number = serializers.CharField()
    amount = _money()
    tax = _money()
    reason = serializers.CharField()
    issue_date = serializers.DateField()
    refunds = RefundSerializer(many=True)


class _InvoiceBaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(allow_null=True, help_text="Null for a draft.")
    status = serializers.CharField(help_text=INVOICE_STATUS_HELP)
    member = InvoiceMemberSerializer()
    membership = serializers.IntegerField(source="membership_id", allow_null=True)
    currency = serializers.CharField()
    issue_date = serializers.DateField()
    due_date = serializers.DateField()
    period_start = serializers.DateField(allow_null=True)
    period_end = serializers.DateField(allow_null=True)
    total = _money()
    amount_paid = _money(help_text="Successful payments less refunds.")
    amount_credited = _money(help_text="Credit notes.")
    amount_due = _money(help_text="What is still owed (0 unless open).")
    overdue = serializers.SerializerMethodField(help_text="Open and past its due date, or its card charge failed.")
    pdf_url = serializers.SerializerMethodField(
        help_text="Absolute URL of the PDF (`invoices/{id}/pdf/`, needs the same bearer token); null for a draft."
    )

    def get_overdue(self, invoice: Invoice) -> bool:
        return invoice_is_overdue(invoice, self.context["today"])

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_pdf_url(self, invoice: Invoice) -> str | None:
        if invoice.status == Invoice.Status.DRAFT:
            return None
        path = reverse("api:invoice-pdf", args=[invoice.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


@extend_schema_serializer(
    component_name="InvoiceListItem",
    examples=[OpenApiExample("A paid invoice", value=INVOICE_LIST_EXAMPLE, response_only=True)],
)
class InvoiceListItemSerializer(_InvoiceBaseSerializer):
    """An invoice in a list: its figures and state, without lines or payments."""


@extend_schema_serializer(component_name="InvoiceSeller")
class SellerSerializer(serializers.Serializer):
    name = serializers.CharField()
    legal_name = serializers.CharField()
    address = serializers.CharField()
    tax_number = serializers.CharField()
    country = serializers.CharField()


@extend_schema_serializer(component_name="InvoiceBillTo")
class BillToSerializer(serializers.Serializer):
    name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    address = serializers.CharField()


@extend_schema_serializer(
    component_name="InvoiceDetail",
    examples=[OpenApiExample("A paid invoice", value=INVOICE_DETAIL_EXAMPLE, response_only=True)],
)
class InvoiceDetailSerializer(_InvoiceBaseSerializer):
    """An invoice as issued: the gym and member as printed on it, lines, discount and
    tax, and what happened since: payments (method, amount, date, status), credit notes
    with their refunds, and the card-collection state."""

    subtotal = _money()
    discount = _money()
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=2, help_text="Percent.")
    tax_inclusive = serializers.BooleanField(help_text="True when the prices include the tax.")
    tax = _money()
    seller = serializers.SerializerMethodField()
    bill_to = serializers.SerializerMethodField()
    notes = serializers.CharField()
    auto_collect = serializers.BooleanField(help_text="Charged to the member's saved card.")
    attempt_count = serializers.IntegerField(help_text="Card charges tried.")
    next_payment_attempt = serializers.DateField(allow_null=True, help_text="Gym-local date of the next card retry.")
    last_payment_error = serializers.CharField()
    paid_at = UtcDateTimeField(allow_null=True)
    voided_at = UtcDateTimeField(allow_null=True)
    void_reason = serializers.CharField(help_text="Why it was voided or written off.")
    lines = InvoiceLineSerializer(many=True)
    payments = PaymentSerializer(many=True, help_text="Newest first.")
    credit_notes = CreditNoteSerializer(many=True, help_text="Newest first.")

    @extend_schema_field(SellerSerializer)
    def get_seller(self, invoice: Invoice) -> dict[str, str]:
        return {key: str((invoice.seller or {}).get(key) or "") for key in SELLER_KEYS}

    @extend_schema_field(BillToSerializer)
    def get_bill_to(self, invoice: Invoice) -> dict[str, str]:
        return {key: str((invoice.bill_to or {}).get(key) or "") for key in BILL_TO_KEYS}


# --- answers of the actions ----------------------------------------------------------------------


@extend_schema_serializer(
    component_name="InvoicePaymentRecorded",
    examples=[
        OpenApiExample(
            "Paid in cash", value={"payment": PAYMENT_EXAMPLE, "invoice": INVOICE_DETAIL_EXAMPLE}, response_only=True
        )
    ],
)
class PaymentRecordedSerializer(serializers.Serializer):
    """A manual payment recorded, and the invoice after it (paid when covered)."""

    payment = PaymentSerializer()
    invoice = InvoiceDetailSerializer()


@extend_schema_serializer(
    component_name="InvoiceRefunded",
    examples=[
        OpenApiExample(
            "Part refund",
            value={
                "credit_note": CREDIT_NOTE_EXAMPLE,
                "invoice": INVOICE_DETAIL_EXAMPLE
                | {
                    "amount_credited": "15.00",
                    "credit_notes": [CREDIT_NOTE_EXAMPLE],
                    "payments": [PAYMENT_EXAMPLE | {"amount_refunded": "15.00"}],
                    "amount_paid": "30.00",
                },
            },
            response_only=True,
        )
    ],
)
class RefundedSerializer(serializers.Serializer):
    """The credit note of a refund (with the refunds per payment), and the invoice after it."""

    credit_note = CreditNoteSerializer()
    invoice = InvoiceDetailSerializer()


@extend_schema_serializer(component_name="PayNowOutcome")
class PayNowOutcomeSerializer(serializers.Serializer):
    """What one charge did."""

    invoice = serializers.IntegerField(allow_null=True, help_text="The invoice charged.")
    status = serializers.CharField(
        help_text="succeeded, failed (declined: see `message`), unknown (Stripe did not answer; "
        "the charge is retried with the same idempotency key, never twice) or skipped (nothing to charge)."
    )
    payment = serializers.IntegerField(allow_null=True, help_text="The payment written for the charge.")
    message = serializers.CharField(help_text="The decline reason, or why it was skipped.")


@extend_schema_serializer(component_name="PayNowInvoice")
class PayNowInvoiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField(allow_null=True)
    status = serializers.CharField(help_text=INVOICE_STATUS_HELP)
    currency = serializers.CharField()
    total = _money()
    amount_due = _money()


@extend_schema_serializer(
    component_name="PayNowResult",
    examples=[
        OpenApiExample(
            "Paid",
            value={
                "membership": 5120,
                "membership_status": "active",
                "paid": True,
                "outcomes": [{"invoice": 4410, "status": "succeeded", "payment": 6611, "message": ""}],
                "invoices": [
                    {
                        "id": 4410,
                        "number": "INV-2026-00412",
                        "status": "paid",
                        "currency": "GBP",
                        "total": "45.00",
                        "amount_due": "0.00",
                    }
                ],
            },
            response_only=True,
        )
    ],
)
class PayNowResultSerializer(serializers.Serializer):
    """The answer of pay now: one outcome per open invoice (oldest first), the
    invoices' statuses after the charges, and the membership's status after them."""

    membership = serializers.IntegerField()
    membership_status = serializers.CharField(help_text="active, frozen, past_due, cancelled or expired.")
    paid = serializers.BooleanField(help_text="True when every invoice charged is now paid.")
    outcomes = PayNowOutcomeSerializer(many=True)
    invoices = PayNowInvoiceSerializer(many=True)


@extend_schema_serializer(
    component_name="CardSetupIntent",
    examples=[
        OpenApiExample(
            "SetupIntent",
            value={
                "setup_intent": "seti_1P2n3o4p5q6r7s8t",
                "client_secret": "seti_1P2n3o4p5q6r7s8t_secret_QwErTy",
                "customer": "cus_Pq1w2e3r4t5y",
                "account": "acct_1Ab2Cd3Ef4Gh5Ij6",
                "publishable_key": "pk_live_51Ab2Cd3Ef4Gh5Ij6",
            },
            response_only=True,
        )
    ],
)
class SetupIntentSerializer(serializers.Serializer):
    """What Stripe's mobile SDK needs to save a card on the gym's Stripe account
    (a Connect account: pass `account` as the SDK's `stripeAccountId`)."""

    setup_intent = serializers.CharField(help_text="seti_... id.")
    client_secret = serializers.CharField(help_text="Confirm the SetupIntent with it; do not store it.")
    customer = serializers.CharField(help_text="The member's cus_... on the gym's account.")
    account = serializers.CharField(help_text="The gym's acct_... (Stripe-Account).")
    publishable_key = serializers.CharField()


@extend_schema_serializer(component_name="BillingCard")
class CardSerializer(serializers.Serializer):
    """The member's saved card (no number, no Stripe ids)."""

    brand = serializers.CharField(source="card_brand")
    last4 = serializers.CharField(source="card_last4")
    exp_month = serializers.IntegerField(source="card_exp_month", allow_null=True)
    exp_year = serializers.IntegerField(source="card_exp_year", allow_null=True)


@extend_schema_serializer(component_name="MemberBilling")
class MemberBillingSerializer(serializers.Serializer):
    """A member's billing at a glance (for `me/`): what they still owe on open invoices
    and the overdue part of it, how many are open, and the saved card. Reads the dict of
    `apps.invoices.apis.member_billing_summary`."""

    currency = serializers.CharField()
    amount_due = _money(help_text="Still owed on open invoices.")
    amount_overdue = _money(help_text="The part of it past due (or whose card charge failed).")
    open_invoices = serializers.IntegerField()
    card = CardSerializer(allow_null=True, help_text="Null when no card is saved.")
    online_payments = serializers.BooleanField(help_text="True when the gym takes card payments in the app.")
