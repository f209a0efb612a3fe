"""Invoices, payments, refunds and credit notes of one gym, and its members' saved cards.

Money is `Decimal` with two places in the gym's currency (`Gym.currency`); dates are
gym-local dates; timestamps are timezone-aware (UTC in the database). Paid invoices are
never edited: corrections are refunds and credit notes (DESIGN.md 6).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.members.models import Member
from apps.memberships.models import Membership

ZERO = Decimal("0.00")


def invoice_pdf_upload_to(instance: Invoice, filename: str) -> str:
    """Storage path of an invoice PDF: `<schema>/invoices/<year>/<filename>`. The schema
    comes first so no two gyms can ever share a path (DESIGN.md 2, django-tenants #249)."""
    from apps.tenants.selectors import current_schema_name

    return f"{current_schema_name()}/invoices/{instance.issue_date:%Y}/{filename}"


class DocumentSequence(models.Model):
    """The last number used for one kind of document (`invoice`, `credit_note`) in one
    year. Numbers are taken with `UPDATE ... RETURNING` inside the transaction that
    creates the document, so a rolled-back document gives its number back and numbers
    have no gaps (apps.invoices.numbering)."""

    kind = models.CharField(max_length=20)
    year = models.PositiveSmallIntegerField()
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "year"], name="invoices_sequence_kind_year")]

    def __str__(self) -> str:
        return f"{self.kind} {self.year}: {self.last_number}"


