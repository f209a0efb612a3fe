"""Creating, issuing, voiding and correcting invoices (credit notes and refunds).

Conventions for every service in this package:
- Money is `Decimal` in the gym's currency (`Gym.currency`), two places; dates are
  gym-local `date`s (`today` defaults to `timezone.localdate()`, the gym's timezone
  being active in requests and tasks).
- A service locks the invoice row (`SELECT ... FOR UPDATE`) before it reads the state it
  checks, and raises `InvoiceError` before writing anything when a rule is broken.
- Paid invoices are never edited; corrections are credit notes (documents with their own
  gapless numbers) and refunds (money back).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.members.models import Member
from apps.memberships.models import Membership
from apps.tenants.models import Gym
from apps.tenants.selectors import current_gym

from ..errors import InvoiceError
from ..models import ZERO, CreditNote, Invoice, InvoiceLine, Payment, Refund
from . import numbering
from .totals import invoice_totals, round_money, tax_part

Status = Invoice.Status


@dataclass(frozen=True)
class LineInput:
    """One line to put on an invoice: `quantity` x `unit_price` (Decimal, gym currency)."""

    description: str
    unit_price: Decimal
    quantity: int = 1
    kind: str = InvoiceLine.Kind.MANUAL
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None


@dataclass
class IssueOptions:
    """How an invoice is taxed and collected. `tax_rate` is a percent; None takes the
    gym's default rate and inclusivity."""

    tax_rate: Decimal | None = None
    tax_inclusive: bool | None = None
    discount: Decimal = ZERO
    due_date: datetime.date | None = None
    auto_collect: bool = False
    notes: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def seller_snapshot(gym: Gym) -> dict[str, str]:
    """What an invoice prints about the gym, copied at issue so later edits never change
    a document already sent: name, legal name, address, tax number, logo (storage name),
    country and currency."""
    return {
        "name": gym.name,
        "legal_name": gym.legal_name or gym.name,
        "address": gym.address,
        "tax_number": gym.tax_number,
        "logo": gym.logo.name if gym.logo else "",
        "country": str(gym.country or ""),
        "currency": gym.currency,
        "schema": gym.schema_name,
    }


def bill_to_snapshot(member: Member) -> dict[str, str]:
    """What an invoice prints about the member (name, email, phone, address, member id)."""
    return {
        "name": member.full_name,
        "email": member.email,
        "phone": str(getattr(member, "phone", "") or ""),
        "address": member.address,
        "member_id": str(member.pk),
    }


@dataclass(frozen=True)
class InvoiceInput:
    """One invoice for `invoices_create`: the member, the lines, how it is taxed and
    collected, and for a recurring membership's period the membership and the period
    (first, last day)."""

    member: Member
    lines: Sequence[LineInput]
    options: IssueOptions = field(default_factory=IssueOptions)
    membership: Membership | None = None
    period: tuple[datetime.date, datetime.date] | None = None


def invoice_create(
    *,
    member: Member,
    lines: Sequence[LineInput],
    options: IssueOptions | None = None,
    membership: Membership | None = None,
    period: tuple[datetime.date, datetime.date] | None = None,
    issue: bool = True,
    actor: User | None = None,
    today: datetime.date | None = None,
) -> Invoice:
    """Create an invoice for `member` with `lines`, and issue it (number, snapshots,
    status open) unless `issue=False` (a draft). See `invoices_create`, which this calls
    with one invoice. Raises `InvoiceError("invalid_amount")` for no lines, a negative
    line or a bad discount."""
    spec = InvoiceInput(member, lines, options or IssueOptions(), membership, period)
    return invoices_create([spec], issue=issue, actor=actor, today=today)[0]


