"""Demo billing history for `make run`: six months of invoices and payments at the
current gym, replayed day by day from the memberships the members demo left.

The memberships' final state (status, next billing date, past-due date, freeze, end
date) fixes their billing life: each recurring membership has a chain of billing dates
through its next billing date (or, for ended ones, from its start), billed while it
ran. Members pay as people do (seeded): most within a few days, by card terminal, bank
transfer / EFT, cash, or online by card (a Stripe pay-link payment, recorded as its
webhook records it; nothing calls Stripe); a few in two parts; a few late (their
membership is past due meanwhile and comes back when they pay). A couple of
cancellations come with a refund of the unused days, a couple of invoices issued just
before a cancellation are voided, one signup fee is refunded (a referral) and a couple
of open invoices get a goodwill credit note. The members demo's past-due memberships
are explained by one unpaid period invoice, issued `invoice_due_days` + 1 days before
the recorded past-due date, so the billing run's overdue step makes them past due on
exactly that date (the check-in demo lets them in for `payment_grace_days` after it).
Invoices issued in the last few days are still open and not yet due.

What runs through the services and what is written in bulk, for speed (the whole
history through the services took about 30 s of CPU for 1,200 invoices, four times the
rest of the seed):
- Every sale is `membership_sale_invoice` on the membership's first day. The last
  `RECENT_DAYS` (and at least back to the oldest unpaid invoice) are billed by
  `billing_run(today=day)` every day, as production runs it (invoices, overdue
  marking). Every story other than a payment in one piece is a service call on its
  day: `payment_record` / `payment_intent_apply` (late and part payments, payments
  after a goodwill credit), `invoices_mark_overdue`, `invoice_credit`,
  `invoice_refund`, `invoice_void`.
- Before the recent days, period invoices are written in bulk, a day at a time: the
  rows `membership_invoice_period` writes (totals, tax, snapshots, line, gapless
  numbers taken in issue order, the `invoice_issued` notification), built with the
  services' own pieces (`invoice_totals`, `seller_snapshot`, `bill_to_snapshot`, the
  billing calendar). `apps/invoices/tests/test_demo.py` checks a bulk-built invoice
  against one from `membership_invoice_period`.
- Payments in one piece are written in bulk on their day: the payment row, the
  invoice paid and the `payment_received` notification, as `payment_record` and
  `invoice_settle_if_paid` write them for a membership that is not past due.

The services stamp rows with the wall clock, so the rows are re-stamped to their own
dates at gym-local business hours: invoices' created, emailed (history was emailed at
the time) and paid times, payments, credit notes, refunds, membership events and
notifications (marked sent). The services queue a PDF render for each invoice they
issue (on commit; the emails count as sent); bulk-written invoices render on first
download. The gym has no Stripe account, so nothing here or later calls Stripe.

Deterministic for a given database and `today` (seeded random), and skipped when the
gym already has invoices (like the other demo seeds).
"""

from __future__ import annotations

import dataclasses
import datetime
import random
import string
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import User
from apps.bookings.models import CreditEntry
from apps.memberships.models import Membership, MembershipEvent
from apps.memberships.services import billing_period_delta
from apps.notifications.models import Notification
from apps.plans.models import Plan
from apps.tenants.dispatch import gym_tzinfo
from apps.tenants.models import Gym

from . import stripe_api
from .models import CreditNote, DocumentSequence, Invoice, InvoiceLine, Payment, Refund
from .services import (
    billing_run,
    invoice_credit,
    invoice_refund,
    invoice_totals,
    invoice_void,
    invoices_mark_overdue,
    membership_sale_invoice,
    payment_intent_apply,
    payment_record,
    round_money,
)
from .services.documents import bill_to_snapshot, seller_snapshot
from .services.numbering import INVOICE

MStatus = Membership.Status
Method = Payment.Method
ONLINE = "online"
"""A member paying online by card: a Stripe pay-link payment (method `stripe`)."""

MONTHS = 6
RECENT_DAYS = 14
"""Days before today replayed through the billing run itself (see the docstring)."""
METHOD_HABITS = [
    (Method.CARD_TERMINAL, 0.34),
    (Method.BANK_TRANSFER, 0.30),
    (Method.CASH, 0.18),
    (ONLINE, 0.18),
]
"""How members usually pay (each member has a habit, kept 85% of the time)."""
PAY_DELAYS = [(0, 0.42), (1, 0.14), (2, 0.10), (3, 0.09), (4, 0.07), (5, 0.06), (6, 0.05), (7, 0.07)]
"""Days from issue to payment of an on-time payer (invoices fall due after 7 days)."""
LATE_SHARE = 0.03
"""Share of period invoices paid 9-20 days late (the membership is past due meanwhile)."""
PART_SHARE = 0.025
"""Share of period invoices paid in two parts."""
GOODWILL_SHARE = 0.02
VOIDS, PRORATA_REFUNDS, GOODWILL_CREDITS, SIGNUP_REFUNDS = 2, 2, 2, 1
GOODWILL_REASON = "Goodwill: the studio was closed three days for repairs"
DEMO_BILLING_DETAILS = {
    "legal_name": "Demo Fitness Studio (Pty) Ltd",
    "address": "12 Bree Street\nCape Town\n8001\nSouth Africa",
    "tax_number": "4123456789",
    "billing_email": "accounts@demo.localhost",
}
"""Printed on the demo gym's invoices when the gym has no legal details yet."""
CENT = Decimal("0.01")


