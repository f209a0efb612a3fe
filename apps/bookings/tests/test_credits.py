"""The credit ledger: allowance periods, lazy purchase and grant rows, the summary,
staff adjustments, refunds into expired buckets and the nightly expiry."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from datetime import date as D

import pytest
from django_tenants.utils import tenant_context

from apps.bookings.errors import BookingError
from apps.bookings.models import CreditEntry
from apps.bookings.services import (
    booking_cancel,
    booking_create,
    credit_adjust,
    credit_allowance_period,
    credits_expire_due,
    credits_summary,
    session_bookings_cancel,
)
from apps.memberships.models import Membership
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.tenants.models import Gym

from .factories import NOW, TODAY, balance, ledger_consistent, member_on, monthly_plan, pack_plan, session_at

pytestmark = pytest.mark.django_db

Kind = CreditEntry.Kind


@pytest.fixture(autouse=True)
def in_gym(gym_a: Gym) -> Iterator[Gym]:
    with tenant_context(gym_a):
        yield gym_a


def rows(membership: Membership) -> list[tuple[str, int, int]]:
    return [
        (e.kind, e.amount, e.balance_after) for e in CreditEntry.objects.filter(membership=membership).order_by("id")
    ]


# --- allowance periods ---------------------------------------------------------------------------


def contract(**fields) -> Membership:
    """An unsaved recurring membership with the given terms (the period maths is pure)."""
    defaults = {"start_date": D(2026, 1, 31), "billing_period": "monthly", "billing_interval": 1}
    return Membership(**(defaults | fields))


@pytest.mark.parametrize(
    ("next_billing", "on", "expected"),
    [
        # The period in effect ends the day before the next billing date. Monthly from
        # 31 January: billed 28 February, then 31 March (billing keeps the anchor day).
        (D(2026, 2, 28), D(2026, 2, 10), (D(2026, 1, 31), D(2026, 2, 27))),
        (D(2026, 3, 31), D(2026, 3, 10), (D(2026, 2, 28), D(2026, 3, 30))),
        # Billing has not moved the date on yet: periods continue from it.
        (D(2026, 2, 28), D(2026, 2, 28), (D(2026, 2, 28), D(2026, 3, 27))),
        (D(2026, 2, 28), D(2026, 6, 15), (D(2026, 5, 28), D(2026, 6, 27))),
    ],
)
def test_the_allowance_period_follows_the_billing_periods(next_billing, on, expected) -> None:
    assert credit_allowance_period(membership=contract(next_billing_date=next_billing), on=on) == expected


def test_a_weekly_period_and_the_trial_days_before_the_first() -> None:
    # Start 2 March with 5 trial days: the first paid week is 7-13 March (next billing 14 March).
    m = contract(start_date=D(2026, 3, 2), billing_period="weekly", next_billing_date=D(2026, 3, 14))
    assert credit_allowance_period(membership=m, on=D(2026, 3, 8)) == (D(2026, 3, 7), D(2026, 3, 13))
    assert credit_allowance_period(membership=m, on=D(2026, 3, 3)) == (D(2026, 3, 2), D(2026, 3, 6))


# --- lazy rows and the summary -------------------------------------------------------------------


def test_a_pack_shows_its_purchase_the_first_time_it_is_looked_at() -> None:
    membership = member_on(pack_plan(credits=10, expiry_days=90))  # 1 March to 29 May

    summary = credits_summary(member=membership.member, today=TODAY)

    assert rows(membership) == [(Kind.PURCHASE, 10, 10)]
    assert CreditEntry.objects.get(membership=membership).expires_on == D(2026, 5, 29)
    [bucket] = summary.buckets
    assert (bucket.balance, bucket.expires_on, bucket.unlimited, bucket.usable) == (10, D(2026, 5, 29), False, True)
    assert (summary.total, summary.unlimited) == (10, False)
    credits_summary(member=membership.member, today=TODAY)
    assert len(rows(membership)) == 1  # written once


def test_the_summary_lists_unlimited_first_then_soonest_expiring() -> None:
    member = member_on(monthly_plan(credits=None)).member
    late = member_on(pack_plan(credits=3, expiry_days=60), member=member)
    soon = member_on(pack_plan(credits=2, expiry_days=30), member=member)
    never = member_on(pack_plan(credits=4, expiry_days=None), member=member)

    summary = credits_summary(member=member, today=TODAY)

    assert [b.unlimited for b in summary.buckets] == [True, False, False, False]
    assert [b.membership.pk for b in summary.buckets[1:]] == [soon.pk, late.pk, never.pk]
    assert (summary.total, summary.unlimited) == (9, True)
    assert summary.buckets[0].balance is None


def test_a_frozen_membership_shows_its_credits_as_not_usable() -> None:
    membership = member_on(pack_plan(credits=3))
    Membership.objects.filter(pk=membership.pk).update(status=Membership.Status.FROZEN)

    summary = credits_summary(member=membership.member, today=TODAY)

    assert summary.buckets[0].balance == 3 and not summary.buckets[0].usable and summary.total == 0


def test_a_new_period_expires_the_leftover_and_grants_again() -> None:
    membership = member_on(monthly_plan(credits=4))
    booking_create(member=membership.member, session=session_at(), now=NOW)

    credits_summary(member=membership.member, today=D(2026, 4, 1))

    assert rows(membership) == [
        (Kind.GRANT, 4, 4),
        (Kind.SPEND, -1, 3),
        (Kind.EXPIRE, -3, 0),
        (Kind.GRANT, 4, 4),
    ]
    assert ledger_consistent(membership)


# --- staff adjustments --------------------------------------------------------------------------


def test_staff_add_and_remove_credits(make_staff, gym_a: Gym) -> None:
    manager = make_staff(gym_a)
    membership = member_on(pack_plan(credits=2))

    added = credit_adjust(membership=membership, amount=3, note="Goodwill", actor=manager, today=TODAY)
    removed = credit_adjust(membership=membership, amount=-5, note="Correction", actor=manager, today=TODAY)

    assert (added.kind, added.amount, added.balance_after, added.note, added.actor) == (
        Kind.ADJUST,
        3,
        5,
        "Goodwill",
        manager,
    )
    assert removed.balance_after == 0
    assert ledger_consistent(membership)


@pytest.mark.parametrize(("amount", "code"), [(0, "invalid_amount"), (-3, "insufficient_credits")])
def test_an_adjustment_that_breaks_a_rule_is_refused(amount: int, code: str) -> None:
    membership = member_on(pack_plan(credits=2))
    with pytest.raises(BookingError) as caught:
        credit_adjust(membership=membership, amount=amount, note="", actor=None, today=TODAY)
    assert caught.value.code == code
    assert not CreditEntry.objects.filter(kind=Kind.ADJUST).exists()


def test_an_unlimited_membership_has_no_credits_to_adjust() -> None:
    membership = member_on(monthly_plan(credits=None))
    with pytest.raises(BookingError) as caught:
        credit_adjust(membership=membership, amount=1, note="", actor=None, today=TODAY)
    assert caught.value.code == "unlimited_membership"


def test_credits_cannot_be_added_to_an_expired_pack_but_can_be_removed() -> None:
    membership = member_on(pack_plan(credits=2, expiry_days=10))  # last day 10 March
    with pytest.raises(BookingError) as caught:
        credit_adjust(membership=membership, amount=1, note="", actor=None, today=D(2026, 3, 11))
    assert caught.value.code == "credits_expired"


# --- expiry ------------------------------------------------------------------------------------


def test_the_nightly_job_expires_a_lapsed_pack_once() -> None:
    membership = member_on(pack_plan(credits=5, expiry_days=10))  # last day 10 March
    booking_create(member=membership.member, session=session_at(), now=NOW)  # 4 credits left

    assert credits_expire_due(today=D(2026, 3, 10)) == 0  # still its last day
    assert credits_expire_due(today=D(2026, 3, 11)) == 1
    assert credits_expire_due(today=D(2026, 3, 12)) == 0  # idempotent

    assert rows(membership)[-1] == (Kind.EXPIRE, -4, 0)
    assert ledger_consistent(membership)


def test_the_nightly_job_expires_a_periods_leftover() -> None:
    membership = member_on(monthly_plan(credits=8))
    credits_summary(member=membership.member, today=TODAY)  # the March grant

    assert credits_expire_due(today=D(2026, 4, 1)) == 1
    assert balance(membership) == 0
    # April's grant comes when the bucket is next used or looked at.
    assert credits_summary(member=membership.member, today=D(2026, 4, 1)).total == 8


def test_a_pack_never_used_has_nothing_to_expire() -> None:
    member_on(pack_plan(credits=5, expiry_days=10))
    assert credits_expire_due(today=D(2026, 4, 1)) == 0


def test_a_pack_without_an_expiry_never_expires() -> None:
    membership = member_on(pack_plan(credits=5, expiry_days=None))
    credits_summary(member=membership.member, today=TODAY)
    assert credits_expire_due(today=D(2030, 1, 1)) == 0


def test_a_refund_into_an_expired_pack_is_expired_at_once() -> None:
    membership = member_on(pack_plan(credits=3, expiry_days=10))  # last day 10 March
    session = session_at(datetime.datetime(2026, 3, 8, 18, tzinfo=datetime.UTC))
    booking = booking_create(member=membership.member, session=session, now=NOW)
    credits_expire_due(today=D(2026, 3, 11))

    # The gym cancels the (past) session afterwards: the refund is written, then lapses.
    session_bookings_cancel(session=session, reason="Data fix", now=datetime.datetime(2026, 3, 12, tzinfo=datetime.UTC))

    assert rows(membership)[-2:] == [(Kind.REFUND, 1, 1), (Kind.EXPIRE, -1, 0)]
    assert CreditEntry.objects.get(kind=Kind.REFUND).booking_id == booking.pk
    assert ledger_consistent(membership)


def test_a_refund_after_the_period_rolled_over_lands_in_the_new_period() -> None:
    membership = member_on(monthly_plan(credits=2))
    april_session = session_at(datetime.datetime(2026, 4, 3, 18, tzinfo=datetime.UTC))
    booking = booking_create(
        member=membership.member, session=april_session, now=datetime.datetime(2026, 3, 30, tzinfo=datetime.UTC)
    )

    booking_cancel(booking=booking, now=datetime.datetime(2026, 4, 1, 9, tzinfo=datetime.UTC))

    assert rows(membership) == [
        (Kind.GRANT, 2, 2),  # March
        (Kind.SPEND, -1, 1),
        (Kind.EXPIRE, -1, 0),  # March's leftover
        (Kind.GRANT, 2, 2),  # April
        (Kind.REFUND, 1, 3),
    ]


def test_a_one_off_pass_with_credits_works_like_a_pack() -> None:
    plan = PlanFactory(kind=Plan.Kind.ONE_OFF, billing_period="", duration_days=30, class_credits=4)
    membership = member_on(plan)  # 1 to 30 March

    booking_create(member=membership.member, session=session_at(), now=NOW)

    purchase = CreditEntry.objects.filter(membership=membership).order_by("id").first()
    assert purchase is not None
    assert (purchase.kind, purchase.amount, purchase.expires_on) == (Kind.PURCHASE, 4, D(2026, 3, 30))
    assert balance(membership) == 3


def test_the_balance_can_never_go_below_zero_even_by_mistake() -> None:
    from apps.bookings.credits import bucket_states, memberships_lock

    membership = member_on(pack_plan(credits=1))
    [locked] = memberships_lock(membership_ids=[membership.pk])
    state = bucket_states([locked], today=TODAY)[membership.pk]
    with pytest.raises(ValueError):
        state.append(Kind.SPEND, -2)
