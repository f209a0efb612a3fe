"""The member-side rules, shared by `booking_create` and waitlist promotion: which
memberships may book a session (rule 3), whether the member is already booked or
busy then (rule 4), and which bucket pays (rule 5). Private to the package.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, Max, Q

from apps.classes.models import ClassSession
from apps.memberships.models import Freeze, Membership
from apps.memberships.selectors import membership_covers
from apps.plans.models import Plan
from apps.tenants.selectors import current_gym

from ..credits import BucketState, bucket_states
from ..models import Booking
from ._common import HOLDING_STATUSES, SPOT_STATUSES, Status


def session_allowed_plan_ids(session: ClassSession) -> set[int]:
    """The plans that may book the session's class; empty means every plan. Read from
    `session_lock`'s annotation, else one query."""
    annotated = getattr(session, "allowed_plan_ids", None)
    if annotated is not None:
        return set(annotated)
    return set(session.gym_class.allowed_plans.values_list("pk", flat=True))


def access_hours_allow(plan: Plan, local_start: datetime.datetime) -> bool:
    """True when the plan's access hours (gym-local windows; none = any time) contain
    `local_start`: its weekday is listed and start <= time < end."""
    if not plan.access_hours:
        return True
    at = local_start.time().replace(tzinfo=None)
    for window in plan.access_hours:
        try:
            weekdays = {int(d) for d in window["weekdays"]}
            start = datetime.time.fromisoformat(window["start"])
            end = datetime.time.fromisoformat(window["end"])
        except (KeyError, TypeError, ValueError):
            continue  # a malformed window grants nothing
        if local_start.weekday() in weekdays and start <= at < end:
            return True
    return False


def memberships_eligible(
    memberships: Iterable[Membership],
    *,
    session: ClassSession,
    tz: datetime.tzinfo,
    allowed_plan_ids: set[int],
) -> tuple[list[Membership], str]:
    """Rule 3: those of `memberships` (the member's, plans loaded) that may book
    `session`: active, or past due for fewer than the gym's `payment_grace_days` on the session's date
    (frozen, cancelled, expired and longer past due do not count), their
    term covering the session's gym-local date with no freeze scheduled over it, their
    plan allowed for the class and its access hours containing the start. Returns
    (eligible, why not) where `why not` explains the furthest any membership got when
    none is eligible. No query when the memberships were locked with
    `frozen_on=` the session's local date; else one (freezes), when a candidate is left."""
    local_start = session.starts_at.astimezone(tz)
    day = local_start.date()
    grace = datetime.timedelta(days=current_gym().payment_grace_days)

    def may_book(m: Membership) -> bool:
        # Past due still books inside the gym's payment grace days, as check-in admits:
        # that many days counting the day it went past due (0: none).
        if m.status == Membership.Status.PAST_DUE:
            return m.past_due_since is not None and day < m.past_due_since + grace
        return m.status == Membership.Status.ACTIVE

    stages = [
        ("has no active membership.", may_book),
        ("has no membership that covers the class's date.", lambda m: membership_covers(m, day=day)),
        (
            "has no plan that may book this class.",
            lambda m: not allowed_plan_ids or m.plan_id in allowed_plan_ids,
        ),
        (
            "has no plan whose access hours include the class's start.",
            lambda m: access_hours_allow(m.plan, local_start),
        ),
    ]
    candidates = list(memberships)
    why = stages[0][0]
    for message, passes in stages:
        why = message
        candidates = [m for m in candidates if passes(m)]
        if not candidates:
            return [], f"The member {why}"
    if all(hasattr(m, "frozen_then") for m in candidates):  # memberships_lock(frozen_on=day)
        frozen_then = {m.pk for m in candidates if m.frozen_then}  # type: ignore[attr-defined]
    else:
        frozen_then = set(
            Freeze.objects.filter(
                membership_id__in=[m.pk for m in candidates],
                ended_on__isnull=True,
                start_date__lte=day,
                end_date__gte=day,
            ).values_list("membership_id", flat=True)
        )
    candidates = [m for m in candidates if m.pk not in frozen_then]
    if not candidates:
        return [], "The member's membership is frozen on the class's date."
    return candidates, ""