@dataclass
class _Timeline:
    """One membership's billing life in the window, and its state to restore at the end."""

    membership: Membership
    final_status: str
    final_next_billing: datetime.date | None
    final_past_due_since: datetime.date | None
    recurring: bool
    next_billing: datetime.date | None = None  # the replay's cursor
    anchor_day: int | None = None
    sale_day: datetime.date | None = None
    stop_day: datetime.date | None = None  # billing stops; the final status applies
    unpaid_period: datetime.date | None = None  # the past-due membership's unpaid period
    void_period: datetime.date | None = None
    refund_period: datetime.date | None = None
    storied: bool = False  # has had a late, part or goodwill story

    def advance(self) -> None:
        """Move the cursor one period on, as `next_billing_date_after` does."""
        m = self.membership
        delta = billing_period_delta(billing_period=m.billing_period, interval=m.billing_interval)
        assert self.next_billing is not None and self.anchor_day is not None
        after = self.next_billing + delta
        if (delta.months or delta.years) and after.day != self.anchor_day:
            after = _clamp(after, self.anchor_day)
        self.next_billing = after


def _clamp(day: datetime.date, anchor_day: int) -> datetime.date:
    last = ((day.replace(day=1) + relativedelta(months=1)) - datetime.timedelta(days=1)).day
    return day.replace(day=min(anchor_day, last))


@dataclass
class _Invoiced:
    """What the replay knows about an invoice it is going to settle."""

    pk: int
    member_id: int
    membership_id: int | None
    number: str
    total: Decimal
    issue_date: datetime.date
    due_date: datetime.date
    period_start: datetime.date | None
    period_end: datetime.date | None
    sale: bool
    paid: Decimal = CENT * 0
    credited: Decimal = CENT * 0

    @property
    def due(self) -> Decimal:
        return self.total - self.paid - self.credited


@dataclass
class _Story:
    """How an invoice gets settled: `kind` is plain (one payment of the whole on
    `pay_day` by `method`), late, part, goodwill, refund (paid, then part refunded on
    `event_day`), signup_refund, void (on `event_day`), unpaid or open (not paid yet)."""

    kind: str
    method: str = Method.CASH
    pay_day: datetime.date | None = None
    event_day: datetime.date | None = None
    first_part_day: datetime.date | None = None


