"""Invoices for what staff sell and members pay on demand: the first invoice of a new
membership (signup fee, first period, pass or class pack), paying an open invoice now,
and saving a card through Stripe."""

from __future__ import annotations

import datetime
from typing import Any

from django.utils import timezone

from apps.accounts.models import User
from apps.members.models import Member
from apps.memberships.models import Membership
from apps.plans.models import Plan
from apps.tenants.selectors import current_gym, current_schema_name

from .. import stripe_api
from ..errors import InvoiceError
from ..models import Invoice, InvoiceLine, StripeCustomer
from .documents import IssueOptions, LineInput, invoice_create
from .payments import ChargeOutcome, invoice_charge


def membership_sale_invoice(
    *, membership: Membership, actor: User | None = None, today: datetime.date | None = None
) -> Invoice | None:
    """The invoice for selling `membership` (called by `membership_assign` and
    `membership_renew` in their transaction): the plan's signup fee, then
    - recurring: the first paid period [start + trial days, next billing date), which
      is the (membership, period start) the billing run would otherwise invoice;
    - one-off: the pass for its term; class pack: the pack.
    Tax is the plan's. Due after `Gym.invoice_due_days`; paid at once when the total is
    0 (a free plan). Returns None when there is nothing to bill (price and fee 0 and no
    period). Money is `Decimal` in the gym's currency."""
    today = today or timezone.localdate()
    plan = membership.plan
    lines: list[LineInput] = []
    if plan.signup_fee > 0:
        lines.append(LineInput(f"{plan.name}: signup fee", plan.signup_fee, kind=InvoiceLine.Kind.SIGNUP_FEE))
    period = None
    if plan.kind == Plan.Kind.RECURRING and membership.next_billing_date:
        first = membership.start_date + datetime.timedelta(days=plan.trial_days)
        last = membership.next_billing_date - datetime.timedelta(days=1)
        period = (first, last)
        lines.append(
            LineInput(
                f"{plan.name}: {first:%d %b %Y} to {last:%d %b %Y}",
                membership.price,
                kind=InvoiceLine.Kind.PLAN_PERIOD,
                period_start=first,
                period_end=last,
            )
        )
    elif plan.kind == Plan.Kind.CLASS_PACK:
        credits = f"{plan.class_credits} classes" if plan.class_credits else "class pack"
        lines.append(LineInput(f"{plan.name} ({credits})", membership.price, kind=InvoiceLine.Kind.CLASS_PACK))
    else:
        until = f" to {membership.end_date:%d %b %Y}" if membership.end_date else ""
        lines.append(
            LineInput(
                f"{plan.name}: {membership.start_date:%d %b %Y}{until}",
                membership.price,
                kind=InvoiceLine.Kind.PLAN_PERIOD,
                period_start=membership.start_date,
                period_end=membership.end_date,
            )
        )
    return invoice_create(
        member=membership.member,
        membership=membership,
        period=period,
        lines=lines,
        options=IssueOptions(tax_rate=plan.tax_rate, tax_inclusive=plan.price_includes_tax),
        actor=actor,
        today=today,
    )


def membership_pay_now(*, membership: Membership, today: datetime.date | None = None) -> list[ChargeOutcome]:
    """Charge the member's saved card now for every open invoice of `membership`
    (the app's "pay now", e.g. after updating a card in dunning), oldest first. Each
    charge is a new attempt with its own idempotency key. Returns one outcome per
    invoice. Raises `InvoiceError`: `invoice_not_open` (nothing owed), `no_saved_card`."""
    gym = current_gym()
    invoice_ids = list(
        Invoice.objects.filter(membership=membership, status=Invoice.Status.OPEN)
        .order_by("issue_date", "pk")
        .values_list("pk", flat=True)
    )
    if not invoice_ids:
        raise InvoiceError("invoice_not_open", "Nothing is owed on this membership.")
    customer = StripeCustomer.objects.filter(member_id=membership.member_id).first()
    if not gym.stripe_connected or customer is None or not customer.has_card:
        raise InvoiceError("no_saved_card", "Save a card first, or pay at the front desk.")
    Invoice.objects.filter(pk__in=invoice_ids).update(auto_collect=True)
    return [invoice_charge(invoice_id=pk, today=today) for pk in invoice_ids]


