"""One member's booking: `booking_create`, `booking_cancel`, `booking_mark_attendance`."""

from __future__ import annotations

import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.classes.models import ClassSession
from apps.members.models import Member

from ..credits import bucket_states, credit_refund, memberships_lock
from ..errors import BookingError
from ..models import Booking, CreditEntry
from ._common import (
    ATTENDANCE_OPENS_BEFORE,
    UNIQUE_BOOKING_CONSTRAINT,
    Status,
    current_gym,
    gym_tz,
    notification_data,
    notify,
    session_local_date,
    session_lock,
    waitlist_renumber,
)
from ._hot import booking_insert, lock_and_read
from .eligibility import (
    CLASH_MESSAGES,
    credits_choose,
    memberships_eligible,
    session_allowed_plan_ids,
    session_state,
)
from .waitlist import promote_locked


def session_closed_reason(session: ClassSession, *, now: datetime.datetime) -> BookingError | None:
    """Rules 1 and 2 (no query): `session_not_bookable` when the session is not
    scheduled or has started, `booking_window_closed` when it starts more than its
    booking window (hours) after `now`; None when it may be booked now."""
    if session.status != ClassSession.Status.SCHEDULED or now >= session.starts_at:
        return BookingError("session_not_bookable", "This class can no longer be booked.", field="session")
    opens = session.starts_at - datetime.timedelta(hours=session.booking_window_hours)
    if now < opens:
        return BookingError(
            "booking_window_closed",
            f"Booking opens {session.booking_window_hours} hours before the class starts.",
            field="session",
        )
    return None


@transaction.atomic
def booking_create(
    *,
    member: Member,
    session: ClassSession,
    join_waitlist: bool = False,
    actor: User | None = None,
    now: datetime.datetime | None = None,
) -> Booking:
    """Book `member` into `session` (by a member in the app, or by `actor` at the
    desk); returns the confirmed or waitlisted booking.

    Rules, checked in this order; the first broken one raises its `BookingError`:
    1. `session_not_bookable`: the session is not scheduled or has started (`now`,
       default the current time, is at or after `starts_at`).
    2. `booking_window_closed`: `now` is earlier than `session.booking_window_hours`
       hours before the start.
    3. `no_valid_membership`: no active membership (frozen, past due, cancelled and
       expired do not count) whose term covers the session's gym-local date (and no
       freeze is scheduled over it), whose plan may book the class
       (`GymClass.allowed_plans`, empty = all) and whose access hours contain the
       gym-local start (empty = any time).
    4. `already_booked`: the member holds a confirmed, waitlisted, attended or no-show
       booking for this session; `booking_conflict`: a confirmed (or attended)
       booking of theirs overlaps it in time.
    5. `insufficient_credits`: the class's `credits_required` cannot be paid. An
       unlimited membership pays nothing; otherwise one bucket pays the whole cost,
       the soonest-expiring one with enough credits (`credits_choose`).
    6. Capacity: with a spot free (spots = the session's capacity; confirmed,
       attended and no-show bookings take one) the booking is confirmed and its
       credits are spent (a `spend` ledger row). With none, `class_full`, or, with
       `join_waitlist`, a waitlisted booking at the end of the FIFO waitlist
       (`waitlist_position` = last + 1). A waitlisted booking spends no credits until
       it is promoted (`waitlist_promote`), when its rules are checked again.
    Also `session_not_found` when the session's id is not in this gym.

    Concurrency: the session row is locked first (`SELECT ... FOR UPDATE`), so bookings
    of one session run one after the other and see each other's committed rows (spots
    and positions are exact, and a repeat of the same request finds the first one).
    Then the member's current memberships are locked in one statement: that serialises
    the member's own bookings (the clash check) and the credit buckets. The partial
    unique constraint on (member, session) backs up rule 4; its violation is reported
    as `already_booked`. A `booking_confirmed` or `waitlist_joined` notification is
    recorded in the same transaction.
    """
    now = now or timezone.now()
    gym = current_gym()
    tz = gym_tz(gym)
    # The freeze check is read with the memberships for the gym-local date of the
    # caller's copy of the session; it is used only if the locked row agrees.
    hint_day = session_local_date(session, tz) if session.starts_at is not None else now.astimezone(tz).date()
    with connection.cursor() as cursor:
        locked, memberships, counts = lock_and_read(cursor, session_id=session.pk, member_id=member.pk, day=hint_day)
        if locked is None:
            raise BookingError("session_not_found", "This class session does not exist.", field="session")
        closed = session_closed_reason(locked, now=now)
        if closed is not None:
            raise closed
        if session_local_date(locked, tz) != hint_day:  # rescheduled meanwhile: read the freezes again
            for m in memberships:
                del m.frozen_then  # type: ignore[attr-defined]
        eligible, why = memberships_eligible(
            memberships, session=locked, tz=tz, allowed_plan_ids=session_allowed_plan_ids(locked)
        )
        if not eligible:
            raise BookingError("no_valid_membership", why)
        state = session_state(member_id=member.pk, session=locked, counts=counts)
        if state.clash is not None:
            raise BookingError(state.clash, CLASH_MESSAGES[state.clash])
        choice = credits_choose(eligible, cost=locked.gym_class.credits_required, today=now.astimezone(tz).date())
        if choice is None:
            raise BookingError(
                "insufficient_credits",
                f"This class needs {locked.gym_class.credits_required} credits and the member has not enough left.",
            )
        if state.taken < locked.capacity:
            status, position, credits = Status.CONFIRMED, None, choice.credits
        elif join_waitlist:
            status, position, credits = Status.WAITLISTED, state.last_position + 1, 0
        else:
            raise BookingError("class_full", "This class is full. Join the waitlist to be told when a spot frees up.")
        booking = Booking(
            member=member,
            session=locked,
            membership=choice.membership,
            status=status,
            waitlist_position=position,
            credits_spent=credits,
            booked_by=actor,
            confirmed_at=now if status == Status.CONFIRMED else None,
        )
        if status == Status.CONFIRMED:
            kind, extra = "booking_confirmed", {}
        else:
            kind, extra = "waitlist_joined", {"waitlist_position": position}
        try:
            # No savepoint of its own: on a violation the error leaves this function's
            # atomic block at once, which rolls back (to its savepoint when nested).
            booking_insert(cursor, booking, kind=kind, data=notification_data(locked, **extra))
        except IntegrityError as exc:
            if UNIQUE_BOOKING_CONSTRAINT in str(exc):
                raise BookingError("already_booked", CLASH_MESSAGES["already_booked"]) from exc
            raise
    if credits and choice.state is not None:
        choice.state.append(CreditEntry.Kind.SPEND, -credits, booking=booking, actor=actor, note="Booked")
    return booking