@dataclass
class _Replay:
    gym: Gym
    desk: User | None
    today: datetime.date
    rng: random.Random
    tz: datetime.tzinfo
    wall_start: datetime.datetime
    timelines: dict[int, _Timeline]
    recent: datetime.date | None = None  # the first day replayed through the billing run
    habits: dict[int, str] = field(default_factory=dict)
    invoices: dict[int, _Invoiced] = field(default_factory=dict)
    actions: dict[datetime.date, list[Callable[[datetime.date], object]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    voided: dict[int, datetime.date] = field(default_factory=dict)
    paying: list[tuple[_Invoiced, _Story]] = field(default_factory=list)  # the day's batch
    goodwill_left: int = GOODWILL_CREDITS
    signup_refunds_left: int = SIGNUP_REFUNDS

    def on(self, day: datetime.date | None, action: Callable[[datetime.date], object]) -> None:
        if day is not None and day <= self.today:
            self.actions[day].append(action)


# --- each membership's billing life ------------------------------------------------------------


def _timeline(m: Membership, *, window_start: datetime.date, today: datetime.date, gym: Gym) -> _Timeline:
    """Where `m` stood at the window's start and what happens to it in the window."""
    t = _Timeline(
        membership=m,
        final_status=m.status,
        final_next_billing=m.next_billing_date,
        final_past_due_since=m.past_due_since,
        recurring=bool(m.billing_period) and m.plan.kind == Plan.Kind.RECURRING,
    )
    if m.start_date >= window_start:
        t.sale_day = m.start_date
    if m.status in (MStatus.CANCELLED, MStatus.EXPIRED):
        t.stop_day = m.end_date or m.cancelled_on
    elif m.status == MStatus.FROZEN:
        open_freezes = [f.start_date for f in m.freezes.all() if f.ended_on is None]  # type: ignore[attr-defined]
        t.stop_day = max(open_freezes, default=today)
    if not t.recurring:
        return t
    delta = billing_period_delta(billing_period=m.billing_period, interval=m.billing_interval)
    if m.status in (MStatus.ACTIVE, MStatus.FROZEN) and m.next_billing_date:
        anchor = m.next_billing_date
    elif m.status == MStatus.PAST_DUE and m.past_due_since:
        # Invoiced on `anchor`, due `invoice_due_days` later, overdue the day after.
        anchor = m.past_due_since - datetime.timedelta(days=gym.invoice_due_days + 1)
        if anchor <= m.start_date:
            anchor = m.start_date + delta
        t.unpaid_period = anchor
    else:
        anchor = m.start_date + delta
    # The first billing date of the chain through `anchor` after the start and in the
    # window (`anchor + k * delta` is the calendar `next_billing_date_after` keeps).
    k = 0
    while anchor + delta * (k - 1) > m.start_date and anchor + delta * (k - 1) >= window_start:
        k -= 1
    while anchor + delta * k <= m.start_date or anchor + delta * k < window_start:
        k += 1
    t.next_billing, t.anchor_day = anchor + delta * k, anchor.day
    return t


def _billing_dates(t: _Timeline, *, until: datetime.date) -> list[datetime.date]:
    """The membership's billing dates from its cursor up to `until`, while it runs."""
    probe = dataclasses.replace(t)
    dates = []
    while probe.next_billing is not None and probe.next_billing <= until:
        if t.stop_day is not None and probe.next_billing >= t.stop_day:
            break
        dates.append(probe.next_billing)
        probe.advance()
    return dates


def _pick_corrections(replay: _Replay) -> None:
    """Choose the cancelled memberships whose last invoice is voided (issued less than a
    week before the cancellation, not paid) or partly refunded (the unused days)."""
    voids, refunds = VOIDS, PRORATA_REFUNDS
    for t in replay.timelines.values():
        if not t.recurring or t.final_status != MStatus.CANCELLED or t.stop_day is None:
            continue
        dates = _billing_dates(t, until=replay.today)
        if not dates:
            continue
        last = dates[-1]
        probe = dataclasses.replace(t, next_billing=last)
        probe.advance()
        days_in = (t.stop_day - last).days
        if voids and days_in <= 6:
            t.void_period, voids = last, voids - 1
        elif refunds and days_in >= 7 and probe.next_billing and (probe.next_billing - t.stop_day).days >= 7:
            t.refund_period, refunds = last, refunds - 1


# --- how each invoice is settled ------------------------------------------------------------------


def _method_for(replay: _Replay, member_id: int) -> str:
    methods, weights = zip(*METHOD_HABITS, strict=True)
    if member_id not in replay.habits:
        replay.habits[member_id] = replay.rng.choices(methods, weights)[0]
    if replay.rng.random() < 0.85:
        return replay.habits[member_id]
    return str(replay.rng.choices(methods, weights)[0])


def _story(replay: _Replay, inv: _Invoiced) -> _Story:
    """Decide how `inv` gets settled (seeded; called once per invoice in issue order)."""
    rng, today, issue = replay.rng, replay.today, inv.issue_date
    t = replay.timelines.get(inv.membership_id or 0)
    method = _method_for(replay, inv.member_id)
    if inv.sale:
        if method == ONLINE:
            method = Method.CARD_TERMINAL  # signing up at the desk
        fee = t.membership.plan.signup_fee if t is not None else 0
        if fee > 0 and replay.signup_refunds_left and issue + datetime.timedelta(days=5) < today:
            replay.signup_refunds_left -= 1
            return _Story("signup_refund", Method.CARD_TERMINAL, issue, issue + datetime.timedelta(days=5))
        return _Story("plain", method, issue + datetime.timedelta(days=int(rng.random() < 0.1)))
    if t is not None and inv.period_start is not None:
        if inv.period_start == t.unpaid_period:
            return _Story("unpaid")
        if inv.period_start == t.void_period:
            return _Story("void", event_day=t.stop_day)
        if inv.period_start == t.refund_period:
            method = Method.CARD_TERMINAL if rng.random() < 0.5 else Method.BANK_TRANSFER
            return _Story("refund", method, issue, t.stop_day)
    ending = t is None or t.stop_day is not None
    free = t is not None and not ending and not t.storied and t.final_status == MStatus.ACTIVE
    delays, weights = zip(*PAY_DELAYS, strict=True)
    delay = rng.choices(delays, weights)[0]
    roll = rng.random()
    story = _Story("plain", method)
    # A late payment is over before the recent days, so the membership they find is
    # active again (they start from the memberships' state on that day).
    late_by = replay.recent or today
    if free and roll < LATE_SHARE and issue + datetime.timedelta(days=21) < late_by:
        story.kind = "late"
        delay = rng.randint((inv.due_date - issue).days + 2, 20)
    elif free and roll < LATE_SHARE + PART_SHARE and issue + datetime.timedelta(days=7) < today:
        story.kind, story.first_part_day = "part", issue + datetime.timedelta(days=min(delay, 2))
        delay = min(max(delay, 3) + 2, (inv.due_date - issue).days)
    elif (
        free and replay.goodwill_left and issue + datetime.timedelta(days=30) < today and rng.random() < GOODWILL_SHARE
    ):
        replay.goodwill_left -= 1
        story.kind, story.event_day = "goodwill", issue
        delay = max(delay, 1)
    if story.kind != "plain" and t is not None:
        t.storied = True
    pay_day = issue + datetime.timedelta(days=delay)
    if story.kind != "late" and pay_day > today and inv.due_date < today:
        pay_day = inv.due_date  # by today every invoice past its due date is paid, bar the unpaid ones
    if t is not None and t.stop_day is not None and pay_day >= t.stop_day:
        pay_day = max(issue, t.stop_day - datetime.timedelta(days=1))
    story.pay_day = pay_day
    if pay_day > today:
        story.kind = "open"
    return story


def _stripe_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choices(string.ascii_letters + string.digits, k=24))


def _reference(rng: random.Random, method: str, number: str) -> str:
    if method == Method.BANK_TRANSFER:
        return f"EFT {number}"
    if method == Method.CARD_TERMINAL:
        return f"Terminal slip {rng.randrange(100000, 999999)}"
    return ""


def _pay(replay: _Replay, inv: _Invoiced, day: datetime.date, method: str, amount: Decimal | None = None) -> None:
    """The member pays `amount` (what is still due by default) on `day`, through the
    services: `payment_record` at the desk, `payment_intent_apply` online."""
    amount = inv.due if amount is None else min(amount, inv.due)
    if amount <= 0:
        return
    invoice = Invoice.objects.get(pk=inv.pk)
    if method == ONLINE:
        result = stripe_api.PaymentIntentResult(
            id=_stripe_id(replay.rng, "pi_3"),
            status="succeeded",
            amount=amount,
            currency=invoice.currency,
            charge_id=_stripe_id(replay.rng, "ch_3"),
            metadata={"invoice_id": str(inv.pk), "fitflow_schema": replay.gym.schema_name},
        )
        payment_intent_apply(result, today=day)
    else:
        payment_record(
            invoice=invoice,
            amount=amount,
            method=method,
            reference=_reference(replay.rng, method, inv.number),
            received_on=day,
            actor=replay.desk,
        )
    inv.paid += amount


def _schedule(replay: _Replay, inv: _Invoiced, story: _Story) -> None:
    """Put the story's steps on the calendar: a payment of the whole by one payment goes
    into its day's batch (`_payments_write`); every other step is a service call."""
    kind = story.kind
    if kind in ("unpaid", "open"):
        return
    if kind in ("plain", "refund", "signup_refund"):
        if inv.total > 0:
            replay.on(story.pay_day, lambda d: replay.paying.append((inv, story)))
        _schedule_refund(replay, inv, story)
        return
    if kind == "void":
        replay.on(story.event_day, lambda d: _void(replay, inv, d))
        return
    if kind == "part":
        half = (inv.total / 2).quantize(CENT, rounding=ROUND_HALF_UP)
        replay.on(story.first_part_day, lambda d: _pay(replay, inv, d, story.method, half))
    if kind == "late":
        overdue = inv.due_date + datetime.timedelta(days=1)
        replay.on(overdue, lambda d: invoices_mark_overdue(today=d))
    if kind == "goodwill":
        replay.on(story.event_day, lambda d: _goodwill_credit(inv, d))
    replay.on(story.pay_day, lambda d: _pay(replay, inv, d, story.method))


def _schedule_refund(replay: _Replay, inv: _Invoiced, story: _Story) -> None:
    if story.kind == "refund":
        replay.on(story.event_day, lambda d: _refund_unused_days(replay, inv, d))
    elif story.kind == "signup_refund":
        replay.on(story.event_day, lambda d: _refund_signup_fee(replay, inv, d))


def _void(replay: _Replay, inv: _Invoiced, day: datetime.date) -> None:
    invoice_void(invoice=Invoice.objects.get(pk=inv.pk), reason="Cancelled before the period began", actor=replay.desk)
    replay.voided[inv.pk] = day


def _goodwill_credit(inv: _Invoiced, day: datetime.date) -> None:
    amount = (inv.total * Decimal("0.10")).quantize(CENT, rounding=ROUND_HALF_UP)
    invoice_credit(invoice=Invoice.objects.get(pk=inv.pk), amount=amount, reason=GOODWILL_REASON, today=day)
    inv.credited += amount


def _refund_signup_fee(replay: _Replay, inv: _Invoiced, day: datetime.date) -> None:
    t = replay.timelines[inv.membership_id or 0]
    invoice_refund(
        invoice=Invoice.objects.get(pk=inv.pk),
        amount=t.membership.plan.signup_fee,
        reason="Signup fee waived: referred by a member",
        actor=replay.desk,
        today=day,
    )


def _refund_unused_days(replay: _Replay, inv: _Invoiced, day: datetime.date) -> None:
    if inv.period_start is None or inv.period_end is None or inv.paid <= 0:
        return
    days = (inv.period_end - inv.period_start).days + 1
    unused = (inv.period_end - day).days + 1
    amount = (inv.paid * unused / days).quantize(CENT, rounding=ROUND_HALF_UP)
    invoice_refund(
        invoice=Invoice.objects.get(pk=inv.pk),
        amount=amount,
        reason=f"Cancelled on {day:%d %b %Y}: {unused} unused days refunded",
        actor=replay.desk,
        today=day,
    )


# --- the months before: plain stories in bulk -------------------------------------------------------


def _numbers_take(gym: Gym, *, year: int, count: int) -> list[str]:
    """`count` consecutive invoice numbers of `year`, taken as `document_number_take`
    takes one (same row, same lock, same format)."""
    table = DocumentSequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (kind, year, last_number) VALUES (%s, %s, %s)"  # noqa: S608 (model's own table)
            f" ON CONFLICT (kind, year) DO UPDATE SET last_number = {table}.last_number + %s RETURNING last_number",
            [INVOICE, year, count, count],
        )
        (last,) = cursor.fetchone()
    prefix = gym.invoice_prefix or "INV"
    return [f"{prefix}-{year}-{n:06d}" for n in range(last - count + 1, last + 1)]


