"""The lifecycle of one membership: `membership_assign` (a new sale), `membership_renew`
(a new term on the same plan), `membership_freeze` / `membership_unfreeze` (pause and
resume, moving the dates), and `membership_cancel` (now, or at period end). Each one
locks the rows it changes, checks its rules before writing, and records a
`MembershipEvent`; the conventions and allowed transitions are in the package
docstring (`apps.memberships.services`).
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import User
from apps.members.models import Member
from apps.plans.models import Plan

from ..errors import MembershipError
from ..models import CURRENT_STATUSES, Freeze, Membership
from ._common import (
    Kind,
    Status,
    _event,
    _iso,
    _locked,
    _members_deactivate_if_lapsed,
    _membership_create,
    _terms,
    freeze_notices,
)

MAX_FREEZE_DAYS = 90
"""The longest single freeze, in days (inclusive count). A gym-policy default: the
usual "up to 3 months" hold that gym software offers (Mindbody and Glofox let each
gym set its own maximum). When gym-level settings land it should come from there."""


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


def _member_activate(member: Member) -> None:
    if member.status != Member.Status.ACTIVE:
        Member.objects.filter(pk=member.pk).exclude(status=Member.Status.ERASED).update(
            status=Member.Status.ACTIVE, updated_at=timezone.now()
        )


def _sale_invoice(membership: Membership, *, actor: User | None) -> None:
    """Bill the sale (signup fee and first period, pass or pack) in the same
    transaction (apps.invoices; imported here to keep the app dependency one-way)."""
    from apps.invoices.services import membership_sale_invoice

    membership_sale_invoice(membership=membership, actor=actor, today=timezone.localdate())


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
    _sale_invoice(membership, actor=actor)
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
    _sale_invoice(new, actor=actor)
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
    a `Freeze`, a `frozen` event and the member's `membership_frozen` notification.

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
    m.billing_anchor_day = None  # the billing day moved with the freeze
    starts_now = start_date <= today
    if starts_now:
        m.status = Status.FROZEN
    m.save(update_fields=["status", "end_date", "next_billing_date", "billing_anchor_day", "updated_at"])
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
    freeze_notices([(m.pk, "membership_frozen", freeze.pk, m.member_id)])
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
    The freeze's `ended_on` becomes `today`. Writes an `unfrozen` event and the
    member's `membership_unfrozen` notification.

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
    m.billing_anchor_day = None
    m.status = Status.ACTIVE
    m.save(update_fields=["status", "end_date", "next_billing_date", "billing_anchor_day", "updated_at"])
    data["after"] = {"end_date": _iso(m.end_date), "next_billing_date": _iso(m.next_billing_date)}
    _event(m, Kind.UNFROZEN, actor=actor, reason=reason, data=data)
    freeze_notices([(m.pk, "membership_unfrozen", freeze.pk if freeze else None, m.member_id)])
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
