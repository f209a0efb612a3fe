"""Invoice rules without Stripe: tax arithmetic, gapless numbers, the sale invoice,
manual payments, voids, credit notes and refunds, and the billing run for members who
pay by hand (due periods, idempotency, the anchor day, overdue -> past_due -> refused at
check-in after the grace days -> paid -> green again)."""

from __future__ import annotations

from datetime import date as D
from decimal import Decimal

import pytest
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.checkins.services import checkin_create
from apps.memberships.models import Membership, MembershipEvent
from apps.notifications.models import Notification
from apps.tenants.models import Gym

from ..errors import InvoiceError
from ..models import Invoice, InvoiceLine, Payment
from ..services import (
    LineInput,
    billing_run,
    document_number_take,
    invoice_create,
    invoice_credit,
    invoice_refund,
    invoice_totals,
    invoice_void,
    payment_record,
)
from .factories import member_on_monthly, monthly

pytestmark = pytest.mark.django_db
M = Decimal


@pytest.fixture
def gym(gym_a: Gym):
    with tenant_context(gym_a):
        yield gym_a


# --- tax and totals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amounts", "discount", "rate", "inclusive", "currency", "expected"),
    [
        # 115.00 including 15% holds 15.00 of tax
        (["115.00"], "0", "15", True, "ZAR", ("115.00", "0.00", "15.00", "115.00")),
        # 100.00 plus 15% is 115.00
        (["100.00"], "0", "15", False, "ZAR", ("100.00", "0.00", "15.00", "115.00")),
        # 9.99 incl. 20% VAT: 1.665 -> 1.67 (half up)
        (["9.99"], "0", "20", True, "GBP", ("9.99", "0.00", "1.67", "9.99")),
        # 10.05 excl. 7.5%: 0.75375 -> 0.75
        (["10.05"], "0", "7.5", False, "USD", ("10.05", "0.00", "0.75", "10.80")),
        # discount first, then tax on what is left: (200 - 50) + 15% = 172.50
        (["120.00", "80.00"], "50", "15", False, "ZAR", ("200.00", "50.00", "22.50", "172.50")),
        # yen have no minor unit: 1000 incl. 10% -> 90.909 -> 91
        (["1000"], "0", "10", True, "JPY", ("1000.00", "0.00", "91.00", "1000.00")),
        # tax-free
        (["49.50"], "0", "0", False, "EUR", ("49.50", "0.00", "0.00", "49.50")),
    ],
)
def test_totals_round_tax_to_the_minor_unit(amounts, discount, rate, inclusive, currency, expected) -> None:
    totals = invoice_totals(
        amounts=[M(a) for a in amounts],
        discount=M(discount),
        tax_rate=M(rate),
        tax_inclusive=inclusive,
        currency=currency,
    )
    assert (totals.subtotal, totals.discount, totals.tax, totals.total) == tuple(M(e) for e in expected)


def test_discount_larger_than_subtotal_is_refused() -> None:
    with pytest.raises(InvoiceError) as err:
        invoice_totals(amounts=[M("10")], discount=M("11"), tax_rate=M("0"), tax_inclusive=True, currency="ZAR")
    assert err.value.code == "invalid_amount"


# --- numbering -------------------------------------------------------------------------------


def test_numbers_are_sequential_per_year_and_a_rollback_gives_the_number_back(gym: Gym) -> None:
    with transaction.atomic():
        first = document_number_take(kind="invoice", prefix="INV", year=2026)
    with pytest.raises(RuntimeError), transaction.atomic():
        document_number_take(kind="invoice", prefix="INV", year=2026)
        raise RuntimeError("the document was not saved")
    with transaction.atomic():
        second = document_number_take(kind="invoice", prefix="INV", year=2026)
        other_year = document_number_take(kind="invoice", prefix="INV", year=2027)
    n = int(first.rsplit("-", 1)[1])
    assert second == f"INV-2026-{n + 1:06d}"
    assert other_year.startswith("INV-2027-")


def test_sale_invoice_is_numbered_with_the_gym_prefix_and_snapshots(gym: Gym) -> None:
    Gym.objects.filter(pk=gym.pk).update(
        invoice_prefix="HBR", legal_name="Harbour Fitness (Pty) Ltd", tax_number="4123"
    )
    gym.refresh_from_db()
    membership = member_on_monthly(plan=monthly("575.00", signup_fee=M("100.00")))
    invoice = Invoice.objects.get(membership=membership)
    assert invoice.number.startswith("HBR-") and invoice.status == Invoice.Status.OPEN
    assert [(line.kind, line.amount) for line in invoice.lines.all()] == [
        (InvoiceLine.Kind.SIGNUP_FEE, M("100.00")),
        (InvoiceLine.Kind.PLAN_PERIOD, M("575.00")),
    ]
    # 675.00 including 15% VAT holds 88.04
    assert (invoice.total, invoice.tax) == (M("675.00"), M("88.04"))
    assert invoice.seller["legal_name"] == "Harbour Fitness (Pty) Ltd" and invoice.seller["tax_number"] == "4123"
    assert invoice.bill_to["name"] == membership.member.full_name
    assert (invoice.period_start, invoice.period_end) == (D(2026, 1, 31), D(2026, 2, 27))