def period_invoice_build(*, gym: Gym, membership: Membership, start: datetime.date, after: datetime.date) -> Invoice:
    """The invoice `membership_invoice_period` issues for the period [start, after) of a
    membership paid by hand, unsaved and without its number (its line is
    `period_line_build`). Used for the demo's bulk history and checked against the
    service by the tests."""
    end = after - datetime.timedelta(days=1)
    plan = membership.plan
    amount = round_money(membership.price, gym.currency)
    totals = invoice_totals(
        amounts=[amount],
        discount=CENT * 0,
        tax_rate=plan.tax_rate,
        tax_inclusive=plan.price_includes_tax,
        currency=gym.currency,
    )
    invoice = Invoice(
        member=membership.member,
        membership=membership,
        currency=gym.currency,
        issue_date=start,
        due_date=start + datetime.timedelta(days=gym.invoice_due_days),
        period_start=start,
        period_end=end,
        subtotal=totals.subtotal,
        discount=totals.discount,
        tax_rate=plan.tax_rate,
        tax_inclusive=plan.price_includes_tax,
        tax=totals.tax,
        total=totals.total,
        seller=seller_snapshot(gym),
        bill_to=bill_to_snapshot(membership.member),
        status=Invoice.Status.OPEN,
    )
    if invoice.total == 0:
        invoice.status, invoice.paid_at = Invoice.Status.PAID, timezone.now()
    return invoice


