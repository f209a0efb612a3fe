"""Check-in test helpers. They write into the active gym schema (use inside
tenant_context). `NOW` is Monday 2 March 2026, 09:00 UTC: 09:00 in gym A's
Europe/London (the same clock as the booking tests)."""

from __future__ import annotations

import datetime
from datetime import date as D
from typing import Any

from apps.bookings.tests.factories import NOW, monthly_plan
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.services import membership_assign
from apps.plans.models import Plan

__all__ = ["NOW", "active_member", "monthly_plan"]


def active_member(
    plan: Plan | None = None, *, start: D = D(2026, 3, 1), member: Member | None = None, **plan_fields: Any
) -> Membership:
    """A member (new unless given) on an active monthly membership from `start`
    (through `membership_assign`). Returns the membership; `.member` is the member."""
    plan = plan or monthly_plan(**plan_fields)
    return membership_assign(member=member or MemberFactory(), plan=plan, start_date=start)


def minutes(n: int) -> datetime.timedelta:
    """`n` minutes."""
    return datetime.timedelta(minutes=n)