def stripe_customer_for(member: Member) -> StripeCustomer:
    """The member's customer on the gym's Stripe account, created on first use with an
    idempotency key per member (so two requests at once make one customer).
    Raises `InvoiceError("stripe_not_connected")`, `InvoiceError("stripe_unavailable")`."""
    gym = current_gym()
    if not gym.stripe_connected:
        raise InvoiceError("stripe_not_connected", "This gym does not take card payments online yet.")
    existing = StripeCustomer.objects.filter(member=member).first()
    if existing is not None:
        return existing
    try:
        customer_id = stripe_api.customer_create(
            account=gym.stripe_account_id,
            email=member.email,
            name=member.full_name,
            metadata={"member_id": str(member.pk), "fitflow_schema": current_schema_name()},
            idempotency_key=f"{gym.schema_name}-customer-m{member.pk}",
        )
    except stripe_api.StripeUnavailable as exc:
        raise InvoiceError("stripe_unavailable", "Stripe could not be reached. Try again.") from exc
    customer, _ = StripeCustomer.objects.get_or_create(member=member, defaults={"customer_id": customer_id})
    return customer


def card_setup_intent(*, member: Member) -> dict[str, Any]:
    """A Stripe SetupIntent for saving a card from the app (Stripe's mobile SDK confirms
    it with `client_secret`). `setup_intent.succeeded` then saves the card. Returns
    `{"setup_intent", "client_secret", "customer", "account", "publishable_key"}`.
    Raises `InvoiceError`: `stripe_not_connected`, `stripe_unavailable`."""
    from django.conf import settings

    gym = current_gym()
    customer = stripe_customer_for(member)
    try:
        seti = stripe_api.setup_intent_create(account=gym.stripe_account_id, customer=customer.customer_id)
    except stripe_api.StripeUnavailable as exc:
        raise InvoiceError("stripe_unavailable", "Stripe could not be reached. Try again.") from exc
    return {
        "setup_intent": seti["id"],
        "client_secret": seti["client_secret"],
        "customer": customer.customer_id,
        "account": gym.stripe_account_id,
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
    }


def card_checkout_url(*, member: Member, success_url: str, cancel_url: str) -> str:
    """A Stripe Checkout page (setup mode) where the member saves or replaces their card:
    the self-serve link of the failed-payment notice. Returns its URL.
    Raises `InvoiceError`: `stripe_not_connected`, `stripe_unavailable`."""
    gym = current_gym()
    customer = stripe_customer_for(member)
    try:
        session = stripe_api.checkout_setup_session_create(
            account=gym.stripe_account_id,
            customer=customer.customer_id,
            currency=gym.currency,
            success_url=success_url,
            cancel_url=cancel_url,
        )
    except stripe_api.StripeUnavailable as exc:
        raise InvoiceError("stripe_unavailable", "Stripe could not be reached. Try again.") from exc
    return str(session["url"])


def invoice_pay_url(*, invoice: Invoice, success_url: str, cancel_url: str) -> str:
    """A Stripe Checkout page (payment mode) for what the open invoice still owes: the
    target of the QR code on the PDF. The payment arrives through
    `checkout.session.completed` / `payment_intent.succeeded` with the invoice's id in
    the metadata. Returns its URL. Raises `InvoiceError`: `invoice_not_open`,
    `stripe_not_connected`, `stripe_unavailable`."""
    gym = current_gym()
    if invoice.status != Invoice.Status.OPEN or invoice.amount_due <= 0:
        raise InvoiceError("invoice_not_open", "This invoice has nothing left to pay.")
    if not gym.stripe_connected:
        raise InvoiceError("stripe_not_connected", "This gym does not take card payments online yet.")
    customer = StripeCustomer.objects.filter(member_id=invoice.member_id).first()
    try:
        session = stripe_api.checkout_payment_session_create(
            account=gym.stripe_account_id,
            customer=customer.customer_id if customer else None,
            amount=invoice.amount_due,
            currency=invoice.currency,
            description=f"Invoice {invoice.number}",
            metadata={"invoice_id": str(invoice.pk), "fitflow_schema": current_schema_name()},
            success_url=success_url,
            cancel_url=cancel_url,
            idempotency_key=f"{gym.schema_name}-paylink-inv{invoice.pk}-{invoice.amount_due}",
        )
    except stripe_api.StripeUnavailable as exc:
        raise InvoiceError("stripe_unavailable", "Stripe could not be reached. Try again.") from exc
    return str(session["url"])
