"""Writes to memberships: assign, freeze, unfreeze, cancel, renew, change plan, and the
daily expiry job (`membership_expire_due`).

Conventions, for every service here:
- Dates are gym-local `datetime.date`s. `today` defaults to `timezone.localdate()`,
  the timezone activated for the request or task, which is the gym's (DESIGN.md 6).
- Money is `Decimal` in the gym's currency, quantized to 0.01 (the minor unit of the
  currencies we support) with ROUND_HALF_UP.
- A service locks the membership row (`SELECT ... FOR UPDATE`) before it reads the
  state it checks, so concurrent changes to one membership run one after the other.
  It returns the updated membership as a fresh instance; the instance passed in is
  left as it was, so use the return value.
- A broken rule raises `MembershipError` (errors.py) before anything is written.
- Every change writes a `MembershipEvent` with the actor (None for the daily job),
  the reason and the dates it moved: the audit trail the issue asks for.

Statuses and the transitions allowed (anything else is `transition_not_allowed`):

    active   -> frozen (freeze starting today, or the daily job on a scheduled start)
    frozen   -> active (unfreeze by hand, or the daily job after the freeze's last day)
    active, frozen, past_due -> cancelled (cancel immediately; change plan ends the old one)
    active, frozen, past_due -> expired (the daily job, after end_date)
    cancelled, expired: final. A member comes back through assign (or renew, for expired).
`past_due` is set by billing (issue 6), not here.
"""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from apps.accounts.models import User
from apps.members.models import Member
from apps.plans.models import Plan

from .errors import MembershipError
from .models import CURRENT_STATUSES, Freeze, Membership, MembershipEvent

Status = Membership.Status
Kind = MembershipEvent.Kind

MAX_FREEZE_DAYS = 90
"""The longest single freeze, in days (inclusive count). A gym-policy default: the
usual "up to 3 months" hold that gym software offers (Mindbody and Glofox let each
gym set its own maximum). When gym-level settings land it should come from there."""

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


def _not_allowed(membership: Membership, action: str) -> MembershipError:
    """`transition_not_allowed`, naming the status, e.g. "A cancelled membership cannot be frozen."."""
    return MembershipError(
        "transition_not_allowed",
        f"A {membership.get_status_display().lower()} membership cannot be {action}.",
    )


def _check_can_sell(*, member: Member, plan: Plan) -> None:
    if member.status == Member.Status.ERASED:
        raise MembershipError("member_erased", "This member was erased and cannot be given a membership.")
    if not plan.is_active:
        raise MembershipError("plan_archived", f"The plan “{plan.name}” is archived and no longer sold.", field="plan")


