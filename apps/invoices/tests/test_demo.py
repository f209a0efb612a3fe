"""The demo gym's billing history: six months of invoices, each month billed, gapless
numbers, most invoices paid by every method, a few late, part-paid, credited, refunded
and voided, the members demo's past-due memberships explained by an unpaid invoice
(some still inside the grace days, some beyond), money that adds up, timestamps on the
documents' own dates, membership states as the members demo left them; deterministic
and idempotent; the bulk-written history equal to what the billing run writes."""

from __future__ import annotations

import datetime
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.db.models import Sum
from django.forms.models import model_to_dict
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.invoices.demo import demo_invoices_seed, period_invoice_build, period_line_build
from apps.invoices.models import CreditNote, Invoice, InvoiceLine, Payment, Refund
from apps.invoices.services import membership_invoice_period
from apps.members.demo import demo_members_seed
from apps.memberships.models import Membership, MembershipEvent
from apps.notifications.models import Notification
from apps.staff.roles import Role
from apps.tenants.dispatch import gym_tzinfo
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

Status = Invoice.Status


@dataclass
class Seeded:
    gym: Gym
    desk: User
    today: datetime.date
    started: datetime.datetime
    created: int
    before: dict[int, tuple[str, datetime.date | None, datetime.date | None]]
    tz: datetime.tzinfo


@pytest.fixture
def seeded(gym_a: Gym, make_staff) -> Iterator[Seeded]:
    """Gym A with the demo members, then the demo billing history (in the gym's timezone,
    as `seed_demo` runs it)."""
    desk = make_staff(gym_a, Role.RECEPTIONIST)
    tz = gym_tzinfo(gym_a)
    with tenant_context(gym_a), timezone.override(tz):
        demo_members_seed(count=300)
        before = {
            m.pk: (m.status, m.past_due_since, m.next_billing_date)
            for m in Membership.objects.order_by("pk").only("status", "past_due_since", "next_billing_date")
        }
        today = timezone.localdate()
        started = timezone.now()
        created = demo_invoices_seed(gym=gym_a, desk=desk, today=today)
        yield Seeded(gym_a, desk, today, started, created, before, tz)


def seq(number: str) -> tuple[int, int]:
    """(year, sequence) of `INV-2026-000123`."""
    _, year, n = number.rsplit("-", 2)
    return int(year), int(n)


def test_six_months_billed_numbers_gapless_most_paid_by_every_method(seeded: Seeded, gym_b: Gym) -> None:
    today = seeded.today
    invoices = list(Invoice.objects.order_by("pk"))
    assert seeded.created == len(invoices) > 600
    # every calendar month of the window has invoices, and nothing is older than six months
    start = today - relativedelta(months=6)
    months = Counter((i.issue_date.year, i.issue_date.month) for i in invoices)
    month = start.replace(day=1)
    while month <= today:
        assert months[(month.year, month.month)] > 0, month
        month += relativedelta(months=1)
    assert min(i.issue_date for i in invoices) >= start and max(i.issue_date for i in invoices) <= today
    # numbers: per year 1..n with no gap, in issue order; credit notes the same
    by_year: dict[int, list[tuple[int, datetime.date]]] = defaultdict(list)
    for i in invoices:
        year, n = seq(i.number or "")
        assert year == i.issue_date.year
        by_year[year].append((n, i.issue_date))
    for rows in by_year.values():
        rows.sort()
        assert [n for n, _ in rows] == list(range(1, len(rows) + 1))
        assert [d for _, d in rows] == sorted(d for _, d in rows)  # taken in issue order
    notes = sorted(seq(n) for n in CreditNote.objects.values_list("number", flat=True))
    assert [n for _, n in notes] == list(range(1, len(notes) + 1))
    # statuses: most paid; a few open, a couple voided; nothing draft or uncollectible
    status = Counter(i.status for i in invoices)
    assert status[Status.PAID] / len(invoices) > 0.9
    assert status[Status.OPEN] >= 4 and status[Status.VOID] == 2
    assert set(status) == {Status.PAID, Status.OPEN, Status.VOID}
    # every kind of line and every way of paying
    assert set(InvoiceLine.objects.values_list("kind", flat=True)) >= {"plan_period", "signup_fee", "class_pack"}
    methods = Counter(Payment.objects.filter(status="succeeded").values_list("method", flat=True))
    assert set(methods) == {"cash", "card_terminal", "bank_transfer", "stripe"}
    assert not Payment.objects.exclude(status="succeeded").exists()
    online = Payment.objects.filter(method="stripe")
    assert all((p.stripe_payment_intent_id or "").startswith("pi_") and p.recorded_by_id is None for p in online)
    assert Payment.objects.filter(method="cash", recorded_by=seeded.desk).exists()
    assert not seeded.gym.stripe_account_id  # a gym without Stripe: nothing calls Stripe
    # the gym prints its legal details on its invoices
    assert invoices[0].seller["legal_name"] == seeded.gym.legal_name != ""
    # the other gym has none of it
    with tenant_context(gym_b):
        assert not Invoice.objects.exists() and not Payment.objects.exists()