def period_line_build(invoice: Invoice) -> InvoiceLine:
    """The one line of a period invoice (see `period_invoice_build`)."""
    membership = invoice.membership
    assert membership is not None and invoice.period_start and invoice.period_end
    return InvoiceLine(
        invoice=invoice,
        kind=InvoiceLine.Kind.PLAN_PERIOD,
        description=f"{membership.plan.name}: {invoice.period_start:%d %b %Y} to {invoice.period_end:%d %b %Y}"[:255],
        quantity=1,
        unit_price=round_money(membership.price, invoice.currency),
        amount=invoice.subtotal,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
    )


def _notice(member_id: int, kind: str, inv: Invoice | _Invoiced, total: Decimal) -> Notification:
    return Notification(
        member_id=member_id,
        kind=kind,
        idempotency_key=f"{kind}:invoice:{inv.pk}",
        data={"invoice_id": inv.pk, "number": inv.number, "total": str(total)},
    )


def _payment_build(replay: _Replay, inv: _Invoiced, story: _Story) -> Payment:
    """The payment row `payment_record` (or, online, `payment_intent_apply`) writes."""
    assert story.pay_day is not None
    payment = Payment(
        invoice_id=inv.pk,
        member_id=inv.member_id,
        amount=inv.total,
        currency=replay.gym.currency,
        status=Payment.Status.SUCCEEDED,
        received_on=story.pay_day,
    )
    if story.method == ONLINE:
        payment.method = Method.STRIPE
        payment.stripe_payment_intent_id = _stripe_id(replay.rng, "pi_3")
        payment.stripe_charge_id = _stripe_id(replay.rng, "ch_3")
    else:
        payment.method, payment.recorded_by = story.method, replay.desk
        payment.reference = _reference(replay.rng, story.method, inv.number)
    return payment