def invoices_create(
    specs: Sequence[InvoiceInput],
    *,
    issue: bool = True,
    actor: User | None = None,
    today: datetime.date | None = None,
) -> list[Invoice]:
    """Create invoices, one per spec, in order, and issue them unless `issue=False`
    (drafts). Issuing takes each a gapless number (one statement for the whole batch),
    snapshots the gym and member (`seller_snapshot`, `bill_to_snapshot`) and makes it
    open, or paid when there is nothing to pay; its PDF and email are queued for after
    the commit. Rows go in with one insert for the invoices and one for their lines.

    A period invoice of a recurring membership carries `membership` and `period`:
    (membership, first day) is unique, so the caller must hold the membership's row lock
    and check first; a duplicate raises IntegrityError. The due date defaults to
    today + `Gym.invoice_due_days` (today when collected from a saved card). Runs in one
    transaction (the caller's, if any). Raises `InvoiceError("invalid_amount")` for no
    lines, a negative line or a bad discount, before writing anything.
    """
    gym = current_gym()
    today = today or timezone.localdate()
    built = [_invoice_build(spec, gym=gym, actor=actor, today=today) for spec in specs]
    if not built:
        return []
    # No savepoint when the caller has a transaction (the billing run): a failure here
    # fails the caller's whole unit, which is what it wants.
    with transaction.atomic(savepoint=False):
        if issue:
            numbers = numbering.document_numbers_take(
                kind=numbering.INVOICE, prefix=gym.invoice_prefix or "INV", year=today.year, count=len(built)
            )
            seller = seller_snapshot(gym)
            for (invoice, _), spec, number in zip(built, specs, numbers, strict=True):
                _issued(invoice, number=number, seller=seller, member=spec.member)
        invoices = Invoice.objects.bulk_create([invoice for invoice, _ in built])
        for invoice, lines in built:
            for line in lines:
                line.invoice = invoice
        InvoiceLine.objects.bulk_create([line for _, lines in built for line in lines])
        if issue:
            _deliver_on_commit(invoices)
    return invoices