def test_money_adds_up(seeded: Seeded) -> None:
    invoices = list(Invoice.objects.prefetch_related("lines", "payments__refunds", "credit_notes"))
    refunded = Refund.objects.aggregate(s=Sum("amount"))["s"]
    credited = CreditNote.objects.aggregate(s=Sum("amount"))["s"]
    # then: credit notes are what invoices count as credited, refunds what payments count
    assert sum(i.amount_credited for i in invoices) == credited
    assert Payment.objects.aggregate(s=Sum("amount_refunded"))["s"] == refunded
    assert refunded > 0 and credited > refunded  # goodwill credits come without money back
    for i in invoices:
        # totals: the line sum, tax at the plan's 15% included
        assert i.total == i.subtotal == sum(line.amount for line in i.lines.all())
        assert i.tax == (i.total * Decimal(15) / Decimal(115)).quantize(Decimal("0.01"))
        received = sum(p.amount for p in i.payments.all())
        given_back = sum(r.amount for p in i.payments.all() for r in p.refunds.all())
        notes = sum(c.amount for c in i.credit_notes.all())
        assert notes == i.amount_credited
        if not given_back:
            assert i.amount_paid == received
        if i.status == Status.PAID:
            # what stayed with the gym plus what was credited settles the invoice exactly
            assert received - given_back + notes == i.total and i.paid_at is not None
        elif i.status == Status.OPEN:
            assert i.amount_due > 0 and received + notes < i.total and i.paid_at is None
        else:
            assert received == 0 and i.voided_at is not None
    # a few invoices were paid in two parts; refunds came with their credit notes
    parts = Counter(Payment.objects.values_list("invoice_id", flat=True))
    assert sum(1 for n in parts.values() if n == 2) >= 3
    assert all(r.credit_note_id for r in Refund.objects.all())
    reasons = set(CreditNote.objects.values_list("reason", flat=True))
    assert any(r.startswith("Goodwill") for r in reasons) and any("unused days" in r for r in reasons)
    assert any("Signup fee" in r for r in reasons)


def test_past_due_explained_some_in_grace_some_beyond_states_kept(seeded: Seeded) -> None:
    today, grace = seeded.today, seeded.gym.payment_grace_days
    after = {m.pk: m for m in Membership.objects.all()}
    # then: every membership ends as the members demo left it (a past-due one bills next
    # the period after its unpaid invoice)
    for pk, (status, since, next_billing) in seeded.before.items():
        m = after[pk]
        assert (m.status, m.past_due_since) == (status, since), pk
        if status != Membership.Status.PAST_DUE:
            assert m.next_billing_date == next_billing, pk
    past_due = [m for m in after.values() if m.status == Membership.Status.PAST_DUE]
    assert len(past_due) >= 3
    for m in past_due:
        overdue = Invoice.objects.filter(membership=m, status=Status.OPEN, due_date__lt=today)
        assert overdue.count() == 1
        invoice = overdue.get()
        assert m.past_due_since and invoice.period_end
        # the billing run made it past due the day after the due date, as recorded
        assert m.past_due_since == invoice.due_date + datetime.timedelta(days=1)
        assert m.next_billing_date == invoice.period_end + datetime.timedelta(days=1)
        assert Notification.objects.filter(idempotency_key=f"invoice_overdue:invoice:{invoice.pk}").exists()
    within = [m for m in past_due if m.past_due_since and (today - m.past_due_since).days < grace]
    assert within and len(within) < len(past_due)  # some still get in, some are refused
    # no other open invoice is overdue: the rest are recent and not yet due
    overdue_ids = set(
        Invoice.objects.filter(status=Status.OPEN, due_date__lt=today).values_list("membership_id", flat=True)
    )
    assert overdue_ids == {m.pk for m in past_due}
    assert Invoice.objects.filter(status=Status.OPEN, due_date__gte=today).exists()
    # late payers went past due and came back when they paid
    kinds = Counter(MembershipEvent.objects.values_list("kind", flat=True))
    assert kinds["past_due"] >= kinds["reactivated"] >= 3
    # each recurring membership's periods follow each other, up to its next billing date
    for m in after.values():
        periods = [
            (start, end)
            for start, end in Invoice.objects.filter(membership=m)
            .order_by("period_start")
            .values_list("period_start", "period_end")
            if start and end
        ]
        for (_, end), (start, _) in itertools.pairwise(periods):
            assert start == end + datetime.timedelta(days=1), m.pk
        if periods and m.status in (Membership.Status.ACTIVE, Membership.Status.PAST_DUE):
            assert m.next_billing_date == periods[-1][1] + datetime.timedelta(days=1), m.pk


