"""Booking test helpers: plans, members on memberships and sessions, built through the
services where rules matter. They write into the active gym schema (use inside
tenant_context). Times are fixed: `NOW` is Monday 2 March 2026, 09:00 UTC (09:00 in
gym A's Europe/London, before the clocks change on 29 March)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from datetime import date as D
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from apps.bookings.models import Booking, CreditEntry
from apps.classes.models import ClassSession
from apps.classes.tests.factories import ClassSessionFactory, GymClassFactory
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.services import membership_assign
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory

NOW = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
TODAY = D(2026, 3, 2)
H = datetime.timedelta(hours=1)
M = datetime.timedelta(minutes=1)


def monthly_plan(credits: int | None = None, **fields: Any) -> Plan:
    """A monthly recurring plan with `credits` classes a month (None = unlimited)."""
    return PlanFactory(class_credits=credits, **fields)


def pack_plan(credits: int = 10, expiry_days: int | None = 90, **fields: Any) -> Plan:
    """A class pack of `credits`, valid `expiry_days` from purchase (None = no expiry)."""
    return PlanFactory(
        kind=Plan.Kind.CLASS_PACK,
        billing_period="",
        class_credits=credits,
        pack_expiry_days=expiry_days,
        price=Decimal("900.00"),
        **fields,
    )


def member_on(plan: Plan, *, start: D = D(2026, 3, 1), member: Member | None = None) -> Membership:
    """A member (new unless given) on `plan` from `start`, through `membership_assign`.
    Monthly from 1 March: next billing 1 April, so March is the allowance period."""
    return membership_assign(member=member or MemberFactory(), plan=plan, start_date=start)


def session_at(
    starts_at: datetime.datetime | None = None,
    *,
    capacity: int = 10,
    credits: int = 1,
    minutes: int = 60,
    allowed_plans: Sequence[Plan] = (),
    **fields: Any,
) -> ClassSession:
    """A scheduled session of a new class (default: Wednesday 4 March 18:00 UTC)."""
    starts_at = starts_at or NOW + 2 * 24 * H + 9 * H
    gym_class = GymClassFactory(capacity=capacity, credits_required=credits, duration_minutes=minutes)
    if allowed_plans:
        gym_class.allowed_plans.set(allowed_plans)
    return ClassSessionFactory(
        gym_class=gym_class, starts_at=starts_at, ends_at=starts_at + datetime.timedelta(minutes=minutes), **fields
    )


def balance(membership: Membership) -> int:
    """The bucket's balance: its newest row's `balance_after` (0 with no rows)."""
    last = CreditEntry.objects.filter(membership=membership).order_by("-id").first()
    return last.balance_after if last else 0


def ledger_consistent(membership: Membership) -> bool:
    """Every row's balance_after = the previous one + its amount, never below 0, so
    the sum of the amounts equals the newest balance_after."""
    running = 0
    for amount, after in (
        CreditEntry.objects.filter(membership=membership).order_by("id").values_list("amount", "balance_after")
    ):
        running += amount
        if running != after or after < 0:
            return False
    return True


def net_spent(booking: Booking) -> int:
    """Credits the booking holds now: its spend rows minus its refunds (positive)."""
    total = CreditEntry.objects.filter(booking=booking).aggregate(s=Sum("amount"))["s"] or 0
    return -total