# --- manual payments and corrections -------------------------------------------------------------


def test_part_payments_then_paid_and_overpayment_refused(gym: Gym) -> None:
    invoice = Invoice.objects.get(membership=member_on_monthly())
    payment_record(invoice=invoice, amount=M("200.00"), method=Payment.Method.CASH, reference="till 2")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due) == (Invoice.Status.OPEN, M("300.00"))
    with pytest.raises(InvoiceError) as err:
        payment_record(invoice=invoice, amount=M("300.01"), method=Payment.Method.CASH)
    assert err.value.code == "overpayment"
    payment_record(invoice=invoice, amount=M("300.00"), method=Payment.Method.BANK_TRANSFER, reference="EFT 991")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_due, invoice.amount_paid) == (Invoice.Status.PAID, M("0"), M("500.00"))
    assert invoice.paid_at is not None
    assert (
        Notification.objects.filter(
            kind="payment_received", idempotency_key=f"payment_received:invoice:{invoice.pk}"
        ).count()
        == 1
    )
    with pytest.raises(InvoiceError) as err:
        payment_record(invoice=invoice, amount=M("1.00"), method=Payment.Method.CASH)
    assert err.value.code == "invoice_not_open"


def test_void_only_unpaid_and_numbers_are_kept(gym: Gym) -> None:
    invoice = Invoice.objects.get(membership=member_on_monthly())
    voided = invoice_void(invoice=invoice, reason="sold by mistake")
    assert voided.status == Invoice.Status.VOID and voided.number == invoice.number and voided.amount_due == 0
    paid = Invoice.objects.get(membership=member_on_monthly())
    payment_record(invoice=paid, amount=M("500.00"), method=Payment.Method.CASH)
    with pytest.raises(InvoiceError) as err:
        invoice_void(invoice=paid, reason="x")
    assert err.value.code == "invoice_not_voidable"


def test_credit_note_on_open_invoice_and_refunds_on_paid_one(gym: Gym) -> None:
    open_invoice = Invoice.objects.get(membership=member_on_monthly())
    note = invoice_credit(invoice=open_invoice, amount=M("100.00"), reason="goodwill")
    open_invoice.refresh_from_db()
    assert note.number.startswith("CN-2026-") and note.tax == M("13.04")
    assert open_invoice.amount_due == M("400.00")
    with pytest.raises(InvoiceError) as err:
        invoice_credit(invoice=open_invoice, amount=M("400.01"), reason="too much")
    assert err.value.code == "refund_too_large"
    invoice_credit(invoice=open_invoice, amount=M("400.00"), reason="rest")
    open_invoice.refresh_from_db()
    assert open_invoice.status == Invoice.Status.PAID

    paid = Invoice.objects.get(membership=member_on_monthly())
    cash = payment_record(invoice=paid, amount=M("500.00"), method=Payment.Method.CASH)
    invoice_refund(invoice=paid, amount=M("120.00"), reason="injury, partial")
    cash.refresh_from_db()
    paid.refresh_from_db()
    assert cash.amount_refunded == M("120.00") and cash.refundable == M("380.00")
    assert paid.status == Invoice.Status.PAID and paid.total == M("500.00")  # the invoice is never edited
    assert paid.credit_notes.get().refunds.get().amount == M("120.00")
    with pytest.raises(InvoiceError) as err:
        invoice_refund(invoice=paid, amount=M("380.01"), reason="more than paid")
    assert err.value.code == "refund_too_large"


def test_manual_invoice_needs_lines_and_takes_a_discount(gym: Gym) -> None:
    membership = member_on_monthly()
    with pytest.raises(InvoiceError):
        invoice_create(member=membership.member, lines=[])
    from ..services import IssueOptions

    invoice = invoice_create(
        member=membership.member,
        lines=[LineInput("Towel hire", M("20.00"), quantity=3), LineInput("Shake", M("45.00"))],
        options=IssueOptions(discount=M("5.00"), tax_rate=M("15"), tax_inclusive=False),
    )
    assert (invoice.subtotal, invoice.discount, invoice.tax, invoice.total) == (
        M("105.00"),
        M("5.00"),
        M("15.00"),
        M("115.00"),
    )


# --- the billing run for members who pay by hand -------------------------------------------------


def test_billing_run_invoices_due_periods_once_and_keeps_the_anchor_day(gym: Gym) -> None:
    membership = member_on_monthly(D(2026, 1, 31))
    assert membership.next_billing_date == D(2026, 2, 28)
    first = billing_run(today=D(2026, 2, 28))
    again = billing_run(today=D(2026, 2, 28))
    assert (first.invoiced, again.invoiced) == (1, 0)
    assert first.open_for_manual == 1
    membership.refresh_from_db()
    assert membership.next_billing_date == D(2026, 3, 31)  # back on the 31st, not the 28th
    feb = Invoice.objects.get(membership=membership, period_start=D(2026, 2, 28))
    assert feb.period_end == D(2026, 3, 30) and not feb.auto_collect
    assert Notification.objects.filter(kind="invoice_issued", data__invoice_id=feb.pk).count() == 1
    billing_run(today=D(2026, 3, 31))
    membership.refresh_from_db()
    assert membership.next_billing_date == D(2026, 4, 30)
    assert Invoice.objects.filter(membership=membership, period_start__isnull=False).count() == 3