def _history_day(replay: _Replay, day: datetime.date, due: list[_Timeline]) -> None:
    """Issue the period invoices of `day` (the memberships in `due`, in id order as the
    billing run takes them) in bulk, pay the plain ones in bulk, and put the others'
    stories on the calendar."""
    gym = replay.gym
    built = []
    for t in due:
        start = t.next_billing
        assert start is not None
        t.advance()
        assert t.next_billing is not None
        built.append(period_invoice_build(gym=gym, membership=t.membership, start=start, after=t.next_billing))
    for invoice, number in zip(built, _numbers_take(gym, year=day.year, count=len(built)), strict=True):
        invoice.number = number
    stories = []
    for invoice in built:
        inv = _Invoiced(
            pk=0,
            member_id=invoice.member_id,
            membership_id=invoice.membership_id,
            number=invoice.number or "",
            total=invoice.total,
            issue_date=invoice.issue_date,
            due_date=invoice.due_date,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            sale=False,
        )
        stories.append((inv, _story(replay, inv)))
    Invoice.objects.bulk_create(built)
    InvoiceLine.objects.bulk_create(period_line_build(invoice) for invoice in built)
    Notification.objects.bulk_create(
        _notice(invoice.member_id, "invoice_issued", invoice, invoice.total) for invoice in built
    )
    for invoice, (inv, story) in zip(built, stories, strict=True):
        inv.pk = invoice.pk
        replay.invoices[inv.pk] = inv
        _schedule(replay, inv, story)


def _payments_write(replay: _Replay) -> None:
    """The day's batch of whole payments, written as `payment_record` (or, online,
    `payment_intent_apply`) and `invoice_settle_if_paid` write them: the payment, the
    invoice paid, the `payment_received` notification. (Settling also returns a past-due
    membership to active and grants the period's class credits: no membership paying
    this way is past due, and a credit allowance is granted when the member first
    books or asks, `apps.bookings.credits`.)"""
    if not replay.paying:
        return
    batch, replay.paying = replay.paying, []
    now = timezone.now()
    Invoice.objects.filter(pk__in=[inv.pk for inv, _ in batch], status=Invoice.Status.OPEN).update(
        status=Invoice.Status.PAID, amount_paid=F("total"), paid_at=now, updated_at=now
    )
    Payment.objects.bulk_create(_payment_build(replay, inv, story) for inv, story in batch)
    Notification.objects.bulk_create(_notice(inv.member_id, "payment_received", inv, inv.total) for inv, _ in batch)
    for inv, _ in batch:
        inv.paid = inv.total


def _sales_day(replay: _Replay, timelines: list[_Timeline], day: datetime.date) -> None:
    """Sell the memberships that start on `day` (`membership_sale_invoice`) and put how
    their invoices are settled on the calendar."""
    if not timelines:
        return
    since = _last_pk(Invoice)
    for t in timelines:
        if t.recurring:  # its first period runs to the replay's first billing date
            t.membership.next_billing_date = t.next_billing
        membership_sale_invoice(membership=t.membership, actor=replay.desk, today=day)
    for inv in _remember(replay, since, sale=True):
        _schedule(replay, inv, _story(replay, inv))


def _remember(replay: _Replay, since_pk: int, *, sale: bool) -> list[_Invoiced]:
    found = []
    rows = (
        Invoice.objects.filter(pk__gt=since_pk)
        .order_by("pk")
        .only("member_id", "membership_id", "number", "total", "issue_date", "due_date", "period_start", "period_end")
    )
    for i in rows:
        inv = _Invoiced(
            pk=i.pk,
            member_id=i.member_id,
            membership_id=i.membership_id,
            number=i.number or "",
            total=i.total,
            issue_date=i.issue_date,
            due_date=i.due_date,
            period_start=i.period_start,
            period_end=i.period_end,
            sale=sale,
        )
        replay.invoices[inv.pk] = inv
        found.append(inv)
    return found


def _last_pk(model: type) -> int:
    return model.objects.order_by("-pk").values_list("pk", flat=True).first() or 0  # type: ignore[attr-defined]


# --- timestamps --------------------------------------------------------------------------------------


def _restamp_day(replay: _Replay, day: datetime.date) -> None:
    """Membership events and notifications written while replaying `day` move to that
    day (07:00-17:00 gym-local); notifications are marked sent."""
    at = datetime.datetime.combine(day, datetime.time(7), tzinfo=replay.tz)
    cap = replay.wall_start - datetime.timedelta(minutes=1)
    event, notice = MembershipEvent._meta.db_table, Notification._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {event} SET at = LEAST(%s + (id %% 600) * interval '1 minute', %s)"  # noqa: S608 (own table)
            f" WHERE at > %s AND kind IN ('past_due', 'reactivated')",
            [at, cap, replay.wall_start],
        )
        cursor.execute(
            f"UPDATE {notice} SET created_at = LEAST(%s + (id %% 600) * interval '1 minute', %s),"  # noqa: S608
            f" sent_at = LEAST(%s + (id %% 600) * interval '1 minute' + interval '1 minute', %s)"
            f" WHERE created_at > %s",
            [at, cap, at, cap, replay.wall_start],
        )