def _booking_lock(booking: Booking) -> tuple[ClassSession, Booking]:
    """The booking's session and then the booking, both locked; `booking_not_found`
    when the booking is not in this gym."""
    not_found = BookingError("booking_not_found", "This booking does not exist.")
    try:
        session = session_lock(booking.session_id)
        locked = Booking.objects.select_for_update(of=("self",)).select_related("member").get(pk=booking.pk)
    except (BookingError, Booking.DoesNotExist):
        raise not_found from None
    if locked.session_id != session.pk:  # an id from another gym's schema
        raise not_found
    return session, locked


@transaction.atomic
def booking_cancel(
    *, booking: Booking, reason: str = "", actor: User | None = None, now: datetime.datetime | None = None
) -> Booking:
    """Cancel a confirmed or waitlisted booking (by the member or by `actor` at the
    desk); returns it updated. `now` defaults to the current time.

    - Waitlisted: cancelled; nothing was spent, so nothing is refunded; the positions
      behind it close up.
    - Confirmed, at least `session.cancellation_window_hours` hours before the start:
      cancelled, and its credits are refunded (a `refund` ledger row to the bucket it
      was paid from; into a recurring plan's current period if its own has ended).
    - Confirmed, later than that but before the start: `late_cancelled`; no refund,
      unless the gym's `late_cancel_refunds_credit` is on (the policy is read from the
      current gym, `connection.tenant`), in which case it is still `late_cancelled`
      (the status records when it happened) but refunded.
    Either way the freed spot is offered to the waitlist at once (`waitlist_promote`),
    in the same transaction, and a `booking_cancelled` notification is recorded.

    Raises `booking_not_cancellable` for a booking that is cancelled, late-cancelled,
    attended or a no-show, or confirmed in a session that has started (mark
    attendance instead); `booking_not_found` for an id not in this gym.
    """
    now = now or timezone.now()
    gym = current_gym()
    session, locked = _booking_lock(booking)
    if locked.status == Status.WAITLISTED:
        _cancelled(locked, Status.CANCELLED, reason=reason, now=now, actor=actor)
        waitlist_renumber(session)
        notify(locked, "booking_cancelled", session, late=False, credits_refunded=0)
        return locked
    if locked.status != Status.CONFIRMED:
        raise BookingError(
            "booking_not_cancellable", f"A {locked.get_status_display().lower()} booking cannot be cancelled."
        )
    if now >= session.starts_at:
        raise BookingError("booking_not_cancellable", "The class has started; mark attendance instead.")
    late = now > session.starts_at - datetime.timedelta(hours=session.cancellation_window_hours)
    paid_from = locked.membership_id if locked.credits_spent > 0 else None
    refund_to = paid_from if (not late or gym.late_cancel_refunds_credit) else None
    waiting_members = set(
        Booking.objects.filter(session=session, status=Status.WAITLISTED).values_list("member_id", flat=True)
    )
    memberships = memberships_lock(
        member_ids=waiting_members,
        membership_ids=[refund_to] if refund_to else (),
        frozen_on=session_local_date(session, gym_tz(gym)),
    )
    _cancelled(locked, Status.LATE_CANCELLED if late else Status.CANCELLED, reason=reason, now=now, actor=actor)
    if refund_to:
        today = now.astimezone(gym_tz(gym)).date()
        state = bucket_states([m for m in memberships if m.pk == refund_to], today=today)[refund_to]
        credit_refund(
            state, booking=locked, today=today, actor=actor, note="Late cancellation" if late else "Cancelled in time"
        )
    notify(locked, "booking_cancelled", session, late=late, credits_refunded=locked.credits_spent if refund_to else 0)
    promote_locked(session, now=now, gym=gym, memberships=[m for m in memberships if m.member_id in waiting_members])
    return locked


