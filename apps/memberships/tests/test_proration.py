"""Change of plan, "prorated by days remaining in the current period" (issue 3).

unused credit = old price x days remaining / days in period
new charge    = new price x days remaining / days in period
amount due    = new charge - unused credit   (negative: the member gets a credit)
each amount rounded to 0.01 with ROUND_HALF_UP. Every case below is computed by hand
in its comment.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date as D
from decimal import Decimal
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.errors import MembershipError
from apps.memberships.models import Membership, MembershipEvent
from apps.memberships.services import (
    ProrationQuote,
    membership_assign,
    membership_cancel,
    membership_change_plan,
    membership_change_plan_quote,
    membership_expire_due,
    membership_freeze,
    money,
)
from apps.plans.models import Plan
from apps.plans.services import plan_archive
from apps.plans.tests.factories import PlanFactory
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

Status = Membership.Status


@pytest.fixture(autouse=True)
def in_gym(gym_a: Gym) -> Iterator[Gym]:
    with tenant_context(gym_a):
        yield gym_a


def monthly(price: str, **fields: Any) -> Plan:
    return PlanFactory(price=Decimal(price), **fields)


def on_plan(price: str, start: D) -> Membership:
    return membership_assign(member=MemberFactory(), plan=monthly(price), start_date=start)


def amounts(quote: ProrationQuote) -> tuple[int, int, Decimal, Decimal, Decimal]:
    return (quote.days_remaining, quote.days_in_period, quote.unused_credit, quote.new_plan_charge, quote.amount_due)


def test_money_rounds_half_up_to_cents() -> None:
    assert money(Decimal("10.005")) == Decimal("10.01")  # banker's rounding would give 10.00
    assert money(Decimal("0.125")) == Decimal("0.13")
    assert money(Decimal("-96.765")) == Decimal("-96.77")
    assert money(Decimal("290.3225806")) == Decimal("290.32")


def test_upgrade_with_half_the_period_left() -> None:
    # April has 30 days: the period is 1-30 April, next billing 1 May. On 16 April,
    # 16..30 April = 15 days remain.
    # unused 600 x 15/30 = 300.00; new 900 x 15/30 = 450.00; due 450.00 - 300.00 = 150.00.
    m = on_plan("600.00", D(2026, 4, 1))
    quote = membership_change_plan_quote(membership=m, new_plan=monthly("900.00"), today=D(2026, 4, 16))
    assert amounts(quote) == (15, 30, Decimal("300.00"), Decimal("450.00"), Decimal("150.00"))
    assert (quote.period_start, quote.next_billing_date, quote.resets_billing_cycle) == (
        D(2026, 4, 1),
        D(2026, 5, 1),
        False,
    )


def test_downgrade_gives_a_credit() -> None:
    # January: 31 days, next billing 1 February. On 22 January, 22..31 = 10 days remain.
    # unused 900 x 10/31 = 290.3225... -> 290.32; new 600 x 10/31 = 193.5483... -> 193.55;
    # due 193.55 - 290.32 = -96.77 (a credit).
    m = on_plan("900.00", D(2026, 1, 1))
    quote = membership_change_plan_quote(membership=m, new_plan=monthly("600.00"), today=D(2026, 1, 22))
    assert amounts(quote) == (10, 31, Decimal("290.32"), Decimal("193.55"), Decimal("-96.77"))


def test_last_day_of_the_period() -> None:
    # 31 January, next billing 1 February: 1 day of 31 remains.
    # unused 600/31 = 19.354... -> 19.35; new 900/31 = 29.032... -> 29.03; due 9.68.
    m = on_plan("600.00", D(2026, 1, 1))
    quote = membership_change_plan_quote(membership=m, new_plan=monthly("900.00"), today=D(2026, 1, 31))
    assert amounts(quote) == (1, 31, Decimal("19.35"), Decimal("29.03"), Decimal("9.68"))


def test_first_day_of_the_period() -> None:
    # 1 January: all 31 days remain. unused 600.00; new 900.00; due 300.00.
    m = on_plan("600.00", D(2026, 1, 1))
    quote = membership_change_plan_quote(membership=m, new_plan=monthly("900.00"), today=D(2026, 1, 1))
    assert amounts(quote) == (31, 31, Decimal("600.00"), Decimal("900.00"), Decimal("300.00"))


def test_a_half_cent_rounds_up() -> None:
    # Last day of April: 1 of 30 days. unused 300.15/30 = 10.005 -> 10.01 (half up);
    # new 450.00/30 = 15.00; due 4.99.
    m = on_plan("300.15", D(2026, 4, 1))
    quote = membership_change_plan_quote(membership=m, new_plan=monthly("450.00"), today=D(2026, 4, 30))
    assert amounts(quote) == (1, 30, Decimal("10.01"), Decimal("15.00"), Decimal("4.99"))


def test_the_first_period_from_the_31st_is_the_short_one() -> None:
    # Start 31 January, next billing 28 February: the period is 31 Jan-27 Feb, 28 days.
    # On 14 February, 14..27 Feb = 14 days remain.
    # unused 600 x 14/28 = 300.00; new 900 x 14/28 = 450.00; due 150.00.
    m = on_plan("600.00", D(2026, 1, 31))
    assert m.next_billing_date == D(2026, 2, 28)
    quote = membership_change_plan_quote(membership=m, new_plan=monthly("900.00"), today=D(2026, 2, 14))
    assert amounts(quote) == (14, 28, Decimal("300.00"), Decimal("450.00"), Decimal("150.00"))
    assert quote.period_start == D(2026, 1, 31)


def test_a_finished_freeze_in_the_period_does_not_count_as_remaining() -> None:
    # Period 1-31 January (next billing 1 Feb); frozen 10-19 January (10 days), so next
    # billing moved to 11 February. On 25 January the member has used 1-9 and 20-24
    # January (14 days) of 31: 17 remain, and 11 Feb - 25 Jan = 17.
    # unused 600 x 17/31 = 329.0322... -> 329.03; new 900 x 17/31 = 493.5483... -> 493.55;
    # due 493.55 - 329.03 = 164.52.
    m = on_plan("600.00", D(2026, 1, 1))
    membership_freeze(membership=m, start_date=D(2026, 1, 10), end_date=D(2026, 1, 19), reason="", today=D(2026, 1, 5))
    membership_expire_due(today=D(2026, 1, 10))  # the freeze starts
    membership_expire_due(today=D(2026, 1, 20))  # and ends
    m.refresh_from_db()
    assert (m.status, m.next_billing_date) == (Status.ACTIVE, D(2026, 2, 11))

    quote = membership_change_plan_quote(membership=m, new_plan=monthly("900.00"), today=D(2026, 1, 25))

    assert amounts(quote) == (17, 31, Decimal("329.03"), Decimal("493.55"), Decimal("164.52"))


def test_a_trial_counts_as_unused_paid_time() -> None:
    # Start 1 March with 7 trial days: the paid period is 8 March-7 April (31 days),
    # next billing 8 April. During the trial (3 March) the whole paid period is unused.
    # unused 600.00; new 900.00; due 300.00.
    m = membership_assign(member=MemberFactory(), plan=monthly("600.00", trial_days=7), start_date=D(2026, 3, 1))
    quote = membership_change_plan_quote(membership=m, new_plan=monthly("900.00"), today=D(2026, 3, 3))
    assert amounts(quote) == (31, 31, Decimal("600.00"), Decimal("900.00"), Decimal("300.00"))
    assert quote.period_start == D(2026, 3, 8)


def test_a_different_billing_cadence_restarts_the_cycle_today() -> None:
    # Monthly R600 to yearly R6000 on 16 April: credit 600 x 15/30 = 300.00 for the
    # rest of April, charge the full year 6000.00, due 5700.00; next billing 16 April 2027.
    m = on_plan("600.00", D(2026, 4, 1))
    yearly = monthly("6000.00", billing_period=Plan.BillingPeriod.YEARLY)
    quote = membership_change_plan_quote(membership=m, new_plan=yearly, today=D(2026, 4, 16))
    assert amounts(quote) == (15, 30, Decimal("300.00"), Decimal("6000.00"), Decimal("5700.00"))
    assert (quote.next_billing_date, quote.resets_billing_cycle) == (D(2027, 4, 16), True)


def test_quarterly_and_three_monthly_are_the_same_cadence() -> None:
    m = membership_assign(
        member=MemberFactory(),
        plan=monthly("1500.00", billing_period=Plan.BillingPeriod.QUARTERLY),
        start_date=D(2026, 1, 1),
    )
    every_3_months = monthly("1800.00", billing_interval=3)
    # Period 1 Jan-31 Mar = 90 days; on 1 March, 31 days remain.
    # unused 1500 x 31/90 = 516.666... -> 516.67; new 1800 x 31/90 = 620.00; due 103.33.
    quote = membership_change_plan_quote(membership=m, new_plan=every_3_months, today=D(2026, 3, 1))
    assert amounts(quote) == (31, 90, Decimal("516.67"), Decimal("620.00"), Decimal("103.33"))
    assert quote.resets_billing_cycle is False


def test_change_plan_ends_the_old_membership_and_starts_the_new_one_today(make_staff, gym_a: Gym) -> None:
    actor = make_staff(gym_a)
    m = on_plan("600.00", D(2026, 4, 1))
    gold = monthly("900.00", class_credits=None)

    new, quote = membership_change_plan(
        membership=m, new_plan=gold, actor=actor, reason="Wants unlimited", today=D(2026, 4, 16)
    )

    assert quote.amount_due == Decimal("150.00")
    m.refresh_from_db()
    assert (m.status, m.end_date, m.next_billing_date, m.cancelled_on) == (
        Status.CANCELLED,
        D(2026, 4, 16),
        None,
        D(2026, 4, 16),
    )
    assert m.cancel_reason == f"Changed plan to {gold.name}"
    assert (new.plan, new.status, new.start_date, new.next_billing_date, new.price) == (
        gold,
        Status.ACTIVE,
        D(2026, 4, 16),
        D(2026, 5, 1),
        Decimal("900.00"),
    )
    assert new.member_id == m.member_id
    changed = m.events.get(kind=MembershipEvent.Kind.PLAN_CHANGED)
    created = new.events.get(kind=MembershipEvent.Kind.CREATED)
    for event in (changed, created):
        assert (event.actor, event.reason) == (actor, "Wants unlimited")
        assert event.data["proration"] == quote.as_data()
    assert changed.data["new_membership_id"] == new.pk
    assert created.data["changed_from"] == m.pk
    assert quote.as_data()["amount_due"] == "150.00"
    new.member.refresh_from_db()
    assert new.member.status == Member.Status.ACTIVE


def test_the_quote_and_the_change_agree() -> None:
    m = on_plan("900.00", D(2026, 1, 1))
    cheaper = monthly("600.00")
    shown = membership_change_plan_quote(membership=m, new_plan=cheaper, today=D(2026, 1, 22))
    _, charged = membership_change_plan(membership=m, new_plan=cheaper, today=D(2026, 1, 22))
    assert shown == charged
    assert charged.amount_due == Decimal("-96.77")


# --- refused changes: error code, and nothing changed ------------------------------------


def _refused(code: str, m: Membership, new_plan: Plan, today: D = D(2026, 4, 16)) -> MembershipError:
    m.refresh_from_db()
    before = (m.status, m.end_date, m.next_billing_date, m.events.count())
    count = Membership.objects.count()
    with pytest.raises(MembershipError) as quoted:
        membership_change_plan_quote(membership=m, new_plan=new_plan, today=today)
    with pytest.raises(MembershipError) as changed:
        membership_change_plan(membership=m, new_plan=new_plan, today=today)
    assert quoted.value.code == changed.value.code == code, changed.value.message
    m.refresh_from_db()
    assert (m.status, m.end_date, m.next_billing_date, m.events.count()) == before
    assert Membership.objects.count() == count
    return changed.value


@pytest.mark.parametrize("status", [Status.FROZEN, Status.PAST_DUE, Status.CANCELLED, Status.EXPIRED])
def test_change_plan_needs_an_active_membership(status: str) -> None:
    m = on_plan("600.00", D(2026, 4, 1))
    Membership.objects.filter(pk=m.pk).update(status=status)
    _refused("transition_not_allowed", m, monthly("900.00"))


def test_change_plan_refuses_a_membership_set_to_end() -> None:
    m = on_plan("600.00", D(2026, 4, 1))
    membership_cancel(membership=m, immediately=False, reason="", today=D(2026, 4, 10))
    _refused("transition_not_allowed", m, monthly("900.00"))


def test_change_plan_refuses_the_same_plan_a_non_recurring_plan_or_membership() -> None:
    m = on_plan("600.00", D(2026, 4, 1))
    _refused("plan_change_invalid", m, m.plan)
    pack = PlanFactory(kind=Plan.Kind.CLASS_PACK, billing_period="", class_credits=10)
    _refused("plan_change_invalid", m, pack)

    one_off = PlanFactory(kind=Plan.Kind.ONE_OFF, billing_period="", duration_days=30)
    pass_ = membership_assign(member=MemberFactory(), plan=one_off, start_date=D(2026, 4, 1))
    _refused("plan_change_invalid", pass_, monthly("900.00"))


def test_change_plan_refuses_an_archived_plan() -> None:
    m = on_plan("600.00", D(2026, 4, 1))
    _refused("plan_archived", m, plan_archive(plan=monthly("900.00")))


def test_change_plan_refuses_an_erased_member() -> None:
    m = on_plan("600.00", D(2026, 4, 1))
    Member.objects.filter(pk=m.member_id).update(status=Member.Status.ERASED)
    _refused("member_erased", m, monthly("900.00"))


def test_change_plan_refuses_while_a_freeze_is_scheduled() -> None:
    m = on_plan("600.00", D(2026, 4, 1))
    membership_freeze(membership=m, start_date=D(2026, 4, 20), end_date=D(2026, 4, 22), reason="", today=D(2026, 4, 10))
    error = _refused("freeze_scheduled", m, monthly("900.00"))
    assert "unfreeze" in error.message