class Invoice(models.Model):
    """A bill to a member. Statuses follow Stripe's: draft, open, paid, void,
    uncollectible. `number` is given when the invoice is issued (draft -> open).

    Totals: `subtotal` is the sum of the lines; `discount` comes off it; tax is
    `tax_rate` percent, either included in the prices (`tax_inclusive`) or added on top;
    `total` is what the member owes; `amount_paid` counts successful payments (their
    refunds are on `Payment.amount_refunded`); `amount_credited` counts credit notes. Amount due = total - paid - credited.

    A recurring membership's period invoice carries `membership` and `period_start`;
    (membership, period_start) is unique, so a billing run repeated, crashed or run
    twice at once still makes one invoice per period. Dunning state: `attempt_count`
    charges tried, `next_payment_attempt` the gym-local date of the next retry.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open")
        PAID = "paid", _("Paid")
        VOID = "void", _("Void")
        UNCOLLECTIBLE = "uncollectible", _("Uncollectible")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="invoices")
    membership = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=40, null=True, blank=True, unique=True)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.DRAFT, db_index=True)
    currency = models.CharField(max_length=3)
    issue_date = models.DateField()
    due_date = models.DateField()
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    discount = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=ZERO)
    tax_inclusive = models.BooleanField(default=True)
    tax = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    amount_paid = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    amount_credited = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    # Snapshots taken at issue, so later edits of the gym or member never change a
    # document already sent: {"name", "legal_name", "address", "tax_number", ...}.
    seller = models.JSONField(default=dict, blank=True)
    bill_to = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    # Collection and dunning.
    auto_collect = models.BooleanField(default=False, help_text=_("Charge the member's saved card."))
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_payment_attempt = models.DateField(null=True, blank=True)
    last_payment_error = models.CharField(max_length=255, blank=True)
    # Documents.
    pdf = models.FileField(upload_to=invoice_pdf_upload_to, blank=True, max_length=255)
    pdf_rendered_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    # Timestamps.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["membership", "period_start"],
                condition=Q(membership__isnull=False, period_start__isnull=False),
                name="invoices_one_invoice_per_membership_period",
            ),
            models.CheckConstraint(
                condition=Q(amount_paid__gte=0) & Q(amount_credited__gte=0), name="invoices_amounts_not_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["member", "status"], name="invoices_member_status"),
            models.Index(
                fields=["next_payment_attempt"],
                condition=Q(status="open", auto_collect=True),
                name="invoices_retry_due",
            ),
        ]

    def __str__(self) -> str:
        return self.number or f"Draft invoice {self.pk}"

    @property
    def amount_due(self) -> Decimal:
        """What the member still owes: total less payments (net of refunds) and credit notes."""
        if self.status in (self.Status.VOID, self.Status.UNCOLLECTIBLE, self.Status.DRAFT):
            return ZERO
        return max(ZERO, self.total - self.amount_paid - self.amount_credited)

    @property
    def net(self) -> Decimal:
        """The total without tax."""
        return self.total - self.tax


class InvoiceLine(models.Model):
    """One line of an invoice: `quantity` x `unit_price` = `amount` (tax as the invoice says)."""

    class Kind(models.TextChoices):
        PLAN_PERIOD = "plan_period", _("Plan period")
        SIGNUP_FEE = "signup_fee", _("Signup fee")
        CLASS_PACK = "class_pack", _("Class pack")
        MANUAL = "manual", _("Manual item")

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.MANUAL)
    description = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description


class Payment(models.Model):
    """Money received (or tried) against an invoice.

    Manual payments (cash, card terminal, bank transfer / EFT, other) are recorded by
    staff as succeeded. A Stripe charge is written as `pending` with its `attempt`
    number and idempotency key BEFORE Stripe is called, so a worker killed mid-charge
    leaves a row that the next run, the webhook or the reconciliation completes with
    the same key: Stripe returns the same PaymentIntent, never a second charge.
    `amount_refunded` sums the refunds of this payment.
    """

    class Method(models.TextChoices):
        CASH = "cash", _("Cash")
        CARD_TERMINAL = "card_terminal", _("Card terminal")
        BANK_TRANSFER = "bank_transfer", _("Bank transfer / EFT")
        OTHER = "other", _("Other")
        STRIPE = "stripe", _("Card (Stripe)")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    method = models.CharField(max_length=14, choices=Method.choices)
    status = models.CharField(max_length=10, choices=Status.choices, db_index=True)
    reference = models.CharField(max_length=120, blank=True)
    attempt = models.PositiveSmallIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    stripe_payment_intent_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    stripe_charge_id = models.CharField(max_length=64, blank=True, db_index=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    amount_refunded = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    disputed = models.BooleanField(default=False)
    received_on = models.DateField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "attempt"],
                condition=Q(attempt__isnull=False),
                name="invoices_one_payment_per_attempt",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoices_payment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} {self.amount} {self.currency} ({self.status})"

    @property
    def refundable(self) -> Decimal:
        """What can still be refunded of this payment."""
        return self.amount - self.amount_refunded if self.status == self.Status.SUCCEEDED else ZERO


class CreditNote(models.Model):
    """A numbered document that reduces what an invoice asks for (`amount`, tax
    included at the invoice's rate). On a paid invoice it comes with a `Refund` of the
    money; on an open one it lowers the amount due. Numbered per gym like invoices
    (`CN-2026-000001`)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    number = models.CharField(max_length=40, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    tax = models.DecimalField(max_digits=12, decimal_places=2, default=ZERO)
    reason = models.CharField(max_length=255)
    issue_date = models.DateField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issue_date", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="invoices_credit_note_positive")]

    def __str__(self) -> str:
        return self.number


class Refund(models.Model):
    """Money given back from a payment, by the way it came (Stripe refunds the card;
    manual payments are refunded by hand and recorded here)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    credit_note = models.ForeignKey(CreditNote, null=True, blank=True, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUCCEEDED)
    reason = models.CharField(max_length=255, blank=True)
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    stripe_refund_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="invoices_refund_positive")]

    def __str__(self) -> str:
        return f"Refund {self.amount} of payment {self.payment_id}"


class StripeCustomer(models.Model):
    """A member's customer on the gym's Stripe account, and the card saved for
    off-session charges (brand, last 4 digits and expiry shown to staff and member)."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="stripe_customer")
    customer_id = models.CharField(max_length=64, unique=True)
    payment_method_id = models.CharField(max_length=64, blank=True)
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.customer_id

    @property
    def has_card(self) -> bool:
        """True when a card is saved for off-session charges."""
        return bool(self.payment_method_id)


class StripeEvent(models.Model):
    """A Stripe event applied to this gym, by event id: the webhook and the daily
    reconciliation both record here first, so each event is applied once whatever the
    number of deliveries (Stripe retries webhooks for up to 3 days)."""

    id = models.CharField(max_length=64, primary_key=True)
    type = models.CharField(max_length=64)
    created = models.DateTimeField(help_text=_("When Stripe created the event."))
    applied_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"
