"""Waitlist promotion: when spots are free, the waitlist moves up in FIFO order."""

from __future__ import annotations

import datetime
from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from apps.classes.models import ClassSession
from apps.memberships.models import Membership
from apps.tenants.models import Gym

from ..credits import memberships_lock
from ..models import Booking, CreditEntry, WaitlistSkip
from ._common import (
    Status,
    current_gym,
    gym_tz,
    notify,
    session_counts,
    session_local_date,
    session_lock,
    waitlist_renumber,
)
from .eligibility import (
    CLASH_MESSAGES,
    booking_clash,
    credits_choose,
    memberships_eligible,
    session_allowed_plan_ids,
)


@transaction.atomic
def waitlist_promote(*, session: ClassSession, now: datetime.datetime | None = None) -> list[Booking]:
    """Fill the session's free spots from its waitlist; returns the bookings promoted,
    in order. `booking_cancel` calls it when a confirmed spot frees up; call it after
    raising a session's capacity too.

    While there is a free spot and the session is scheduled and has not started
    (promotion stops at the start): take the waitlisted bookings in FIFO order
    (`waitlist_position`) and re-check the member's rules as `booking_create` would:
    a valid membership (rule 3), no clash (4) and credits (5).
    - Eligible: the booking becomes confirmed, its credits are spent now (a waitlisted
      booking spends nothing until promoted) and a `waitlist_promoted` notification
      is recorded.
    - Not eligible: a `WaitlistSkip` row logs the rule's code and the reason, and the
      booking leaves the waitlist: it becomes cancelled with the reason, and a
      `waitlist_removed` notification is recorded. (Like Mindbody, which removes a
      client it cannot promote; leaving them on would re-check and re-log them at
      every freed spot while newcomers could book the free spot over their heads.)
    The remaining positions close up to 1..n. Locks the session, then the waitlisted
    members' memberships (one statement). Raises `session_not_found`.
    """
    now = now or timezone.now()
    locked = session_lock(session.pk)
    return promote_locked(locked, now=now, gym=current_gym())


def promote_locked(
    session: ClassSession,
    *,
    now: datetime.datetime,
    gym: Gym,
    memberships: list[Membership] | None = None,
) -> list[Booking]:
    """`waitlist_promote` for a session the caller has locked. `memberships`: the
    caller's already-locked memberships covering the waitlisted members (so the
    transaction takes its membership locks in one statement); None to lock them here."""
    if session.status != ClassSession.Status.SCHEDULED or now >= session.starts_at:
        return []
    taken, _ = session_counts(session)
    free = session.capacity - taken
    if free <= 0:
        return []
    waiting = list(
        Booking.objects.filter(session=session, status=Status.WAITLISTED)
        .select_related("member")
        .order_by("waitlist_position", "id")
    )
    if not waiting:
        return []
    tz = gym_tz(gym)
    if memberships is None:
        memberships = memberships_lock(
            member_ids={b.member_id for b in waiting}, frozen_on=session_local_date(session, tz)
        )
    by_member: dict[int, list[Membership]] = defaultdict(list)
    for m in memberships:
        by_member[m.member_id].append(m)
    today = now.astimezone(tz).date()
    allowed = session_allowed_plan_ids(session)
    promoted: list[Booking] = []
    for booking in waiting:
        if free == 0:
            break
        eligible, why = memberships_eligible(
            by_member.get(booking.member_id, []), session=session, tz=tz, allowed_plan_ids=allowed
        )
        code, reason = ("no_valid_membership", why) if not eligible else (None, "")
        if code is None:
            code = booking_clash(member_id=booking.member_id, session=session, exclude_booking_id=booking.pk)
            reason = CLASH_MESSAGES.get(code or "", "")
        choice = None
        if code is None:
            choice = credits_choose(eligible, cost=session.gym_class.credits_required, today=today)
            if choice is None:
                code, reason = "insufficient_credits", "The member has no credits left for this class."
        if code is not None or choice is None:
            _skip(booking, session, code=code or "ineligible", reason=reason, now=now)
            continue
        booking.status = Status.CONFIRMED
        booking.confirmed_at = now
        booking.waitlist_position = None
        booking.membership = choice.membership
        booking.credits_spent = choice.credits
        booking.save(update_fields=["status", "confirmed_at", "waitlist_position", "membership", "credits_spent"])
        if choice.state is not None and choice.credits:
            choice.state.append(
                CreditEntry.Kind.SPEND, -choice.credits, booking=booking, note="Promoted from the waitlist"
            )
        notify(booking, "waitlist_promoted", session)
        promoted.append(booking)
        free -= 1
    waitlist_renumber(session)
    return promoted


def _skip(booking: Booking, session: ClassSession, *, code: str, reason: str, now: datetime.datetime) -> None:
    WaitlistSkip.objects.create(booking=booking, code=code, reason=reason[:255])
    booking.status = Status.CANCELLED
    booking.cancelled_at = now
    booking.waitlist_position = None
    booking.cancel_reason = f"Removed from the waitlist: {reason}"[:255]
    booking.save(update_fields=["status", "cancelled_at", "waitlist_position", "cancel_reason"])
    notify(booking, "waitlist_removed", session, code=code, reason=reason)