def _check_no_overlapping_recurring(*, member: Member, plan: Plan, start_date: datetime.date) -> None:
    """At most one current recurring membership per member at any date.

    One-off passes and class packs may run alongside anything (a class pack on top of a
    monthly plan is normal: Mindbody lets a client hold several pricing options, Glofox
    sells credit packs next to memberships). A recurring membership set to cancel at
    period end does not block a new one starting after its end date.
    """
    if plan.kind != Plan.Kind.RECURRING:
        return
    clash = (
        Membership.objects.filter(member=member, status__in=CURRENT_STATUSES)
        .exclude(billing_period="")  # a recurring contract
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=start_date))
        .select_related("plan")
        .first()
    )
    if clash is not None:
        raise MembershipError(
            "already_has_membership",
            f"This member already has a current recurring membership ({clash.plan.name}). "
            "Change its plan instead, or cancel it first.",
            field="plan",
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


def _member_activate(member: Member) -> None:
    if member.status != Member.Status.ACTIVE:
        Member.objects.filter(pk=member.pk).exclude(status=Member.Status.ERASED).update(
            status=Member.Status.ACTIVE, updated_at=timezone.now()
        )


def _members_deactivate_if_lapsed(member_ids: set[int]) -> int:
    """Set members with no current membership left to inactive. Returns how many changed."""
    current = Membership.objects.filter(member=OuterRef("pk"), status__in=CURRENT_STATUSES)
    return (
        Member.objects.filter(pk__in=member_ids, status=Member.Status.ACTIVE)
        .exclude(Exists(current))
        .update(status=Member.Status.INACTIVE, updated_at=timezone.now())
    )


def _shift(day: datetime.date | None, days: int) -> datetime.date | None:
    return day + datetime.timedelta(days=days) if day else None


# --- assign and renew ----------------------------------------------------------------


@transaction.atomic
def membership_assign(
    *, member: Member, plan: Plan, start_date: datetime.date, actor: User | None = None, reason: str = ""
) -> Membership:
    """Put `member` on `plan` from `start_date` (gym-local; past dates are allowed for
    contracts entered late, future dates for pre-sales).

    The plan's price, billing period and interval and class credits are copied onto the
    membership: later plan edits never change this contract. Dates:
    - one-off: `end_date` = start + duration_days - 1 (the last day with access);
    - class pack: `end_date` = start + pack_expiry_days - 1, or None when packs never expire;
    - recurring: `end_date` None (runs until cancelled) and `next_billing_date` =
      start + trial_days + one billing period. The first period is paid at signup and
      the trial days are free days added before it, so the first paid period is
      [start + trial, next_billing_date). Monthly from 31 January bills next on 28
      February (29 in a leap year): see `billing_period_delta`.
    The member's status becomes active. Writes a `created` event.

    Raises `MembershipError`: `member_erased`, `plan_archived`, or
    `already_has_membership` (see `_check_no_overlapping_recurring`).
    """
    member = Member.objects.select_for_update().get(pk=member.pk)  # serialises assigns per member
    _check_can_sell(member=member, plan=plan)
    _check_no_overlapping_recurring(member=member, plan=plan, start_date=start_date)
    membership = _membership_create(
        member=member, plan=plan, start_date=start_date, trial_days=plan.trial_days, next_billing_date=None
    )
    _event(
        membership, Kind.CREATED, actor=actor, reason=reason, data=_terms(membership) | {"trial_days": plan.trial_days}
    )
    _member_activate(member)
    return membership


@transaction.atomic
def membership_renew(
    *, membership: Membership, actor: User | None = None, reason: str = "", today: datetime.date | None = None
) -> Membership:
    """Sell the member a new term on the same plan; returns the new membership.

    Who can renew: an active or frozen one-off or class-pack membership (renewing early:
    the new term starts the day after the old one ends), and any expired membership
    (rejoining, recurring ones included). Active recurring memberships renew themselves
    every period; cancelled ones were ended on purpose, so the member re-joins through
    `membership_assign`.

    The new term starts on the later of `today` and the old `end_date` + 1 day (today
    when there was no end date, e.g. a class pack without expiry). It is a new sale, so
    it takes the plan's *current* price and terms, and no trial days (trials are for
    new members). The old membership gets a `renewed` event naming the new one, the new
    one a `created` event naming the old; a term can be renewed once (renew the new
    term to go further).

    Raises `MembershipError`: `transition_not_allowed`, `already_renewed`,
    `plan_archived`, `member_erased`, `already_has_membership`.
    """
    today = today or timezone.localdate()
    old = _locked(membership)
    recurring = bool(old.billing_period)
    if old.status == Status.CANCELLED:
        raise MembershipError(
            "transition_not_allowed",
            "A cancelled membership cannot be renewed. Assign a plan to sign the member up again.",
        )
    if old.status != Status.EXPIRED and (recurring or old.status == Status.PAST_DUE):
        raise MembershipError(
            "transition_not_allowed",
            f"A {old.get_status_display().lower()} recurring membership renews itself every billing period.",
        )
    if old.events.filter(kind=Kind.RENEWED).exists():
        raise MembershipError("already_renewed", "This membership was already renewed. Renew the newer term instead.")
    member = Member.objects.select_for_update().get(pk=old.member_id)
    plan = old.plan
    _check_can_sell(member=member, plan=plan)
    start_date = max(today, old.end_date + datetime.timedelta(days=1)) if old.end_date else today
    _check_no_overlapping_recurring(member=member, plan=plan, start_date=start_date)
    new = _membership_create(member=member, plan=plan, start_date=start_date, trial_days=0, next_billing_date=None)
    _event(old, Kind.RENEWED, actor=actor, reason=reason, data={"renewal_id": new.pk} | _terms(new))
    _event(new, Kind.CREATED, actor=actor, reason=reason, data={"renewed_from": old.pk} | _terms(new))
    _member_activate(member)
    return new


# --- freeze and unfreeze -------------------------------------------------------------


@transaction.atomic
def membership_freeze(
    *,
    membership: Membership,
    start_date: datetime.date,
    end_date: datetime.date,
    reason: str,
    actor: User | None = None,
    today: datetime.date | None = None,
) -> Membership:
    """Pause an active membership from `start_date` to `end_date`, both inclusive.

    Rules: only an active membership (a past-due one must be settled first, as Glofox
    and Mindbody require, since a freeze would also push back the unpaid charge);
    `today` <= start <= end; the freeze starts on or after the membership's start and
    on or before its end date; at most `MAX_FREEZE_DAYS` days; no overlap with
    another freeze that is in effect or scheduled.

    Effect: `end_date` and `next_billing_date` (where set) move later by the frozen
    days, counted inclusively: 10-19 March is 10 days, so a next billing date of 1 April
    becomes 11 April. A freeze starting today sets the status to frozen now; a later
    one is scheduled and `membership_expire_due` starts it on its first day. Writes
    a `Freeze` and a `frozen` event.

    Raises `MembershipError`: `transition_not_allowed`, `freeze_in_past`,
    `freeze_dates_invalid`, `freeze_too_long`, `freeze_after_end`, `freeze_overlaps`.
    """
    today = today or timezone.localdate()
    m = _locked(membership)
    if m.status != Status.ACTIVE:
        raise _not_allowed(m, "frozen")
    if start_date < today:
        raise MembershipError("freeze_in_past", "A freeze cannot start in the past.", field="start_date")
    if end_date < start_date:
        raise MembershipError("freeze_dates_invalid", "A freeze must end on or after its start.", field="end_date")
    if start_date < m.start_date:
        raise MembershipError(
            "freeze_dates_invalid",
            f"A freeze cannot start before the membership does ({m.start_date:%d %b %Y}).",
            field="start_date",
        )
    days = (end_date - start_date).days + 1
    if days > MAX_FREEZE_DAYS:
        raise MembershipError(
            "freeze_too_long", f"A freeze can last at most {MAX_FREEZE_DAYS} days (this is {days}).", field="end_date"
        )
    if m.end_date and start_date > m.end_date:
        raise MembershipError(
            "freeze_after_end", f"The membership ends on {m.end_date:%d %b %Y}, before this freeze.", field="start_date"
        )
    # Only open freezes can overlap: one ended early by hand ended on or before today.
    if m.freezes.filter(ended_on__isnull=True, start_date__lte=end_date, end_date__gte=start_date).exists():
        raise MembershipError("freeze_overlaps", "This freeze overlaps another freeze of the membership.")

    before = {"end_date": _iso(m.end_date), "next_billing_date": _iso(m.next_billing_date)}
    m.end_date = _shift(m.end_date, days)
    m.next_billing_date = _shift(m.next_billing_date, days)
    starts_now = start_date <= today
    if starts_now:
        m.status = Status.FROZEN
    m.save(update_fields=["status", "end_date", "next_billing_date", "updated_at"])
    freeze = Freeze.objects.create(
        membership=m, start_date=start_date, end_date=end_date, reason=(reason or "")[:255], created_by=actor
    )
    _event(
        m,
        Kind.FROZEN,
        actor=actor,
        reason=reason,
        data={
            "freeze_id": freeze.pk,
            "start_date": _iso(start_date),
            "end_date": _iso(end_date),
            "days": days,
            "scheduled": not starts_now,
            "before": before,
            "after": {"end_date": _iso(m.end_date), "next_billing_date": _iso(m.next_billing_date)},
        },
    )
    return m


@transaction.atomic
def membership_unfreeze(
    *, membership: Membership, actor: User | None = None, reason: str = "", today: datetime.date | None = None
) -> Membership:
    """End a freeze early by hand (or call off a scheduled one); the status returns to active.

    The freeze is the open one in effect today or, failing that, the next scheduled one.
    Arithmetic: planned = end - start + 1 days were added to the dates when it was
    created; the member had access again from `today`, so the days actually frozen are
    frozen = clamp(today - start, 0, planned), and the dates move back by
    planned - frozen. Example: a 10-19 March freeze (10 days) ended on 14 March froze
    10-13 March (4 days), so `end_date` and `next_billing_date` move back 6 days and
    the net extension is 4 days: an early unfreeze gives no free days. A scheduled
    freeze called off before it starts moves the dates back by all its days.
    The freeze's `ended_on` becomes `today`. Writes an `unfrozen` event.

    Raises `MembershipError`: `transition_not_allowed` (not active or frozen) or
    `not_frozen` (no freeze in effect or scheduled).
    """
    today = today or timezone.localdate()
    m = _locked(membership)
    if m.status not in (Status.ACTIVE, Status.FROZEN):
        raise _not_allowed(m, "unfrozen")
    open_freezes = Freeze.objects.select_for_update().filter(membership=m, ended_on__isnull=True, end_date__gte=today)
    if m.status == Status.FROZEN:  # the one in effect, never a later scheduled one
        open_freezes = open_freezes.filter(start_date__lte=today)
    freeze = open_freezes.order_by("start_date").first()
    if freeze is None and m.status != Status.FROZEN:
        raise MembershipError("not_frozen", "This membership has no freeze in effect or scheduled.")
    given_back = 0
    data: dict[str, Any] = {"freeze_id": None, "automatic": False}
    if freeze is not None:
        planned = (freeze.end_date - freeze.start_date).days + 1
        frozen = min(max((today - freeze.start_date).days, 0), planned)
        given_back = planned - frozen
        freeze.ended_on = today
        freeze.save(update_fields=["ended_on"])
        data |= {"freeze_id": freeze.pk, "planned_days": planned, "frozen_days": frozen}
    data |= {
        "days_given_back": given_back,
        "before": {"end_date": _iso(m.end_date), "next_billing_date": _iso(m.next_billing_date)},
    }
    m.end_date = _shift(m.end_date, -given_back)
    m.next_billing_date = _shift(m.next_billing_date, -given_back)
    m.status = Status.ACTIVE
    m.save(update_fields=["status", "end_date", "next_billing_date", "updated_at"])
    data["after"] = {"end_date": _iso(m.end_date), "next_billing_date": _iso(m.next_billing_date)}
    _event(m, Kind.UNFROZEN, actor=actor, reason=reason, data=data)
    return m


# --- cancel --------------------------------------------------------------------------


@transaction.atomic
def membership_cancel(
    *,
    membership: Membership,
    immediately: bool,
    reason: str,
    actor: User | None = None,
    today: datetime.date | None = None,
) -> Membership:
    """Cancel an active, frozen or past-due membership.

    - `immediately=True`: status cancelled now, `end_date` = today (its last day),
      `next_billing_date` None; a freeze in effect or scheduled ends today. If the
      member has no other current membership, their status becomes inactive.
      Writes a `cancelled` event. (Refunds, if any, are billing's business.)
    - `immediately=False` (at period end, recurring only): `cancel_at_period_end` is
      set and `end_date` = the day before `next_billing_date`, so the member keeps
      what they paid for; the status stays as it is and `membership_expire_due`
      expires it on `next_billing_date`, which is left in place as the period end
      (billing must not charge a membership with `cancel_at_period_end`). Freezing
      it later moves both dates as usual. A past-due membership cannot wait for period
      end (the current period is unpaid): cancel it immediately. Writes a
      `cancel_scheduled` event.
    Both record `cancelled_on` (the day it was asked for) and `cancel_reason`.

    Raises `MembershipError("transition_not_allowed")` for a cancelled or expired
    membership, a second period-end cancellation, a period-end cancellation of a
    membership that is not recurring (it ends on its own) or that is past due.
    """
    today = today or timezone.localdate()
    m = _locked(membership)
    if not m.is_current:
        raise _not_allowed(m, "cancelled")
    before = {"end_date": _iso(m.end_date), "next_billing_date": _iso(m.next_billing_date), "status": m.status}
    m.cancelled_on = today
    m.cancel_reason = (reason or "")[:255]
    if immediately:
        m.status = Status.CANCELLED
        m.end_date = today
        m.next_billing_date = None
        m.cancel_at_period_end = False
        m.save()
        Freeze.objects.filter(membership=m, ended_on__isnull=True, end_date__gte=today).update(ended_on=today)
        _event(
            m,
            Kind.CANCELLED,
            actor=actor,
            reason=reason,
            data={"immediately": True, "before": before, "end_date": _iso(today)},
        )
        _members_deactivate_if_lapsed({m.member_id})
        return m
    if m.cancel_at_period_end:
        raise MembershipError(
            "transition_not_allowed", f"This membership is already set to end on {m.end_date:%d %b %Y}."
        )
    if m.next_billing_date is None:
        raise MembershipError(
            "transition_not_allowed",
            "Only a recurring membership can be cancelled at period end; this one ends on its own. "
            "Cancel it immediately instead.",
        )
    if m.status == Status.PAST_DUE:
        raise MembershipError(
            "transition_not_allowed",
            "A past-due membership cannot run to the end of an unpaid period. Cancel it immediately.",
        )
    m.cancel_at_period_end = True
    m.end_date = m.next_billing_date - datetime.timedelta(days=1)
    m.save(update_fields=["cancel_at_period_end", "end_date", "cancelled_on", "cancel_reason", "updated_at"])
    _event(
        m,
        Kind.CANCEL_SCHEDULED,
        actor=actor,
        reason=reason,
        data={"immediately": False, "before": before, "end_date": _iso(m.end_date)},
    )
    return m


# --- change plan ---------------------------------------------------------------------


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


# --- the daily job -------------------------------------------------------------------


@transaction.atomic
def membership_expire_due(*, today: datetime.date) -> dict[str, int]:
    """The daily job for the current gym; `today` is the gym-local date. Idempotent:
    a second run on the same day changes nothing.

    In this order:
    1. `expired`: current memberships whose `end_date` is before today (their last
       day has passed), or set to cancel at period end with `next_billing_date` on or
       before today, become expired.
    2. `unfrozen`: frozen memberships with no freeze in effect today (the freeze's last
       day has passed) become active. Their dates already include the freeze.
    3. `freezes_started`: active memberships with a scheduled freeze in effect today
       become frozen.
    4. `members_inactive`: members left with no current membership by step 1 become
       inactive.
    Each change writes an event with no actor. Returns the four counts.
    """
    now = timezone.now()
    counts = {"expired": 0, "unfrozen": 0, "freezes_started": 0, "members_inactive": 0}
    events: list[MembershipEvent] = []
    locked = Membership.objects.select_for_update(of=("self",))

    ended = list(
        locked.filter(status__in=CURRENT_STATUSES)
        .filter(Q(end_date__lt=today) | Q(cancel_at_period_end=True, next_billing_date__lte=today))
        .only("pk", "member_id", "status", "end_date", "cancel_at_period_end")
    )
    for m in ended:
        events.append(
            MembershipEvent(
                membership_id=m.pk,
                kind=Kind.EXPIRED,
                reason="Reached its end date",
                data={
                    "from_status": m.status,
                    "end_date": _iso(m.end_date),
                    "cancel_at_period_end": m.cancel_at_period_end,
                },
            )
        )
    counts["expired"] = Membership.objects.filter(pk__in=[m.pk for m in ended]).update(
        status=Status.EXPIRED, updated_at=now
    )

    in_effect = Freeze.objects.filter(
        membership=OuterRef("pk"), ended_on__isnull=True, start_date__lte=today, end_date__gte=today
    )
    last_started = Freeze.objects.filter(membership=OuterRef("pk"), start_date__lte=today).order_by("-start_date")

    thawed = list(
        locked.filter(status=Status.FROZEN)
        .exclude(Exists(in_effect))
        .annotate(freeze_id=Subquery(last_started.values("pk")[:1]))
        .only("pk")
    )
    for m in thawed:
        events.append(
            MembershipEvent(
                membership_id=m.pk,
                kind=Kind.UNFROZEN,
                reason="Freeze ended",
                data={"freeze_id": m.freeze_id, "automatic": True},  # type: ignore[attr-defined]
            )
        )
    counts["unfrozen"] = Membership.objects.filter(pk__in=[m.pk for m in thawed]).update(
        status=Status.ACTIVE, updated_at=now
    )

    starting = list(
        locked.filter(status=Status.ACTIVE)
        .filter(Exists(in_effect))
        .annotate(freeze_id=Subquery(in_effect.order_by("start_date").values("pk")[:1]))
        .only("pk")
    )
    for m in starting:
        events.append(
            MembershipEvent(
                membership_id=m.pk,
                kind=Kind.FROZEN,
                reason="Scheduled freeze started",
                data={"freeze_id": m.freeze_id, "started": True, "automatic": True},  # type: ignore[attr-defined]
            )
        )
    counts["freezes_started"] = Membership.objects.filter(pk__in=[m.pk for m in starting]).update(
        status=Status.FROZEN, updated_at=now
    )

    MembershipEvent.objects.bulk_create(events)
    counts["members_inactive"] = _members_deactivate_if_lapsed({m.member_id for m in ended})
    return counts