def test_rows_carry_their_own_dates_and_the_seed_is_idempotent(seeded: Seeded) -> None:
    local = seeded.tz
    for i in Invoice.objects.all():
        assert i.created_at.astimezone(local).date() == i.issue_date
        assert i.created_at < seeded.started and i.emailed_at is not None
        if i.paid_at:
            assert i.created_at <= i.paid_at < seeded.started
    for p in Payment.objects.all():
        assert p.created_at.astimezone(local).date() == p.received_on and p.created_at < seeded.started
        assert p.received_on >= p.invoice.issue_date
    for c in CreditNote.objects.all():
        assert c.created_at.astimezone(local).date() == c.issue_date
    assert not Notification.objects.filter(sent_at__isnull=True).exists()
    assert not Notification.objects.filter(created_at__gte=seeded.started).exists()
    assert not MembershipEvent.objects.filter(kind="past_due", at__gte=seeded.started).exists()
    # a second run adds nothing
    count = Invoice.objects.count()
    assert demo_invoices_seed(gym=seeded.gym, desk=seeded.desk, today=seeded.today) == 0
    assert Invoice.objects.count() == count


def test_seed_is_deterministic_across_a_new_year(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    today = datetime.date(2026, 3, 15)  # the window spans two years: numbers restart in 2026

    def seed(gym: Gym) -> list[tuple]:
        desk = make_staff(gym, Role.RECEPTIONIST)
        with tenant_context(gym), timezone.override(gym_tzinfo(gym)):
            demo_members_seed(count=120)
            demo_invoices_seed(gym=gym, desk=desk, today=today)
            invoices = Invoice.objects.order_by("number").values_list(
                "number", "member__email", "issue_date", "total", "status"
            )
            payments = Payment.objects.order_by("invoice__number", "received_on", "amount").values_list(
                "invoice__number", "method", "amount", "received_on"
            )
            return [*invoices, *payments]

    # given the same members in two gyms, when both are seeded on the same day
    first, second = seed(gym_a), seed(gym_b)
    # then: the same history, numbered per year
    assert first == second
    years = Counter(seq(row[0])[0] for row in first if len(row) == 5)
    assert set(years) == {2025, 2026}
    assert sorted(seq(row[0])[1] for row in first if len(row) == 5 and seq(row[0])[0] == 2026) == list(
        range(1, years[2026] + 1)
    )


def test_bulk_history_invoice_is_what_the_billing_run_writes(gym_a: Gym) -> None:
    with tenant_context(gym_a), timezone.override(gym_tzinfo(gym_a)):
        demo_members_seed(count=60)
        m = (
            Membership.objects.select_related("plan", "member")
            .filter(status=Membership.Status.ACTIVE, billing_period="monthly")
            .order_by("pk")
            .first()
        )
        assert m is not None and m.next_billing_date is not None
        day = m.next_billing_date
        # given: the membership billed by the service
        built = period_invoice_build(gym=gym_a, membership=m, start=day, after=day + relativedelta(months=1))
        line = period_line_build(built)
        made = membership_invoice_period(membership_id=m.pk, today=day)
        assert made is not None
        # then: the bulk builder made the same invoice and line (but for ids, number, clocks)
        skip = {"id", "number", "pdf", "created_at", "updated_at", "paid_at"}
        assert {k: v for k, v in model_to_dict(built).items() if k not in skip} == {
            k: v for k, v in model_to_dict(made).items() if k not in skip
        }
        made_line = made.lines.get()
        assert {k: v for k, v in model_to_dict(line).items() if k not in ("id", "invoice")} == {
            k: v for k, v in model_to_dict(made_line).items() if k not in ("id", "invoice")
        }