def _restamp(replay: _Replay) -> None:
    """Invoices, payments, credit notes and refunds take their own dates' business hours
    (gym-local): invoices at 06:00-06:50 (the billing hour), payments 08:00-18:00, credit
    notes and refunds 11:00-12:30; invoices are emailed 4 minutes after issue, paid at
    their last payment, voided on the day they were. Never later than the seed began."""
    tz = str(replay.tz)
    cap = replay.wall_start - datetime.timedelta(minutes=1)
    invoice, payment = Invoice._meta.db_table, Payment._meta.db_table
    note, refund, notice = CreditNote._meta.db_table, Refund._meta.db_table, Notification._meta.db_table
    statements = [
        f"UPDATE {invoice} SET created_at = LEAST(((issue_date + time '06:00') AT TIME ZONE %(tz)s)"  # noqa: S608 (own tables)
        f" + (id %% 50) * interval '1 minute', %(cap)s) WHERE created_at > %(cap)s",
        f"UPDATE {invoice} SET emailed_at = LEAST(created_at + interval '4 minutes', %(cap)s)"  # noqa: S608 (own tables)
        f" WHERE number IS NOT NULL AND emailed_at IS NULL",
        f"UPDATE {payment} SET created_at = LEAST(((received_on + time '08:00') AT TIME ZONE %(tz)s)"  # noqa: S608 (own tables)
        f" + ((id * 37) %% 600) * interval '1 minute', %(cap)s) WHERE created_at > %(cap)s",
        f"UPDATE {note} SET created_at = LEAST(((issue_date + time '11:00') AT TIME ZONE %(tz)s)"  # noqa: S608 (own tables)
        f" + (id %% 90) * interval '1 minute', %(cap)s) WHERE created_at > %(cap)s",
        f"UPDATE {refund} r SET created_at = c.created_at FROM {note} c WHERE c.id = r.credit_note_id"  # noqa: S608 (own tables)
        f" AND r.created_at > %(cap)s",
        f"UPDATE {payment} p SET updated_at = GREATEST(p.created_at, COALESCE((SELECT max(r.created_at)"  # noqa: S608 (own tables)
        f" FROM {refund} r WHERE r.payment_id = p.id), p.created_at)) WHERE p.updated_at > %(cap)s",
        f"UPDATE {invoice} i SET paid_at = COALESCE((SELECT max(p.created_at) FROM {payment} p"  # noqa: S608 (own tables)
        f" WHERE p.invoice_id = i.id AND p.status = 'succeeded'), i.created_at) WHERE i.paid_at > %(cap)s",
        f"UPDATE {invoice} i SET updated_at = GREATEST(i.created_at, COALESCE(i.paid_at, i.created_at),"  # noqa: S608 (own tables)
        f" COALESCE(i.voided_at, i.created_at), COALESCE((SELECT max(c.created_at) FROM {note} c"
        f" WHERE c.invoice_id = i.id), i.created_at)) WHERE i.updated_at > %(cap)s",
        f"UPDATE {notice} n SET created_at = LEAST(i.created_at + interval '3 minutes', %(cap)s),"  # noqa: S608 (own tables)
        f" sent_at = LEAST(i.created_at + interval '4 minutes', %(cap)s) FROM {invoice} i"
        f" WHERE n.kind = 'invoice_issued' AND n.idempotency_key = 'invoice_issued:invoice:' || i.id",
        f"UPDATE {notice} n SET created_at = LEAST(i.paid_at + interval '1 minute', %(cap)s),"  # noqa: S608 (own tables)
        f" sent_at = LEAST(i.paid_at + interval '2 minutes', %(cap)s) FROM {invoice} i WHERE i.paid_at IS NOT NULL"
        f" AND n.kind = 'payment_received' AND n.idempotency_key = 'payment_received:invoice:' || i.id",
    ]
    with connection.cursor() as cursor:
        for pk, day in replay.voided.items():
            at = datetime.datetime.combine(day, datetime.time(10), tzinfo=replay.tz)
            cursor.execute(f"UPDATE {invoice} SET voided_at = %s WHERE id = %s", [min(at, cap), pk])  # noqa: S608
        for sql in statements:
            cursor.execute(sql, {"tz": tz, "cap": cap})


# --- the seed -----------------------------------------------------------------------------------------


def _gym_billing_details(gym: Gym) -> None:
    """Give the demo gym the legal details an invoice prints, and South Africa's VAT rate
    (15%) for manual items, when it has none yet."""
    if gym.legal_name:
        return
    for name, value in DEMO_BILLING_DETAILS.items():
        setattr(gym, name, value)
    gym.tax_rate, gym.prices_include_tax = Decimal("15.00"), True
    gym.save(update_fields=[*DEMO_BILLING_DETAILS, "tax_rate", "prices_include_tax"])


