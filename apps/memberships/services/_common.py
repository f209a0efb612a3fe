"""Building blocks shared by the membership services: money rounding, the calendar
step of a billing period, the row lock every service takes before it reads state
(`_locked`), writing `MembershipEvent`s, creating a membership with the plan's terms
copied on (`_membership_create`, used by assign, renew and change plan), and setting
members inactive once nothing current is left. Private to the package except `money`,
`billing_period_delta` and `CENT`, which `apps.memberships.services` re-exports.
"""

from __future__ import annotations

import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.accounts.models import User
from apps.members.models import Member
from apps.plans.models import Plan

from ..models import CURRENT_STATUSES, Membership, MembershipEvent

Status = Membership.Status
Kind = MembershipEvent.Kind

CENT = Decimal("0.01")

_PERIOD_MONTHS: dict[str, int] = {
    Plan.BillingPeriod.MONTHLY: 1,
    Plan.BillingPeriod.QUARTERLY: 3,
    Plan.BillingPeriod.YEARLY: 12,
}


def money(amount: Decimal) -> Decimal:
    """`amount` rounded to the currency's minor unit (0.01), halves rounded up
    (away from zero): 10.005 -> 10.01, -0.125 -> -0.13."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def billing_period_delta(*, billing_period: str, interval: int) -> relativedelta:
    """One billing period as a calendar step (dateutil `relativedelta`).

    Weeks are 7 days. Months, quarters and years are calendar steps clamped to the
    last day of a shorter month: monthly from 31 January is 28 February (29 in a leap
    year); from 31 March it is 30 April. Raises ValueError for an unknown period.
    """
    if billing_period == Plan.BillingPeriod.WEEKLY:
        return relativedelta(weeks=interval)
    if billing_period in _PERIOD_MONTHS:
        return relativedelta(months=_PERIOD_MONTHS[billing_period] * interval)
    raise ValueError(f"unknown billing period {billing_period!r}")


# --- helpers -------------------------------------------------------------------------


def _iso(day: datetime.date | None) -> str | None:
    return day.isoformat() if day else None


def _locked(membership: Membership) -> Membership:
    """The membership row, re-read under `SELECT ... FOR UPDATE` (with plan and member)."""
    return Membership.objects.select_for_update(of=("self",)).select_related("plan", "member").get(pk=membership.pk)


def _event(
    membership: Membership, kind: str, *, actor: User | None, reason: str = "", data: dict[str, Any] | None = None
) -> MembershipEvent:
    return MembershipEvent.objects.create(
        membership=membership, kind=kind, actor=actor, reason=(reason or "")[:255], data=data or {}
    )


def freeze_notices(items: list[tuple[int, str, int | None, int]]) -> None:
    """Record the member's `membership_frozen` / `membership_unfrozen` notifications,
    one per (membership id, kind, freeze id, member id), keyed by the freeze (a
    scheduled freeze told when it is booked is not told again when it starts); sent
    after the commit."""
    from apps.notifications.services import NotificationInput, notifications_record

    notifications_record(
        [
            NotificationInput(
                member_id,
                kind,
                f"{kind}:freeze:{freeze_id}"
                if freeze_id
                else f"{kind}:membership:{membership_id}:{timezone.now():%Y%m%d}",
                {"membership_id": membership_id, "freeze_id": freeze_id},
            )
            for membership_id, kind, freeze_id, member_id in items
        ]
    )


def _membership_create(
    *, member: Member, plan: Plan, start_date: datetime.date, trial_days: int, next_billing_date: datetime.date | None
) -> Membership:
    """A new active membership with the plan's current terms copied on (the contract)."""
    end_date = None
    if plan.kind == Plan.Kind.ONE_OFF and plan.duration_days:
        end_date = start_date + datetime.timedelta(days=plan.duration_days - 1)
    elif plan.kind == Plan.Kind.CLASS_PACK and plan.pack_expiry_days:
        end_date = start_date + datetime.timedelta(days=plan.pack_expiry_days - 1)
    recurring = plan.kind == Plan.Kind.RECURRING
    anchor_day = (start_date + datetime.timedelta(days=trial_days)).day if recurring else None
    if recurring and next_billing_date is None:
        delta = billing_period_delta(billing_period=plan.billing_period, interval=plan.billing_interval)
        next_billing_date = start_date + datetime.timedelta(days=trial_days) + delta
    return Membership.objects.create(
        member=member,
        plan=plan,
        status=Status.ACTIVE,
        start_date=start_date,
        end_date=end_date,
        next_billing_date=next_billing_date if recurring else None,
        price=plan.price,
        billing_period=plan.billing_period if recurring else "",
        billing_interval=plan.billing_interval,
        class_credits=plan.class_credits,
        billing_anchor_day=anchor_day,
    )


def _terms(membership: Membership) -> dict[str, Any]:
    return {
        "plan_id": membership.plan_id,
        "plan": membership.plan.name,
        "price": str(membership.price),
        "start_date": _iso(membership.start_date),
        "end_date": _iso(membership.end_date),
        "next_billing_date": _iso(membership.next_billing_date),
    }


def _members_deactivate_if_lapsed(member_ids: set[int]) -> int:
    """Set members with no current membership left to inactive. Returns how many changed."""
    current = Membership.objects.filter(member=OuterRef("pk"), status__in=CURRENT_STATUSES)
    return (
        Member.objects.filter(pk__in=member_ids, status=Member.Status.ACTIVE)
        .exclude(Exists(current))
        .update(status=Member.Status.INACTIVE, updated_at=timezone.now())
    )