def _invoice_build(
    spec: InvoiceInput, *, gym: Gym, actor: User | None, today: datetime.date
) -> tuple[Invoice, list[InvoiceLine]]:
    """The unsaved draft invoice and lines of `spec`, with its totals."""
    options = spec.options
    if not spec.lines:
        raise InvoiceError("invalid_amount", "An invoice needs at least one line.")
    currency = gym.currency
    amounts = [round_money(line.unit_price * line.quantity, currency) for line in spec.lines]
    tax_rate = gym.tax_rate if options.tax_rate is None else options.tax_rate
    tax_inclusive = gym.prices_include_tax if options.tax_inclusive is None else options.tax_inclusive
    totals = invoice_totals(
        amounts=amounts, discount=options.discount, tax_rate=tax_rate, tax_inclusive=tax_inclusive, currency=currency
    )
    due = options.due_date or (today if options.auto_collect else today + datetime.timedelta(days=gym.invoice_due_days))
    invoice = Invoice(
        member=spec.member,
        membership=spec.membership,
        currency=currency,
        issue_date=today,
        due_date=max(due, today),
        period_start=spec.period[0] if spec.period else None,
        period_end=spec.period[1] if spec.period else None,
        subtotal=totals.subtotal,
        discount=totals.discount,
        tax_rate=tax_rate,
        tax_inclusive=tax_inclusive,
        tax=totals.tax,
        total=totals.total,
        auto_collect=options.auto_collect,
        notes=options.notes,
        created_by=actor,
    )
    lines = [
        InvoiceLine(
            kind=line.kind,
            description=line.description[:255],
            quantity=line.quantity,
            unit_price=round_money(line.unit_price, currency),
            amount=amount,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for line, amount in zip(spec.lines, amounts, strict=True)
    ]
    return invoice, lines


def _issue(invoice: Invoice, *, gym: Gym, member: Member) -> None:
    number = numbering.document_number_take(
        kind=numbering.INVOICE, prefix=gym.invoice_prefix or "INV", year=invoice.issue_date.year
    )
    invoice.save(update_fields=_issued(invoice, number=number, seller=seller_snapshot(gym), member=member))
    _deliver_on_commit([invoice])


def _issued(invoice: Invoice, *, number: str, seller: dict[str, str], member: Member) -> list[str]:
    """Set what issuing changes on `invoice` (number, snapshots, open or, with nothing
    to pay, paid); returns the fields set, with `updated_at`."""
    invoice.number, invoice.seller, invoice.bill_to = number, seller, bill_to_snapshot(member)
    invoice.status = Status.OPEN
    fields = ["number", "seller", "bill_to", "status", "updated_at"]
    if invoice.total == ZERO:
        invoice.status, invoice.paid_at = Status.PAID, timezone.now()
        fields.append("paid_at")
    return fields


def _deliver_on_commit(invoices: Sequence[Invoice]) -> None:
    """Queue the PDFs and emails for after the commit (DESIGN.md 5)."""
    from ..tasks import invoices_deliver_on_commit

    invoices_deliver_on_commit([invoice.pk for invoice in invoices])


@transaction.atomic
def invoice_issue(*, invoice: Invoice, today: datetime.date | None = None) -> Invoice:
    """Issue a draft: take its number, snapshot the gym and member, status open (paid
    when the total is 0). Raises `InvoiceError("invoice_not_open")` if not a draft."""
    locked = Invoice.objects.select_for_update().select_related("member").get(pk=invoice.pk)
    if locked.status != Status.DRAFT:
        raise InvoiceError("invoice_not_open", "Only a draft invoice can be issued.")
    locked.issue_date = today or timezone.localdate()
    locked.save(update_fields=["issue_date"])
    _issue(locked, gym=current_gym(), member=locked.member)
    return locked


@transaction.atomic
def invoice_void(*, invoice: Invoice, reason: str, actor: User | None = None) -> Invoice:
    """Void a draft or open invoice that has no money received: it is no longer owed
    and keeps its number (numbers are never reused). A past-due membership whose only
    overdue invoice this was becomes active again. Raises
    `InvoiceError("invoice_not_voidable")` for paid, void or uncollectible invoices or
    ones with payments (refund them instead)."""
    from .payments import membership_settle_if_clear

    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status not in (Status.DRAFT, Status.OPEN) or locked.amount_paid > 0:
        raise InvoiceError(
            "invoice_not_voidable", "Only an unpaid draft or open invoice can be voided; refund a paid one."
        )
    if Payment.objects.filter(invoice=locked, status=Payment.Status.PENDING).exists():
        raise InvoiceError("invoice_not_voidable", "A card payment for this invoice is still being processed.")
    locked.status, locked.voided_at, locked.void_reason = Status.VOID, timezone.now(), (reason or "")[:255]
    locked.next_payment_attempt = None
    locked.save(update_fields=["status", "voided_at", "void_reason", "next_payment_attempt", "updated_at"])
    if locked.membership_id:
        membership_settle_if_clear(membership_id=locked.membership_id, actor=actor)
    return locked


@transaction.atomic
def invoice_mark_uncollectible(*, invoice: Invoice, reason: str, actor: User | None = None) -> Invoice:
    """Write off an open invoice (Stripe's `uncollectible`): it stays on record but is no
    longer chased. Raises `InvoiceError("invoice_not_open")` if not open."""
    from .payments import membership_settle_if_clear

    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status != Status.OPEN:
        raise InvoiceError("invoice_not_open", "Only an open invoice can be written off.")
    locked.status, locked.next_payment_attempt = Status.UNCOLLECTIBLE, None
    locked.void_reason = (reason or "")[:255]
    locked.save(update_fields=["status", "next_payment_attempt", "void_reason", "updated_at"])
    if locked.membership_id:
        membership_settle_if_clear(membership_id=locked.membership_id, actor=actor)
    return locked


def _credit_note(
    invoice: Invoice, *, amount: Decimal, reason: str, actor: User | None, today: datetime.date
) -> CreditNote:
    gym = current_gym()
    number = numbering.document_number_take(kind=numbering.CREDIT_NOTE, prefix="CN", year=today.year)
    note = CreditNote.objects.create(
        invoice=invoice,
        number=number,
        amount=amount,
        tax=tax_part(amount, tax_rate=invoice.tax_rate, currency=gym.currency),
        reason=(reason or "")[:255],
        issue_date=today,
        created_by=actor,
    )
    Invoice.objects.filter(pk=invoice.pk).update(
        amount_credited=F("amount_credited") + amount, updated_at=timezone.now()
    )
    invoice.amount_credited += amount
    return note


@transaction.atomic
def invoice_credit(
    *, invoice: Invoice, amount: Decimal, reason: str, actor: User | None = None, today: datetime.date | None = None
) -> CreditNote:
    """Issue a credit note that lowers what an OPEN invoice asks for (e.g. a goodwill
    discount after issue). When nothing is left to pay the invoice becomes paid.
    Raises `InvoiceError`: `invoice_not_open`, `invalid_amount`, `refund_too_large`
    (more than the amount due)."""
    from .payments import invoice_settle_if_paid

    today = today or timezone.localdate()
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status != Status.OPEN:
        raise InvoiceError("invoice_not_open", "A credit note without a refund is for an open invoice.")
    amount = round_money(amount, locked.currency)
    if amount <= 0:
        raise InvoiceError("invalid_amount", "The amount must be more than 0.", "amount")
    if amount > locked.amount_due:
        raise InvoiceError("refund_too_large", f"At most {locked.amount_due} is still owed.", "amount")
    note = _credit_note(locked, amount=amount, reason=reason, actor=actor, today=today)
    invoice_settle_if_paid(locked, today=today, actor=actor)
    return note


def invoice_refund(
    *, invoice: Invoice, amount: Decimal, reason: str, actor: User | None = None, today: datetime.date | None = None
) -> CreditNote:
    """Give money back on a paid (or part-paid) invoice: a credit note for `amount` and
    refunds of its successful payments, newest first, until `amount` is covered.
    Stripe payments are refunded through Stripe on the gym's account with an
    idempotency key per credit note and payment (so a retried request refunds once);
    manual payments are recorded as refunded by hand. The invoice itself is not edited.
    Raises `InvoiceError`: `invalid_amount`, `refund_too_large` (beyond what was paid
    and not yet refunded), `stripe_unavailable` (nothing was written; try again).
    """
    from .. import stripe_api

    today = today or timezone.localdate()
    gym = current_gym()
    with transaction.atomic():
        locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
        amount = round_money(amount, locked.currency)
        payments = list(
            Payment.objects.select_for_update()
            .filter(invoice=locked, status=Payment.Status.SUCCEEDED)
            .order_by("-created_at", "-id")
        )
        refundable = sum((p.refundable for p in payments), ZERO)
        if amount <= 0:
            raise InvoiceError("invalid_amount", "The amount must be more than 0.", "amount")
        if amount > refundable:
            raise InvoiceError("refund_too_large", f"At most {refundable} can be refunded.", "amount")
        note = _credit_note(locked, amount=amount, reason=reason, actor=actor, today=today)
        left = amount
        for payment in payments:
            if left <= 0:
                break
            part = min(left, payment.refundable)
            if part <= 0:
                continue
            left -= part
            refund = Refund(
                payment=payment, credit_note=note, amount=part, reason=(reason or "")[:255], created_by=actor
            )
            if payment.method == Payment.Method.STRIPE:
                key = f"{gym.schema_name}-refund-{note.number}-p{payment.pk}"
                try:
                    result = stripe_api.refund_create(
                        account=gym.stripe_account_id,
                        payment_intent_id=payment.stripe_payment_intent_id or "",
                        amount=part,
                        currency=locked.currency,
                        idempotency_key=key,
                    )
                except stripe_api.StripeUnavailable as exc:
                    raise InvoiceError(
                        "stripe_unavailable", "Stripe could not be reached; nothing was refunded. Try again."
                    ) from exc
                refund.idempotency_key, refund.stripe_refund_id = key, result["id"]
                refund.status = Refund.Status.PENDING if result.get("status") == "pending" else Refund.Status.SUCCEEDED
            refund.credit_note = note
            refund.save()
            Payment.objects.filter(pk=payment.pk).update(
                amount_refunded=F("amount_refunded") + part, updated_at=timezone.now()
            )
    return note