def _cancelled(
    booking: Booking, status: str, *, reason: str, now: datetime.datetime, actor: User | None = None
) -> None:
    booking.status = status
    booking.cancelled_at = now
    booking.cancelled_by = actor
    booking.cancel_reason = (reason or "")[:255]
    booking.waitlist_position = None
    booking.save(update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason", "waitlist_position"])


@transaction.atomic
def booking_mark_attendance(
    *,
    booking: Booking,
    attended: bool,
    actor: User | None = None,
    now: datetime.datetime | None = None,
    opens_before: datetime.timedelta = ATTENDANCE_OPENS_BEFORE,
) -> Booking:
    """Mark a booking attended (`attended=True`) or a no-show (False) from the session
    roster; returns it updated with `attendance_marked_at` = `now`.

    Allowed for a confirmed booking, and for an attended or no-show one (to correct a
    mistake), once the session is within `opens_before` of its start (default
    `ATTENDANCE_OPENS_BEFORE`, 30 minutes, for the roster; the front-desk check-in
    passes 60) or later, with no end (late corrections are fine). Credits do not move: a no-show's credit stays
    spent. Raises `attendance_not_allowed` (waitlisted or cancelled booking, cancelled
    session, or too early) or `booking_not_found`. Locks the booking row, so it
    serialises with a cancellation of the same booking. `actor` (the trainer or
    receptionist) is not stored yet: Booking has no field for who marked attendance.
    """
    now = now or timezone.now()
    try:
        locked = Booking.objects.select_for_update(of=("self",)).select_related("session").get(pk=booking.pk)
    except Booking.DoesNotExist:
        raise BookingError("booking_not_found", "This booking does not exist.") from None
    if locked.status not in (Status.CONFIRMED, Status.ATTENDED, Status.NO_SHOW):
        raise BookingError(
            "attendance_not_allowed",
            f"Attendance cannot be marked for a {locked.get_status_display().lower()} booking.",
        )
    if locked.session.status == ClassSession.Status.CANCELLED:
        raise BookingError("attendance_not_allowed", "This class was cancelled.")
    if now < locked.session.starts_at - opens_before:
        minutes = int(opens_before.total_seconds() // 60)
        raise BookingError(
            "attendance_not_allowed", f"Attendance can be marked from {minutes} minutes before the class starts."
        )
    locked.status = Status.ATTENDED if attended else Status.NO_SHOW
    locked.attendance_marked_at = now
    locked.attendance_marked_by = actor
    locked.save(update_fields=["status", "attendance_marked_at", "attendance_marked_by"])
    return locked
