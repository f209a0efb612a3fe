"""Changing a recurring membership to another recurring plan: `ProrationQuote` (what
the change costs, prorated by the days left in the current billing period),
`membership_change_plan_quote` (the quote, writing nothing) and
`membership_change_plan` (cancel the old membership, start the new one, record the
quote on both events). Charging or crediting the amount due is billing's business.
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.members.models import Member
from apps.plans.models import Plan

from ..errors import MembershipError
from ..models import Membership
from ._common import Kind, Status, _event, _locked, _membership_create, _terms, billing_period_delta, money


@dataclass(frozen=True)
class ProrationQuote:
    """What changing plan costs, "prorated by days remaining in the current period"
    (issue 3). Money in the gym's currency, quantized to 0.01 with ROUND_HALF_UP.

    - `days_in_period`: days in the current billing period [period_start, next billing).
    - `days_remaining`: days from today (included) to the next billing date (excluded).
    - `unused_credit` = old price x days_remaining / days_in_period.
    - `new_plan_charge` = new price x days_remaining / days_in_period when the billing
      cadence is the same; the full new price when it differs (the billing cycle then
      restarts today, as Stripe does when a subscription's interval changes).
    - `amount_due` = new_plan_charge - unused_credit: positive, the member pays;
      negative, the member has that much credit.
    - `next_billing_date`: the new membership's (the same as the old one's unless the
      cycle restarts).
    """

    days_remaining: int
    days_in_period: int
    unused_credit: Decimal
    new_plan_charge: Decimal
    amount_due: Decimal
    period_start: datetime.date
    next_billing_date: datetime.date
    resets_billing_cycle: bool

    def as_data(self) -> dict[str, Any]:
        """JSON-ready (money and dates as strings), for event data and API output."""
        return {
            key: str(value) if isinstance(value, Decimal | datetime.date) else value
            for key, value in asdict(self).items()
        }


def _check_change_plan(*, membership: Membership, new_plan: Plan, today: datetime.date) -> None:
    m = membership
    if m.member.status == Member.Status.ERASED:
        raise MembershipError("member_erased", "This member was erased and cannot change plan.")
    if m.status != Status.ACTIVE:
        hint = {
            Status.FROZEN: " Unfreeze it first.",
            Status.PAST_DUE: " Settle the unpaid balance first.",
        }.get(Status(m.status), "")
        raise MembershipError(
            "transition_not_allowed",
            f"A {m.get_status_display().lower()} membership cannot change plan.{hint}",
        )
    if m.cancel_at_period_end:
        raise MembershipError(
            "transition_not_allowed",
            f"This membership is set to end on {m.end_date:%d %b %Y}, so it cannot change plan.",
        )
    if not m.billing_period or m.next_billing_date is None:
        raise MembershipError(
            "plan_change_invalid", "Only a recurring membership can change plan. Renew it or assign a new plan."
        )
    if new_plan.pk == m.plan_id:
        raise MembershipError("plan_change_invalid", "The member is already on this plan.", field="plan")
    if new_plan.kind != Plan.Kind.RECURRING:
        raise MembershipError(
            "plan_change_invalid",
            "A recurring membership can only change to another recurring plan. Sell a pass or pack separately.",
            field="plan",
        )
    if not new_plan.is_active:
        raise MembershipError(
            "plan_archived", f"The plan “{new_plan.name}” is archived and no longer sold.", field="plan"
        )
    if m.freezes.filter(ended_on__isnull=True, start_date__gt=today).exists():
        raise MembershipError(
            "freeze_scheduled",
            "This membership has a freeze scheduled. Call it off (unfreeze) before changing plan, then freeze again.",
        )


def _quote(*, membership: Membership, new_plan: Plan, today: datetime.date) -> ProrationQuote:
    m = membership
    assert m.next_billing_date is not None  # checked by _check_change_plan
    next_billing = m.next_billing_date
    old_delta = billing_period_delta(billing_period=m.billing_period, interval=m.billing_interval)
    new_delta = billing_period_delta(billing_period=new_plan.billing_period, interval=new_plan.billing_interval)
    # The period before the next billing date; the first one starts no earlier than the
    # membership (monthly from 31 Jan: next billing 28 Feb, so the period is 31 Jan-27 Feb).
    period_start = max(next_billing - old_delta, m.start_date)
    days_in_period = (next_billing - period_start).days
    days_remaining = min(max((next_billing - max(today, period_start)).days, 0), days_in_period)
    unused = money(m.price * days_remaining / days_in_period) if days_in_period > 0 else money(Decimal(0))
    resets = new_delta != old_delta
    if resets:
        new_charge = money(new_plan.price)
        new_next_billing = max(today, m.start_date) + new_delta
    else:
        new_charge = (
            money(new_plan.price * days_remaining / days_in_period) if days_in_period > 0 else money(Decimal(0))
        )
        new_next_billing = next_billing
    return ProrationQuote(
        days_remaining=days_remaining,
        days_in_period=days_in_period,
        unused_credit=unused,
        new_plan_charge=new_charge,
        amount_due=new_charge - unused,
        period_start=period_start,
        next_billing_date=new_next_billing,
        resets_billing_cycle=resets,
    )


def membership_change_plan_quote(
    *, membership: Membership, new_plan: Plan, today: datetime.date | None = None
) -> ProrationQuote:
    """The proration for moving `membership` to `new_plan` today, to show before
    confirming (see `ProrationQuote` for the arithmetic). Writes nothing.

    Example: R600/month to R900/month with 15 of 30 days left: unused credit
    600 x 15/30 = 300.00, new plan 900 x 15/30 = 450.00, amount due 150.00.

    Raises the same `MembershipError`s as `membership_change_plan`.
    """
    today = today or timezone.localdate()
    _check_change_plan(membership=membership, new_plan=new_plan, today=today)
    return _quote(membership=membership, new_plan=new_plan, today=today)


@transaction.atomic
def membership_change_plan(
    *,
    membership: Membership,
    new_plan: Plan,
    actor: User | None = None,
    reason: str = "",
    today: datetime.date | None = None,
) -> tuple[Membership, ProrationQuote]:
    """Move an active recurring membership to another recurring plan from today.

    The old membership is cancelled (end_date today, no next billing date) with a
    `plan_changed` event; a new active membership on `new_plan` starts today at the new
    plan's current price, keeping the old `next_billing_date` (or a new cycle from
    today when the billing cadence differs), with a `created` event. Both events hold
    the quote under `data["proration"]`. The amount due is for billing to invoice or
    credit; nothing is charged here. Returns `(new membership, quote)`.

    Raises `MembershipError`: `transition_not_allowed` (not active, or set to cancel at
    period end), `plan_change_invalid` (not recurring, same plan, new plan not
    recurring), `plan_archived`, `member_erased`, `freeze_scheduled`.
    """
    today = today or timezone.localdate()
    old = _locked(membership)
    _check_change_plan(membership=old, new_plan=new_plan, today=today)
    quote = _quote(membership=old, new_plan=new_plan, today=today)
    old.status = Status.CANCELLED
    old.end_date = today
    old.next_billing_date = None
    old.cancelled_on = today
    old.cancel_reason = f"Changed plan to {new_plan.name}"[:255]
    old.save()
    new = _membership_create(
        member=old.member,
        plan=new_plan,
        start_date=max(today, old.start_date),
        trial_days=0,
        next_billing_date=quote.next_billing_date,
    )
    proration = quote.as_data()
    _event(
        old,
        Kind.PLAN_CHANGED,
        actor=actor,
        reason=reason,
        data={
            "new_membership_id": new.pk,
            "new_plan_id": new_plan.pk,
            "new_plan": new_plan.name,
            "proration": proration,
        },
    )
    _event(
        new,
        Kind.CREATED,
        actor=actor,
        reason=reason,
        data={"changed_from": old.pk, "proration": proration} | _terms(new),
    )
    return new, quote
