"""Membership lifecycle services: assign, renew, freeze, unfreeze, cancel.

Every illegal transition is checked for its error code *and* for leaving nothing
changed. Dates are fixed, and every service gets `today` explicitly.
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
from apps.memberships.models import Freeze, Membership, MembershipEvent
from apps.memberships.services import (
    MAX_FREEZE_DAYS,
    membership_assign,
    membership_cancel,
    membership_freeze,
    membership_renew,
    membership_unfreeze,
)
from apps.plans.models import Plan
from apps.plans.services import plan_archive, plan_update
from apps.plans.tests.factories import PlanFactory
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

Status = Membership.Status
Kind = MembershipEvent.Kind


@pytest.fixture(autouse=True)
def in_gym(gym_a: Gym) -> Iterator[Gym]:
    with tenant_context(gym_a):
        yield gym_a


@pytest.fixture
def actor(make_staff, gym_a: Gym):
    return make_staff(gym_a)


def monthly(price: str = "600.00", **fields: Any) -> Plan:
    return PlanFactory(price=Decimal(price), **fields)


def one_off(days: int = 30, price: str = "250.00", **fields: Any) -> Plan:
    return PlanFactory(kind=Plan.Kind.ONE_OFF, billing_period="", duration_days=days, price=Decimal(price), **fields)


def class_pack(credits: int = 10, expiry_days: int | None = 90, **fields: Any) -> Plan:
    return PlanFactory(
        kind=Plan.Kind.CLASS_PACK,
        billing_period="",
        class_credits=credits,
        pack_expiry_days=expiry_days,
        price=Decimal("900.00"),
        **fields,
    )


def snapshot(membership: Membership) -> dict[str, Any]:
    """Everything a refused change must leave as it was."""
    membership.refresh_from_db()
    fields = ("status", "start_date", "end_date", "next_billing_date", "price", "cancel_at_period_end", "cancelled_on")
    return {
        **{name: getattr(membership, name) for name in fields},
        "events": membership.events.count(),
        "freezes": list(membership.freezes.values_list("id", "start_date", "end_date", "ended_on")),
        "memberships_of_member": Membership.objects.filter(member_id=membership.member_id).count(),
    }


def assert_refused(code: str, call, membership: Membership) -> MembershipError:
    before = snapshot(membership)
    with pytest.raises(MembershipError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    assert caught.value.message
    assert snapshot(membership) == before
    return caught.value


# --- assign -------------------------------------------------------------------------


def test_assign_recurring_copies_the_contract_and_bills_one_period_later(actor) -> None:
    plan = monthly(class_credits=12)
    member = MemberFactory(status=Member.Status.INACTIVE)

    m = membership_assign(member=member, plan=plan, start_date=D(2026, 3, 15), actor=actor, reason="Walk-in signup")

    assert m.status == Status.ACTIVE
    assert (m.start_date, m.end_date, m.next_billing_date) == (D(2026, 3, 15), None, D(2026, 4, 15))
    assert (m.price, m.billing_period, m.billing_interval, m.class_credits) == (Decimal("600.00"), "monthly", 1, 12)
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    event = m.events.get()
    assert (event.kind, event.actor, event.reason) == (Kind.CREATED, actor, "Walk-in signup")
    assert event.data["next_billing_date"] == "2026-04-15"
    assert event.data["price"] == "600.00"


@pytest.mark.parametrize(
    ("start", "next_billing"),
    [
        (D(2026, 1, 31), D(2026, 2, 28)),  # clamped to the end of a short month
        (D(2028, 1, 31), D(2028, 2, 29)),  # leap year
        (D(2026, 3, 31), D(2026, 4, 30)),
        (D(2026, 12, 15), D(2027, 1, 15)),
    ],
)
def test_assign_monthly_next_billing_uses_calendar_months(start: D, next_billing: D) -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=start)
    assert m.next_billing_date == next_billing


@pytest.mark.parametrize(
    ("period", "interval", "start", "next_billing"),
    [
        (Plan.BillingPeriod.WEEKLY, 1, D(2026, 3, 2), D(2026, 3, 9)),
        (Plan.BillingPeriod.WEEKLY, 2, D(2026, 3, 2), D(2026, 3, 16)),
        (Plan.BillingPeriod.QUARTERLY, 1, D(2026, 11, 30), D(2027, 2, 28)),
        (Plan.BillingPeriod.YEARLY, 1, D(2028, 2, 29), D(2029, 2, 28)),
        (Plan.BillingPeriod.MONTHLY, 6, D(2026, 1, 10), D(2026, 7, 10)),
    ],
)
def test_assign_other_billing_periods(period: str, interval: int, start: D, next_billing: D) -> None:
    plan = monthly(billing_period=period, billing_interval=interval)
    m = membership_assign(member=MemberFactory(), plan=plan, start_date=start)
    assert (m.billing_period, m.billing_interval, m.next_billing_date) == (period, interval, next_billing)


def test_assign_trial_days_come_before_the_first_paid_period() -> None:
    # 1 March + 7 trial days = 8 March, + 1 month = 8 April.
    m = membership_assign(member=MemberFactory(), plan=monthly(trial_days=7), start_date=D(2026, 3, 1))
    assert m.next_billing_date == D(2026, 4, 8)
    assert m.events.get().data["trial_days"] == 7


def test_assign_one_off_ends_after_its_duration_and_is_not_billed_again() -> None:
    # 30 days from 1 March: 1..30 March inclusive.
    m = membership_assign(member=MemberFactory(), plan=one_off(days=30), start_date=D(2026, 3, 1))
    assert (m.end_date, m.next_billing_date, m.billing_period) == (D(2026, 3, 30), None, "")


def test_assign_class_pack_expires_after_its_expiry_days_or_never() -> None:
    # 90 days from 1 January: the last day is 31 March (31 + 28 + 31 = 90).
    pack = membership_assign(member=MemberFactory(), plan=class_pack(expiry_days=90), start_date=D(2026, 1, 1))
    forever = membership_assign(member=MemberFactory(), plan=class_pack(expiry_days=None), start_date=D(2026, 1, 1))
    assert (pack.end_date, pack.next_billing_date, pack.class_credits) == (D(2026, 3, 31), None, 10)
    assert forever.end_date is None


def test_later_plan_edits_do_not_change_the_contract() -> None:
    plan = monthly(class_credits=8)
    m = membership_assign(member=MemberFactory(), plan=plan, start_date=D(2026, 3, 1))

    plan_update(plan=plan, price=Decimal("750.00"), class_credits=4, billing_period=Plan.BillingPeriod.WEEKLY)

    m.refresh_from_db()
    assert (m.price, m.class_credits, m.billing_period) == (Decimal("600.00"), 8, "monthly")


def test_assign_refuses_an_archived_plan() -> None:
    plan = plan_archive(plan=monthly())
    member = MemberFactory()
    with pytest.raises(MembershipError) as caught:
        membership_assign(member=member, plan=plan, start_date=D(2026, 3, 1))
    assert caught.value.code == "plan_archived"
    assert not Membership.objects.filter(member=member).exists()


def test_assign_refuses_an_erased_member() -> None:
    member = MemberFactory(status=Member.Status.ERASED)
    with pytest.raises(MembershipError) as caught:
        membership_assign(member=member, plan=monthly(), start_date=D(2026, 3, 1))
    assert caught.value.code == "member_erased"
    assert not Membership.objects.filter(member=member).exists()
    member.refresh_from_db()
    assert member.status == Member.Status.ERASED


def test_assign_refuses_a_second_current_recurring_membership() -> None:
    member = MemberFactory()
    first = membership_assign(member=member, plan=monthly(), start_date=D(2026, 1, 1))

    with pytest.raises(MembershipError) as caught:
        membership_assign(member=member, plan=monthly("900.00"), start_date=D(2026, 6, 1))

    assert caught.value.code == "already_has_membership"
    assert list(Membership.objects.filter(member=member)) == [first]


def test_a_frozen_or_past_due_recurring_membership_also_blocks_a_second_one() -> None:
    member = MemberFactory()
    m = membership_assign(member=member, plan=monthly(), start_date=D(2026, 1, 1))
    for status in (Status.FROZEN, Status.PAST_DUE):
        Membership.objects.filter(pk=m.pk).update(status=status)
        with pytest.raises(MembershipError) as caught:
            membership_assign(member=member, plan=monthly(), start_date=D(2026, 2, 1))
        assert caught.value.code == "already_has_membership"


def test_passes_and_packs_may_run_alongside_a_recurring_membership() -> None:
    member = MemberFactory()
    membership_assign(member=member, plan=monthly(), start_date=D(2026, 1, 1))

    pack = membership_assign(member=member, plan=class_pack(), start_date=D(2026, 1, 5))
    pass_ = membership_assign(member=member, plan=one_off(), start_date=D(2026, 1, 5))

    assert pack.status == pass_.status == Status.ACTIVE
    assert Membership.objects.filter(member=member, status=Status.ACTIVE).count() == 3


def test_a_new_recurring_membership_may_start_after_one_ending_at_period_end() -> None:
    member = MemberFactory()
    old = membership_assign(member=member, plan=monthly(), start_date=D(2026, 1, 1))
    old = membership_cancel(membership=old, immediately=False, reason="Moving", today=D(2026, 1, 10))
    assert old.end_date == D(2026, 1, 31)

    with pytest.raises(MembershipError) as caught:  # overlaps its last day
        membership_assign(member=member, plan=monthly(), start_date=D(2026, 1, 31))
    assert caught.value.code == "already_has_membership"

    new = membership_assign(member=member, plan=monthly("650.00"), start_date=D(2026, 2, 1))
    assert new.next_billing_date == D(2026, 3, 1)


def test_a_new_recurring_membership_is_fine_after_a_cancelled_or_expired_one() -> None:
    member = MemberFactory()
    old = membership_assign(member=member, plan=monthly(), start_date=D(2026, 1, 1))
    membership_cancel(membership=old, immediately=True, reason="Injury", today=D(2026, 1, 10))

    new = membership_assign(member=member, plan=monthly(), start_date=D(2026, 3, 1))

    assert new.status == Status.ACTIVE
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


# --- renew --------------------------------------------------------------------------


def test_renew_early_starts_the_day_after_the_old_end_at_the_current_price(actor) -> None:
    plan = one_off(days=30, price="250.00")
    old = membership_assign(member=MemberFactory(), plan=plan, start_date=D(2026, 3, 1))  # ends 30 March
    plan_update(plan=plan, price=Decimal("275.00"))

    new = membership_renew(membership=old, actor=actor, reason="Paid at desk", today=D(2026, 3, 20))

    # 31 March + 30 days - 1 = 29 April.
    assert (new.start_date, new.end_date, new.price, new.status) == (
        D(2026, 3, 31),
        D(2026, 4, 29),
        Decimal("275.00"),
        Status.ACTIVE,
    )
    old.refresh_from_db()
    assert (old.status, old.end_date, old.price) == (Status.ACTIVE, D(2026, 3, 30), Decimal("250.00"))
    renewed = old.events.get(kind=Kind.RENEWED)
    assert (renewed.actor, renewed.reason, renewed.data["renewal_id"]) == (actor, "Paid at desk", new.pk)
    assert new.events.get().data["renewed_from"] == old.pk


def test_renew_after_expiry_starts_today() -> None:
    old = membership_assign(member=MemberFactory(), plan=one_off(days=10), start_date=D(2026, 3, 1))
    Membership.objects.filter(pk=old.pk).update(status=Status.EXPIRED)

    new = membership_renew(membership=old, today=D(2026, 4, 2))

    assert (new.start_date, new.end_date) == (D(2026, 4, 2), D(2026, 4, 11))
    new.member.refresh_from_db()
    assert new.member.status == Member.Status.ACTIVE


def test_renew_a_class_pack_without_expiry_starts_today() -> None:
    old = membership_assign(member=MemberFactory(), plan=class_pack(expiry_days=None), start_date=D(2026, 1, 1))
    new = membership_renew(membership=old, today=D(2026, 2, 14))
    assert (new.start_date, new.end_date, new.class_credits) == (D(2026, 2, 14), None, 10)


def test_renew_an_expired_recurring_membership_restarts_it_without_a_trial() -> None:
    old = membership_assign(member=MemberFactory(), plan=monthly(trial_days=14), start_date=D(2026, 1, 1))
    old = membership_cancel(membership=old, immediately=False, reason="Travel", today=D(2026, 1, 20))
    Membership.objects.filter(pk=old.pk).update(status=Status.EXPIRED)

    new = membership_renew(membership=old, today=D(2026, 5, 4))

    assert (new.start_date, new.next_billing_date, new.end_date) == (D(2026, 5, 4), D(2026, 6, 4), None)


def test_a_term_is_renewed_once() -> None:
    old = membership_assign(member=MemberFactory(), plan=one_off(), start_date=D(2026, 3, 1))
    membership_renew(membership=old, today=D(2026, 3, 20))
    assert_refused("already_renewed", lambda: membership_renew(membership=old, today=D(2026, 3, 21)), old)


def test_renew_refuses_a_live_recurring_or_a_cancelled_membership() -> None:
    live = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))
    error = assert_refused(
        "transition_not_allowed", lambda: membership_renew(membership=live, today=D(2026, 3, 5)), live
    )
    assert "renews itself" in error.message

    gone = membership_assign(member=MemberFactory(), plan=one_off(), start_date=D(2026, 3, 1))
    membership_cancel(membership=gone, immediately=True, reason="Refund", today=D(2026, 3, 2))
    error = assert_refused(
        "transition_not_allowed", lambda: membership_renew(membership=gone, today=D(2026, 3, 5)), gone
    )
    assert "cancelled" in error.message


def test_renew_refuses_an_archived_plan_or_an_erased_member() -> None:
    plan = one_off()
    m = membership_assign(member=MemberFactory(), plan=plan, start_date=D(2026, 3, 1))
    plan_archive(plan=plan)
    assert_refused("plan_archived", lambda: membership_renew(membership=m, today=D(2026, 3, 5)), m)

    m2 = membership_assign(member=MemberFactory(), plan=one_off(), start_date=D(2026, 3, 1))
    Member.objects.filter(pk=m2.member_id).update(status=Member.Status.ERASED)
    assert_refused("member_erased", lambda: membership_renew(membership=m2, today=D(2026, 3, 5)), m2)


# --- freeze -------------------------------------------------------------------------


def test_a_scheduled_freeze_moves_the_dates_and_waits_for_its_start(actor) -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))  # next billing 1 April

    m = membership_freeze(
        membership=m,
        start_date=D(2026, 3, 10),
        end_date=D(2026, 3, 19),
        reason="Holiday",
        actor=actor,
        today=D(2026, 3, 5),
    )

    # 10..19 March inclusive = 10 days: 1 April + 10 days = 11 April.
    assert (m.status, m.next_billing_date, m.end_date) == (Status.ACTIVE, D(2026, 4, 11), None)
    freeze = m.freezes.get()
    assert (freeze.start_date, freeze.end_date, freeze.ended_on) == (D(2026, 3, 10), D(2026, 3, 19), None)
    assert (freeze.reason, freeze.created_by) == ("Holiday", actor)
    event = m.events.get(kind=Kind.FROZEN)
    assert (event.actor, event.reason) == (actor, "Holiday")
    assert event.data["days"] == 10
    assert event.data["scheduled"] is True
    assert event.data["before"]["next_billing_date"] == "2026-04-01"
    assert event.data["after"]["next_billing_date"] == "2026-04-11"


def test_a_freeze_starting_today_freezes_now_and_moves_a_one_off_end_date() -> None:
    m = membership_assign(member=MemberFactory(), plan=one_off(days=30), start_date=D(2026, 3, 1))  # ends 30 March

    m = membership_freeze(
        membership=m, start_date=D(2026, 3, 5), end_date=D(2026, 3, 11), reason="Flu", today=D(2026, 3, 5)
    )

    # 5..11 March = 7 days: 30 March + 7 = 6 April.
    assert (m.status, m.end_date, m.next_billing_date) == (Status.FROZEN, D(2026, 4, 6), None)


def test_a_one_day_freeze_counts_one_day() -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))
    m = membership_freeze(
        membership=m, start_date=D(2026, 3, 9), end_date=D(2026, 3, 9), reason="", today=D(2026, 3, 1)
    )
    assert m.next_billing_date == D(2026, 4, 2)


def test_freeze_may_last_exactly_the_maximum() -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 1, 1))  # next billing 1 Feb
    # 1 Feb + 89 days = 1 May: 90 days inclusive.
    m = membership_freeze(
        membership=m, start_date=D(2026, 2, 1), end_date=D(2026, 5, 1), reason="", today=D(2026, 1, 20)
    )
    assert MAX_FREEZE_DAYS == 90
    assert m.next_billing_date == D(2026, 5, 2)  # 1 Feb + 90 days


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.EXPIRED, Status.FROZEN, Status.PAST_DUE])
def test_freeze_refuses_a_membership_that_is_not_active(status: str) -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))
    Membership.objects.filter(pk=m.pk).update(status=status)
    m.refresh_from_db()

    error = assert_refused(
        "transition_not_allowed",
        lambda: membership_freeze(
            membership=m, start_date=D(2026, 3, 10), end_date=D(2026, 3, 12), reason="x", today=D(2026, 3, 5)
        ),
        m,
    )
    assert error.message == f"A {m.get_status_display().lower()} membership cannot be frozen."


def test_freezing_a_cancelled_membership_gives_a_clear_error_and_no_change() -> None:
    # The issue's own example.
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))
    m = membership_cancel(membership=m, immediately=True, reason="Moved away", today=D(2026, 3, 3))

    error = assert_refused(
        "transition_not_allowed",
        lambda: membership_freeze(
            membership=m, start_date=D(2026, 3, 10), end_date=D(2026, 3, 12), reason="x", today=D(2026, 3, 5)
        ),
        m,
    )
    assert error.message == "A cancelled membership cannot be frozen."


@pytest.mark.parametrize(
    ("start", "end", "code", "field"),
    [
        (D(2026, 3, 4), D(2026, 3, 10), "freeze_in_past", "start_date"),  # today is 5 March
        (D(2026, 3, 10), D(2026, 3, 9), "freeze_dates_invalid", "end_date"),
        (D(2026, 3, 10), D(2026, 6, 8), "freeze_too_long", "end_date"),  # 22 + 30 + 31 + 8 = 91 days
        (D(2026, 3, 31), D(2026, 4, 2), "freeze_after_end", "start_date"),  # one-off ends 30 March
    ],
)
def test_freeze_date_rules(start: D, end: D, code: str, field: str) -> None:
    m = membership_assign(member=MemberFactory(), plan=one_off(days=30), start_date=D(2026, 3, 1))
    error = assert_refused(
        code,
        lambda: membership_freeze(membership=m, start_date=start, end_date=end, reason="x", today=D(2026, 3, 5)),
        m,
    )
    assert error.field == field


def test_freeze_cannot_start_before_the_membership() -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 4, 1))  # pre-sold
    assert_refused(
        "freeze_dates_invalid",
        lambda: membership_freeze(
            membership=m, start_date=D(2026, 3, 20), end_date=D(2026, 4, 5), reason="x", today=D(2026, 3, 5)
        ),
        m,
    )


def test_overlapping_freezes_are_refused_but_adjacent_ones_are_fine() -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))
    m = membership_freeze(
        membership=m, start_date=D(2026, 3, 10), end_date=D(2026, 3, 19), reason="a", today=D(2026, 3, 5)
    )

    for start, end in [
        (D(2026, 3, 19), D(2026, 3, 25)),
        (D(2026, 3, 6), D(2026, 3, 10)),
        (D(2026, 3, 12), D(2026, 3, 13)),
    ]:
        assert_refused(
            "freeze_overlaps",
            lambda start=start, end=end: membership_freeze(
                membership=m, start_date=start, end_date=end, reason="b", today=D(2026, 3, 5)
            ),
            m,
        )

    m = membership_freeze(
        membership=m, start_date=D(2026, 3, 20), end_date=D(2026, 3, 21), reason="c", today=D(2026, 3, 5)
    )
    # 1 April + 10 + 2 days.
    assert m.next_billing_date == D(2026, 4, 13)
    assert m.freezes.count() == 2


# --- unfreeze -----------------------------------------------------------------------


def _frozen_10_to_19_march(**assign: Any) -> Membership:
    """A monthly membership from 1 March (next billing 1 April) frozen 10-19 March (10 days)."""
    m = membership_assign(member=MemberFactory(), plan=monthly(**assign), start_date=D(2026, 3, 1))
    m = membership_freeze(
        membership=m, start_date=D(2026, 3, 10), end_date=D(2026, 3, 19), reason="Holiday", today=D(2026, 3, 10)
    )
    assert (m.status, m.next_billing_date) == (Status.FROZEN, D(2026, 4, 11))
    return m


def test_early_unfreeze_keeps_only_the_days_actually_frozen(actor) -> None:
    m = _frozen_10_to_19_march()

    m = membership_unfreeze(membership=m, actor=actor, reason="Back early", today=D(2026, 3, 14))

    # Planned 10 days (10-19 March); frozen 10, 11, 12, 13 March = 4 days (access again on the 14th);
    # 10 - 4 = 6 days given back: 11 April - 6 = 5 April, i.e. 1 April + 4.
    assert (m.status, m.next_billing_date) == (Status.ACTIVE, D(2026, 4, 5))
    freeze = m.freezes.get()
    assert freeze.ended_on == D(2026, 3, 14)
    event = m.events.get(kind=Kind.UNFROZEN)
    assert (event.actor, event.reason) == (actor, "Back early")
    assert (event.data["planned_days"], event.data["frozen_days"], event.data["days_given_back"]) == (10, 4, 6)


def test_unfreeze_on_the_first_day_gives_every_day_back() -> None:
    m = _frozen_10_to_19_march()
    m = membership_unfreeze(membership=m, today=D(2026, 3, 10))
    assert (m.status, m.next_billing_date) == (Status.ACTIVE, D(2026, 4, 1))


def test_unfreeze_on_the_last_day_gives_one_day_back() -> None:
    m = _frozen_10_to_19_march()
    m = membership_unfreeze(membership=m, today=D(2026, 3, 19))
    # Frozen 10..18 March = 9 days.
    assert m.next_billing_date == D(2026, 4, 10)


def test_unfreeze_moves_a_one_off_end_date_back_too() -> None:
    m = membership_assign(member=MemberFactory(), plan=one_off(days=30), start_date=D(2026, 3, 1))  # ends 30 March
    m = membership_freeze(
        membership=m, start_date=D(2026, 3, 10), end_date=D(2026, 3, 29), reason="", today=D(2026, 3, 10)
    )
    assert m.end_date == D(2026, 4, 19)  # + 20 days
    m = membership_unfreeze(membership=m, today=D(2026, 3, 15))
    # Frozen 10..14 March = 5 days: 30 March + 5 = 4 April.
    assert m.end_date == D(2026, 4, 4)


def test_unfreeze_calls_off_a_scheduled_freeze_and_restores_the_dates() -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))
    m = membership_freeze(
        membership=m, start_date=D(2026, 3, 20), end_date=D(2026, 3, 29), reason="", today=D(2026, 3, 5)
    )
    assert m.next_billing_date == D(2026, 4, 11)

    m = membership_unfreeze(membership=m, today=D(2026, 3, 6))

    assert (m.status, m.next_billing_date) == (Status.ACTIVE, D(2026, 4, 1))
    assert m.freezes.get().ended_on == D(2026, 3, 6)
    # The called-off freeze no longer blocks the same dates.
    m = membership_freeze(
        membership=m, start_date=D(2026, 3, 20), end_date=D(2026, 3, 21), reason="", today=D(2026, 3, 6)
    )
    assert m.next_billing_date == D(2026, 4, 3)


def test_unfreeze_when_the_freeze_already_ran_its_course_gives_nothing_back() -> None:
    # The daily job has not run yet: still frozen on 21 March after a freeze ending 19 March.
    m = _frozen_10_to_19_march()
    m = membership_unfreeze(membership=m, today=D(2026, 3, 21))
    assert (m.status, m.next_billing_date) == (Status.ACTIVE, D(2026, 4, 11))
    assert m.events.get(kind=Kind.UNFROZEN).data["days_given_back"] == 0


def test_unfreeze_refuses_a_membership_with_no_freeze() -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))
    assert_refused("not_frozen", lambda: membership_unfreeze(membership=m, today=D(2026, 3, 6)), m)


def test_unfreeze_refuses_a_cancelled_membership() -> None:
    m = _frozen_10_to_19_march()
    m = membership_cancel(membership=m, immediately=True, reason="", today=D(2026, 3, 12))
    assert_refused("transition_not_allowed", lambda: membership_unfreeze(membership=m, today=D(2026, 3, 13)), m)


# --- cancel -------------------------------------------------------------------------


def test_cancel_immediately(actor) -> None:
    member = MemberFactory()
    m = membership_assign(member=member, plan=monthly(), start_date=D(2026, 3, 1))

    m = membership_cancel(membership=m, immediately=True, reason="Moved away", actor=actor, today=D(2026, 3, 12))

    assert (m.status, m.end_date, m.next_billing_date) == (Status.CANCELLED, D(2026, 3, 12), None)
    assert (m.cancelled_on, m.cancel_reason, m.cancel_at_period_end) == (D(2026, 3, 12), "Moved away", False)
    event = m.events.get(kind=Kind.CANCELLED)
    assert (event.actor, event.reason, event.data["immediately"]) == (actor, "Moved away", True)
    assert event.data["before"]["next_billing_date"] == "2026-04-01"
    member.refresh_from_db()
    assert member.status == Member.Status.INACTIVE


def test_cancel_immediately_keeps_the_member_active_with_another_current_membership() -> None:
    member = MemberFactory()
    m = membership_assign(member=member, plan=monthly(), start_date=D(2026, 3, 1))
    membership_assign(member=member, plan=class_pack(), start_date=D(2026, 3, 1))

    membership_cancel(membership=m, immediately=True, reason="", today=D(2026, 3, 12))

    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


def test_cancel_immediately_ends_the_freeze_in_effect_and_calls_off_scheduled_ones() -> None:
    m = _frozen_10_to_19_march()
    Freeze.objects.create(membership=m, start_date=D(2026, 5, 1), end_date=D(2026, 5, 3))

    membership_cancel(membership=m, immediately=True, reason="", today=D(2026, 3, 12))

    assert sorted(m.freezes.values_list("ended_on", flat=True)) == [D(2026, 3, 12), D(2026, 3, 12)]


def test_cancel_at_period_end_keeps_the_paid_period(actor) -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))

    m = membership_cancel(membership=m, immediately=False, reason="Too expensive", actor=actor, today=D(2026, 3, 12))

    # Next billing 1 April: the last day is 31 March; expiry happens on 1 April.
    assert (m.status, m.cancel_at_period_end, m.end_date, m.next_billing_date) == (
        Status.ACTIVE,
        True,
        D(2026, 3, 31),
        D(2026, 4, 1),
    )
    assert (m.cancelled_on, m.cancel_reason) == (D(2026, 3, 12), "Too expensive")
    event = m.events.get(kind=Kind.CANCEL_SCHEDULED)
    assert (event.actor, event.reason, event.data["end_date"]) == (actor, "Too expensive", "2026-03-31")


def test_cancel_at_period_end_of_a_frozen_membership_includes_the_freeze() -> None:
    m = _frozen_10_to_19_march()  # next billing 11 April
    m = membership_cancel(membership=m, immediately=False, reason="", today=D(2026, 3, 12))
    assert (m.status, m.end_date) == (Status.FROZEN, D(2026, 4, 10))


def test_freezing_after_a_period_end_cancellation_moves_the_end_date() -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))
    m = membership_cancel(membership=m, immediately=False, reason="", today=D(2026, 3, 12))
    m = membership_freeze(
        membership=m, start_date=D(2026, 3, 20), end_date=D(2026, 3, 24), reason="", today=D(2026, 3, 13)
    )
    assert (m.end_date, m.next_billing_date) == (D(2026, 4, 5), D(2026, 4, 6))


@pytest.mark.parametrize("immediately", [True, False])
@pytest.mark.parametrize("status", [Status.CANCELLED, Status.EXPIRED])
def test_cancel_refuses_a_membership_that_already_ended(status: str, immediately: bool) -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))
    Membership.objects.filter(pk=m.pk).update(status=status)
    m.refresh_from_db()
    error = assert_refused(
        "transition_not_allowed",
        lambda: membership_cancel(membership=m, immediately=immediately, reason="x", today=D(2026, 3, 12)),
        m,
    )
    assert error.message == f"A {status} membership cannot be cancelled."


def test_cancel_at_period_end_twice_is_refused() -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))
    m = membership_cancel(membership=m, immediately=False, reason="", today=D(2026, 3, 12))
    error = assert_refused(
        "transition_not_allowed",
        lambda: membership_cancel(membership=m, immediately=False, reason="", today=D(2026, 3, 13)),
        m,
    )
    assert "31 Mar 2026" in error.message


def test_cancel_at_period_end_needs_a_recurring_membership_that_is_paid_up() -> None:
    one = membership_assign(member=MemberFactory(), plan=one_off(), start_date=D(2026, 3, 1))
    assert_refused(
        "transition_not_allowed",
        lambda: membership_cancel(membership=one, immediately=False, reason="", today=D(2026, 3, 12)),
        one,
    )
    due = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))
    Membership.objects.filter(pk=due.pk).update(status=Status.PAST_DUE)
    assert_refused(
        "transition_not_allowed",
        lambda: membership_cancel(membership=due, immediately=False, reason="", today=D(2026, 3, 12)),
        due,
    )
    # ...but it can be cancelled immediately.
    due = membership_cancel(membership=due, immediately=True, reason="Unpaid", today=D(2026, 3, 12))
    assert due.status == Status.CANCELLED


def test_the_passed_instance_is_left_alone_and_the_fresh_one_returned() -> None:
    m = membership_assign(member=MemberFactory(), plan=monthly(), start_date=D(2026, 3, 1))
    returned = membership_cancel(membership=m, immediately=True, reason="", today=D(2026, 3, 2))
    assert m.status == Status.ACTIVE
    assert returned.status == Status.CANCELLED
    assert returned.pk == m.pk
