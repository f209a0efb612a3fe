"""Whole-session changes: the gym cancelling a session, and the no-show sweep."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.classes.models import ClassSession

from ..credits import bucket_states, credit_refund, memberships_lock
from ..models import Booking
from ._common import Status, current_gym, gym_tz, notify, session_lock


@transaction.atomic
def session_bookings_cancel(
    *, session: ClassSession, reason: str, actor: User | None = None, now: datetime.datetime | None = None
) -> int:
    """The gym cancelled `session`: every confirmed and waitlisted booking becomes
    cancelled with `reason`, confirmed ones get their credits back whatever the
    cancellation window (a `refund` row each), and a `session_cancelled` notification
    is recorded for each member. Returns how many bookings were cancelled.

    It does not change the session's own status: the caller (the classes service)
    does, in the same transaction, so no booking slips in between (this service holds
    the session's row lock until that transaction commits). Attended and no-show
    bookings are left alone. Idempotent: a second call finds nothing to cancel.
    `now` (default the current time) stamps `cancelled_at` and dates the refunds.
    Raises `session_not_found`.
    """
    now = now or timezone.now()
    locked = session_lock(session.pk)
    bookings = list(
        Booking.objects.filter(session=locked, status__in=[Status.CONFIRMED, Status.WAITLISTED])
        .select_related("member")
        .order_by("id")
    )
    if not bookings:
        return 0
    paid = [b for b in bookings if b.status == Status.CONFIRMED and b.credits_spent > 0 and b.membership_id]
    for b in bookings:
        b.status = Status.CANCELLED
        b.cancelled_at = now
        b.cancelled_by = actor
        b.cancel_reason = (reason or "Cancelled by the gym")[:255]
        b.waitlist_position = None
    Booking.objects.bulk_update(
        bookings, ["status", "cancelled_at", "cancelled_by", "cancel_reason", "waitlist_position"]
    )
    today = now.astimezone(gym_tz(current_gym())).date()
    states = bucket_states(
        memberships_lock(membership_ids={b.membership_id for b in paid if b.membership_id}), today=today
    )
    for b in paid:
        state = states.get(b.membership_id or 0)
        if state is not None:  # always, unless the membership's terms had no bucket
            credit_refund(state, booking=b, today=today, actor=actor, note="The gym cancelled the class")
    for b in bookings:
        notify(b, "session_cancelled", locked, reason=reason)
    return len(bookings)


def bookings_mark_no_shows(*, now: datetime.datetime | None = None) -> int:
    """The sweep after classes (a beat task, per gym): for every scheduled session that
    has ended by `now`, its still-confirmed bookings become `no_show` (credits stay
    spent; `attendance_marked_at` stays empty: nobody marked them), its waitlisted
    bookings are cancelled (the class took place without them), and the session
    becomes `completed`. Idempotent: completed sessions are not looked at again.
    One short transaction per session (its row locked). Returns the no-shows marked.
    """
    now = now or timezone.now()
    ended = list(
        ClassSession.objects.filter(status=ClassSession.Status.SCHEDULED, ends_at__lte=now)
        .order_by("ends_at", "pk")
        .values_list("pk", flat=True)
    )
    no_shows = 0
    for session_id in ended:
        with transaction.atomic():
            session = (
                ClassSession.objects.select_for_update()
                .filter(pk=session_id, status=ClassSession.Status.SCHEDULED)
                .first()
            )
            if session is None:
                continue  # cancelled or completed meanwhile
            no_shows += Booking.objects.filter(session=session, status=Status.CONFIRMED).update(status=Status.NO_SHOW)
            Booking.objects.filter(session=session, status=Status.WAITLISTED).update(
                status=Status.CANCELLED,
                cancelled_at=now,
                waitlist_position=None,
                cancel_reason="The class took place; the waitlist closed.",
            )
            session.status = ClassSession.Status.COMPLETED
            session.save(update_fields=["status", "updated_at"])
    return no_shows