@transaction.atomic
def demo_invoices_seed(
    *,
    gym: Gym,
    desk: User | None = None,
    today: datetime.date | None = None,
    months: int = MONTHS,
    seed: int = 2026,
) -> int:
    """Create `months` months of billing history up to `today` (gym-local, default
    today in the active timezone) in the current gym's schema (`gym`, entered with
    `tenant_context`): sale and period invoices, payments by every method, late and part
    payments, refunds with credit notes, goodwill credit notes, voided invoices, and
    the unpaid invoices behind the past-due memberships. `desk` (a receptionist) is
    recorded as the staff user who took the payments. Membership statuses, past-due
    dates and next billing dates end as the members demo left them (a past-due one's
    next billing date follows its unpaid period). Returns the number of invoices
    created: 0 when the gym already has invoices.
    """
    if Invoice.objects.exists():
        return 0
    today = today or timezone.localdate()
    window_start = today - relativedelta(months=months)
    _gym_billing_details(gym)
    memberships = list(Membership.objects.select_related("plan", "member").prefetch_related("freezes").order_by("pk"))
    replay = _Replay(
        gym=gym,
        desk=desk,
        today=today,
        rng=random.Random(seed),  # noqa: S311 (demo data, not security)
        tz=gym_tzinfo(gym),
        wall_start=timezone.now(),
        timelines={m.pk: _timeline(m, window_start=window_start, today=today, gym=gym) for m in memberships},
    )
    _pick_corrections(replay)
    unpaid = [t.unpaid_period for t in replay.timelines.values() if t.unpaid_period is not None]
    recent = max(window_start, min([today - datetime.timedelta(days=RECENT_DAYS), *unpaid]))
    replay.recent = recent
    starts: dict[datetime.date, list[_Timeline]] = defaultdict(list)
    stops: dict[datetime.date, list[_Timeline]] = defaultdict(list)
    for t in replay.timelines.values():
        if t.sale_day is not None and t.sale_day <= today:
            starts[t.sale_day].append(t)
        if t.recurring and t.stop_day is not None and recent < t.stop_day <= today:
            stops[t.stop_day].append(t)

    day = window_start
    while day < recent:  # the months before: period invoices in bulk
        _sales_day(replay, starts[day], day)
        due = [
            t
            for t in replay.timelines.values()
            if t.recurring and t.next_billing == day and (t.stop_day is None or day < t.stop_day)
        ]
        if due:
            _history_day(replay, day, due)
        actions = replay.actions.pop(day, [])
        for action in actions:
            action(day)
        _payments_write(replay)
        if starts[day] or actions:
            _restamp_day(replay, day)
        day += datetime.timedelta(days=1)

    # The recent days through the billing run: the memberships still running are
    # active again with their next billing date, as they stood on `recent`.
    rewound = []
    for t in replay.timelines.values():
        if t.recurring and (t.stop_day is None or t.stop_day > recent):
            m = t.membership
            m.status, m.past_due_since = MStatus.ACTIVE, None
            m.next_billing_date, m.billing_anchor_day = t.next_billing, t.anchor_day
            rewound.append(m)
    Membership.objects.bulk_update(rewound, ["status", "past_due_since", "next_billing_date", "billing_anchor_day"])
    while day <= today:
        _sales_day(replay, starts[day], day)
        for t in stops[day]:
            Membership.objects.filter(pk=t.membership.pk).update(
                status=t.final_status, past_due_since=t.final_past_due_since
            )
        since = _last_pk(Invoice)
        billing_run(today=day)
        for inv in _remember(replay, since, sale=False):
            _schedule(replay, inv, _story(replay, inv))
        for action in replay.actions.pop(day, []):
            action(day)
        _payments_write(replay)
        _restamp_day(replay, day)
        day += datetime.timedelta(days=1)

    _restore(replay)
    _restamp(replay)
    Gym.objects.filter(pk=gym.pk).update(billing_run_on=today)
    return len(replay.invoices)


def _restore(replay: _Replay) -> None:
    """Memberships end as the members demo left them: status and past-due date (the
    replay reached the same ones; this also ends the ones that stopped before the recent
    days), and next billing date; a cancelled or expired membership has none. Class
    credit allowances granted while replaying to memberships that are not active now are
    taken back out: a payment settles with the wall clock's date (`payment_record` takes
    no `today`), so it granted today's allowance period."""
    changed = []
    now = Membership.objects.in_bulk([pk for pk, t in replay.timelines.items() if t.recurring])
    for pk, m in now.items():
        t = replay.timelines[pk]
        target_next = t.final_next_billing
        if t.final_status == MStatus.PAST_DUE:
            target_next = m.next_billing_date  # the period after the unpaid one
        if (m.status, m.past_due_since, m.next_billing_date) != (
            t.final_status,
            t.final_past_due_since,
            target_next,
        ):
            m.status, m.past_due_since, m.next_billing_date = t.final_status, t.final_past_due_since, target_next
            changed.append(m)
    Membership.objects.bulk_update(changed, ["status", "past_due_since", "next_billing_date"])
    CreditEntry.objects.filter(created_at__gte=replay.wall_start).exclude(membership__status=MStatus.ACTIVE).delete()


__all__ = ["demo_invoices_seed", "period_invoice_build", "period_line_build"]