def test_frozen_cancelled_and_non_recurring_memberships_are_not_billed(gym: Gym) -> None:
    frozen = member_on_monthly(D(2026, 1, 10))
    Membership.objects.filter(pk=frozen.pk).update(status=Membership.Status.FROZEN)
    ending = member_on_monthly(D(2026, 1, 10))
    Membership.objects.filter(pk=ending.pk).update(cancel_at_period_end=True)
    result = billing_run(today=D(2026, 2, 10))
    assert result.invoiced == 0


def test_overdue_hand_paid_invoice_goes_past_due_refused_after_grace_then_green_when_paid(gym: Gym) -> None:
    import datetime

    membership = member_on_monthly(D(2026, 1, 10))
    sale = Invoice.objects.get(membership=membership, period_start=D(2026, 1, 10))
    payment_record(invoice=sale, amount=sale.total, method=Payment.Method.CASH)
    billing_run(today=D(2026, 2, 10))  # invoices Feb, due 17 Feb (7 days)
    feb = Invoice.objects.get(membership=membership, period_start=D(2026, 2, 10))
    assert feb.due_date == D(2026, 2, 17)
    billing_run(today=D(2026, 2, 17))
    membership.refresh_from_db()
    assert membership.status == Membership.Status.ACTIVE  # due today is not overdue
    billing_run(today=D(2026, 2, 18))
    membership.refresh_from_db()
    assert (membership.status, membership.past_due_since) == (Membership.Status.PAST_DUE, D(2026, 2, 18))
    assert MembershipEvent.objects.filter(membership=membership, kind=MembershipEvent.Kind.PAST_DUE).count() == 1

    def at(day: D) -> datetime.datetime:
        return datetime.datetime.combine(day, datetime.time(10), tzinfo=datetime.UTC)

    # inside the 3 grace days (18, 19 and 20 Feb): green with a warning; after them: red
    assert checkin_create(member=membership.member, now=at(D(2026, 2, 20))).allowed
    from apps.checkins.models import CheckIn

    CheckIn.objects.all().delete()
    refused = checkin_create(member=membership.member, now=at(D(2026, 2, 21)))
    assert (refused.allowed, refused.code) == (False, "payment_overdue")
    payment_record(invoice=feb, amount=feb.total, method=Payment.Method.CASH, reference="paid at desk")
    membership.refresh_from_db()
    assert (membership.status, membership.past_due_since) == (Membership.Status.ACTIVE, None)
    assert checkin_create(member=membership.member, now=at(D(2026, 2, 22))).allowed


def test_voiding_the_overdue_invoice_lifts_past_due(gym: Gym) -> None:
    membership = member_on_monthly(D(2026, 1, 10))
    Invoice.objects.filter(membership=membership).update(status=Invoice.Status.PAID)
    billing_run(today=D(2026, 2, 10))
    billing_run(today=D(2026, 2, 18))
    feb = Invoice.objects.get(membership=membership, period_start=D(2026, 2, 10))
    invoice_void(invoice=feb, reason="billed in error")
    membership.refresh_from_db()
    assert membership.status == Membership.Status.ACTIVE


def test_another_gyms_billing_run_never_touches_this_gym(gym_a: Gym, gym_b: Gym) -> None:
    with tenant_context(gym_a):
        membership = member_on_monthly(D(2026, 1, 31))
    with tenant_context(gym_b):
        result = billing_run(today=D(2026, 2, 28))
        assert Invoice.objects.filter(period_start=D(2026, 2, 28)).count() == 0
    with tenant_context(gym_a):
        membership.refresh_from_db()
        assert membership.next_billing_date == D(2026, 2, 28)
        assert not Invoice.objects.filter(period_start=D(2026, 2, 28)).exists()
    assert result.invoiced == 0


def test_booking_is_refused_only_after_the_payment_grace_days(gym: Gym) -> None:
    import datetime

    from apps.bookings.errors import BookingError
    from apps.bookings.services import booking_create
    from apps.bookings.tests.factories import session_at

    membership = member_on_monthly(D(2026, 1, 10))
    Membership.objects.filter(pk=membership.pk).update(status=Membership.Status.PAST_DUE, past_due_since=D(2026, 2, 10))
    now = datetime.datetime(2026, 2, 11, 9, tzinfo=datetime.UTC)
    inside = session_at(datetime.datetime(2026, 2, 12, 9, tzinfo=datetime.UTC))  # day 3 of 3 (10, 11, 12 Feb)
    after = session_at(datetime.datetime(2026, 2, 13, 9, tzinfo=datetime.UTC))
    assert booking_create(member=membership.member, session=inside, now=now).status == "confirmed"
    with pytest.raises(BookingError) as err:
        booking_create(member=membership.member, session=after, now=now)
    assert err.value.code == "no_valid_membership"