def _clash_filters(*, member_id: int, session: ClassSession) -> tuple[Q, Q]:
    here = Q(member_id=member_id, session_id=session.pk, status__in=HOLDING_STATUSES)
    overlapping = Q(
        member_id=member_id,
        status__in=[Status.CONFIRMED, Status.ATTENDED],
        session__starts_at__lt=session.ends_at,
        session__ends_at__gt=session.starts_at,
    ) & ~Q(session_id=session.pk)
    return here, overlapping


def booking_clash(*, member_id: int, session: ClassSession, exclude_booking_id: int | None = None) -> str | None:
    """Rule 4: `already_booked` when the member holds a confirmed, waitlisted,
    attended or no-show booking for `session`; `booking_conflict` when they hold a
    confirmed (or attended) booking of another session overlapping it in time; else
    None. A waitlist place elsewhere is no conflict. One query."""
    here, overlapping = _clash_filters(member_id=member_id, session=session)
    found = set(
        Booking.objects.filter(here | overlapping)
        .exclude(pk=exclude_booking_id or 0)
        .values_list("session_id", flat=True)
    )
    if session.pk in found:
        return "already_booked"
    return "booking_conflict" if found else None


@dataclass(frozen=True)
class SessionState:
    """What `booking_create` reads of the bookings in one query: the member's clash
    (rule 4, as `booking_clash`), the spots taken and the last waitlist position."""

    clash: str | None
    taken: int
    last_position: int


def session_state(
    *, member_id: int, session: ClassSession, counts: tuple[int, int, int, int] | None = None
) -> SessionState:
    """Rule 4 and the session's counts together, in one aggregate query over the
    session's bookings and the member's. Exact while the caller holds the session's
    lock (and the member's membership locks). `counts`: that query's result already
    read by the caller (`_hot.lock_and_read`: already booked here, confirmed
    overlapping elsewhere, spots taken, last waitlist position); no query then."""
    if counts is not None:
        here_n, overlapping_n, taken, last = counts
        clash = "already_booked" if here_n else "booking_conflict" if overlapping_n else None
        return SessionState(clash=clash, taken=taken, last_position=last)
    here, overlapping = _clash_filters(member_id=member_id, session=session)
    agg = Booking.objects.filter(Q(session_id=session.pk) | Q(member_id=member_id)).aggregate(
        here=Count("pk", filter=here),
        overlapping=Count("pk", filter=overlapping),
        taken=Count("pk", filter=Q(session_id=session.pk, status__in=SPOT_STATUSES)),
        last=Max("waitlist_position", filter=Q(session_id=session.pk, status=Status.WAITLISTED)),
    )
    clash = "already_booked" if agg["here"] else "booking_conflict" if agg["overlapping"] else None
    return SessionState(clash=clash, taken=agg["taken"], last_position=agg["last"] or 0)


CLASH_MESSAGES = {
    "already_booked": "The member is already booked into this class.",
    "booking_conflict": "The member is booked into another class at the same time.",
}


@dataclass(frozen=True)
class CreditChoice:
    """Who pays for a booking: `membership`, `credits` to spend (0 when unlimited), and
    the locked bucket (`state`, None when unlimited)."""

    membership: Membership
    credits: int
    state: BucketState | None


def credits_choose(eligible: list[Membership], *, cost: int, today: datetime.date) -> CreditChoice | None:
    """Rule 5: the membership that pays `cost` credits, or None when none can. An
    unlimited membership pays nothing and wins; otherwise the limited bucket with
    enough unexpired credits that lapses soonest (no expiry last), one bucket paying
    the whole cost. `eligible` are locked by the caller; their buckets are brought up
    to date (lazy purchase/grant/expire rows)."""
    unlimited = [m for m in eligible if m.class_credits is None]
    if unlimited:
        return CreditChoice(min(unlimited, key=lambda m: m.pk), 0, None)
    states = bucket_states(eligible, today=today)
    usable = [s for s in states.values() if not s.expired(today) and s.balance >= cost]
    if not usable:
        return None
    best = min(usable, key=lambda s: (s.expires_on or datetime.date.max, s.membership.pk))
    return CreditChoice(best.membership, cost, best)
