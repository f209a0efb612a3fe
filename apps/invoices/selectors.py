"""Reads of invoices and payments in the current gym, for the billing pages and the API.

Money is `Decimal` in the gym's currency; dates are gym-local (`today` is the caller's
`timezone.localdate()` with the gym's timezone active). "Overdue" means an open invoice
whose due date has passed or whose card charge failed (`last_payment_error` is set
until it is paid): the same invoices that put a membership past due
(`apps.invoices.services.payments`).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db.models import (
    BooleanField,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from apps.members.models import Member
from apps.memberships.models import Membership

from .models import ZERO, CreditNote, Invoice, Payment, Refund, StripeCustomer

Status = Invoice.Status
MONEY = DecimalField(max_digits=12, decimal_places=2)


def _amount_due() -> Greatest:
    """SQL for `Invoice.amount_due` of an open invoice: total - paid - credited, not below 0."""
    return Greatest(F("total") - F("amount_paid") - F("amount_credited"), Value(ZERO), output_field=MONEY)


def invoice_overdue_q(*, today: datetime.date) -> Q:
    """Open invoices that are overdue on `today`: due date passed, or a failed card charge."""
    return Q(status=Status.OPEN) & (Q(due_date__lt=today) | ~Q(last_payment_error=""))


def invoice_list(
    *,
    today: datetime.date,
    status: str = "",
    overdue: bool = False,
    query: str = "",
    issued_from: datetime.date | None = None,
    issued_to: datetime.date | None = None,
    member_id: int | None = None,
) -> QuerySet[Invoice]:
    """Invoices newest first, each with its member (one query for any page), annotated
    with `due` (what is still owed, Decimal) and `is_overdue` (bool, see
    `invoice_overdue_q`).

    Filters: `status` (an `Invoice.Status` value; "" for all), `overdue` (only overdue
    ones), `query` (every word must match the member's first or last name or email, or
    the invoice number; a word of digits also matches the member's id), `issued_from` /
    `issued_to` (issue date, inclusive), `member_id`.
    """
    invoices = Invoice.objects.select_related("member").annotate(
        due=_amount_due(),
        is_overdue=ExpressionWrapper(invoice_overdue_q(today=today), output_field=BooleanField()),
    )
    if status:
        invoices = invoices.filter(status=status)
    if overdue:
        invoices = invoices.filter(invoice_overdue_q(today=today))
    for word in query.split():
        condition = (
            Q(member__first_name__icontains=word)
            | Q(member__last_name__icontains=word)
            | Q(member__email__icontains=word)
            | Q(number__icontains=word)
        )
        if word.isdigit():
            condition |= Q(member_id=int(word))
        invoices = invoices.filter(condition)
    if issued_from:
        invoices = invoices.filter(issue_date__gte=issued_from)
    if issued_to:
        invoices = invoices.filter(issue_date__lte=issued_to)
    if member_id is not None:
        invoices = invoices.filter(member_id=member_id)
    return invoices.order_by("-issue_date", "-id")


def invoice_detail(*, invoice_id: int) -> Invoice | None:
    """One invoice with everything its page shows, or None when the current gym has no
    such invoice: member, membership and plan; `lines`; `payments` (newest first) each
    with its `refunds`; `credit_notes` each with its `refunds`. Five queries."""
    return (
        Invoice.objects.select_related("member", "membership__plan")
        .prefetch_related(
            "lines",
            Prefetch("payments", queryset=Payment.objects.prefetch_related("refunds").order_by("-created_at", "-id")),
            Prefetch("credit_notes", queryset=CreditNote.objects.prefetch_related("refunds").order_by("-issue_date")),
        )
        .filter(pk=invoice_id)
        .first()
    )


def invoice_refundable(*, invoice: Invoice) -> Decimal:
    """What can still be refunded on `invoice`: successful payments less their refunds.
    Uses `invoice.payments.all()` (prefetched by `invoice_detail`)."""
    return sum((p.refundable for p in invoice.payments.all()), ZERO)


@dataclass(frozen=True)
class Attention:
    """An invoice that needs staff action, and why (`reasons`, sentences)."""

    invoice: Invoice
    reasons: list[str]


@dataclass(frozen=True)
class BillingOverview:
    """The billing overview's figures (Decimal, gym currency; months are gym-local):

    - `open_total` / `open_count`: what open invoices still ask for;
    - `overdue_total` / `overdue_count`: the overdue part of it (`invoice_overdue_q`);
    - `paid_total` / `paid_count`: invoices that became paid this month (by `paid_at`);
    - `revenue_this_month` / `revenue_last_month`: money in (successful payments by
      `received_on`) less money out (refunds not failed, by the day they were made);
    - `attention`: failed charges, past-due memberships' open invoices and disputed
      payments, oldest due first.
    """

    month_start: datetime.date
    last_month_start: datetime.date
    open_total: Decimal
    open_count: int
    overdue_total: Decimal
    overdue_count: int
    paid_total: Decimal
    paid_count: int
    revenue_this_month: Decimal
    revenue_last_month: Decimal
    attention: list[Attention] = field(default_factory=list)


ATTENTION_LIMIT = 50


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def billing_overview(*, today: datetime.date, attention_limit: int = ATTENTION_LIMIT) -> BillingOverview:
    """The billing overview on `today` (gym-local, the gym's timezone active). Four
    queries whatever the number of invoices: invoice totals, payments, refunds, and the
    invoices needing action (up to `attention_limit`)."""
    month_start = today.replace(day=1)
    next_month = month_start + relativedelta(months=1)
    last_month = month_start - relativedelta(months=1)
    overdue = invoice_overdue_q(today=today)
    paid_now = Q(status=Status.PAID, paid_at__gte=_local_midnight(month_start), paid_at__lt=_local_midnight(next_month))
    zero = Value(ZERO, output_field=MONEY)
    invoices = Invoice.objects.aggregate(
        open_total=Coalesce(Sum(_amount_due(), filter=Q(status=Status.OPEN)), zero),
        open_count=Count("pk", filter=Q(status=Status.OPEN)),
        overdue_total=Coalesce(Sum(_amount_due(), filter=overdue), zero),
        overdue_count=Count("pk", filter=overdue),
        paid_total=Coalesce(Sum("total", filter=paid_now), zero),
        paid_count=Count("pk", filter=paid_now),
    )
    succeeded = Q(status=Payment.Status.SUCCEEDED)
    money_in = Payment.objects.filter(succeeded, received_on__gte=last_month, received_on__lt=next_month).aggregate(
        this=Coalesce(Sum("amount", filter=Q(received_on__gte=month_start)), zero),
        last=Coalesce(Sum("amount", filter=Q(received_on__lt=month_start)), zero),
    )
    this_month_from = _local_midnight(month_start)
    money_out = (
        Refund.objects.exclude(status=Refund.Status.FAILED)
        .filter(created_at__gte=_local_midnight(last_month), created_at__lt=_local_midnight(next_month))
        .aggregate(
            this=Coalesce(Sum("amount", filter=Q(created_at__gte=this_month_from)), zero),
            last=Coalesce(Sum("amount", filter=Q(created_at__lt=this_month_from)), zero),
        )
    )
    return BillingOverview(
        month_start=month_start,
        last_month_start=last_month,
        open_total=invoices["open_total"],
        open_count=invoices["open_count"],
        overdue_total=invoices["overdue_total"],
        overdue_count=invoices["overdue_count"],
        paid_total=invoices["paid_total"],
        paid_count=invoices["paid_count"],
        revenue_this_month=money_in["this"] - money_out["this"],
        revenue_last_month=money_in["last"] - money_out["last"],
        attention=billing_attention(limit=attention_limit),
    )


def billing_attention(*, limit: int = ATTENTION_LIMIT) -> list[Attention]:
    """Invoices needing staff action, oldest due first, up to `limit` (one query):
    open invoices whose card charge failed (`last_payment_error`), open invoices of
    past-due memberships, and invoices with a disputed payment (any status)."""
    disputed = Payment.objects.filter(invoice=OuterRef("pk"), disputed=True)
    rows = (
        Invoice.objects.select_related("member", "membership")
        .annotate(has_dispute=Exists(disputed), due=_amount_due())
        .filter(
            Q(status=Status.OPEN, last_payment_error__gt="")
            | Q(status=Status.OPEN, membership__status=Membership.Status.PAST_DUE)
            | Q(has_dispute=True)
        )
        .order_by("due_date", "id")[:limit]
    )
    found = []
    for invoice in rows:
        reasons = []
        if invoice.status == Status.OPEN and invoice.last_payment_error:
            reasons.append(f"Card charge failed: {invoice.last_payment_error}")
        if invoice.membership is not None and invoice.membership.status == Membership.Status.PAST_DUE:
            since = invoice.membership.past_due_since
            reasons.append(f"Membership past due since {since:%d %b %Y}" if since else "Membership past due")
        if invoice.has_dispute:  # type: ignore[attr-defined]
            reasons.append("A payment is disputed")
        found.append(Attention(invoice=invoice, reasons=reasons))
    return found


@dataclass(frozen=True)
class MemberBilling:
    """A member's invoices tab: `invoices` (newest first, up to the limit, with `due` and
    `is_overdue`), `owed` (Decimal still due on open invoices), `overdue` (the overdue
    part), `open_count`, and the saved `card` (None when there is none)."""

    invoices: list[Invoice]
    owed: Decimal
    overdue: Decimal
    open_count: int
    card: StripeCustomer | None


MEMBER_INVOICES_LIMIT = 100


def member_billing(*, member: Member, today: datetime.date, limit: int = MEMBER_INVOICES_LIMIT) -> MemberBilling:
    """The member's invoices, what they owe and their saved card: three queries."""
    overdue = invoice_overdue_q(today=today)
    zero = Value(ZERO, output_field=MONEY)
    totals = Invoice.objects.filter(member=member).aggregate(
        owed=Coalesce(Sum(_amount_due(), filter=Q(status=Status.OPEN)), zero),
        overdue=Coalesce(Sum(_amount_due(), filter=overdue), zero),
        open_count=Count("pk", filter=Q(status=Status.OPEN)),
    )
    card = StripeCustomer.objects.filter(member=member).exclude(payment_method_id="").first()
    return MemberBilling(
        invoices=list(invoice_list(today=today, member_id=member.pk)[:limit]),
        owed=totals["owed"],
        overdue=totals["overdue"],
        open_count=totals["open_count"],
        card=card,
    )
