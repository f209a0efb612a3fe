"""What the booking services share: the gym and its timezone, the session row lock,
spot counts, waitlist renumbering and notification recording. Private to the package.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import Count, Max, OuterRef, Q

from apps.classes.models import ClassSession, GymClass
from apps.notifications.services import notification_record
from apps.tenants.models import Gym
from apps.tenants.selectors import current_gym as current_gym  # re-exported to the package

from ..errors import BookingError
from ..models import Booking

Status = Booking.Status

SPOT_STATUSES = [Status.CONFIRMED, Status.ATTENDED, Status.NO_SHOW]
"""Bookings that take one of the session's spots."""

HOLDING_STATUSES = [Status.CONFIRMED, Status.WAITLISTED, Status.ATTENDED, Status.NO_SHOW]
"""Bookings that count as "already booked" (the partial unique constraint's statuses)."""

UNIQUE_BOOKING_CONSTRAINT = "bookings_one_active_booking_per_member_session"

ATTENDANCE_OPENS_BEFORE = datetime.timedelta(minutes=30)
"""Attendance may be marked from this long before a session starts (early arrivals
checking in at the desk), and at any time after."""


def gym_tz(gym: Gym) -> datetime.tzinfo:
    """The gym's timezone (UTC if the name is unknown to this machine)."""
    try:
        return zoneinfo.ZoneInfo(gym.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.UTC


def session_lock(session_id: int) -> ClassSession:
    """The session row, re-read under `SELECT ... FOR UPDATE` with its class and the ids
    of the plans allowed to book it (`allowed_plan_ids`, a subquery in the same
    statement): every change to a session's bookings holds this lock, so they run one
    after the other. Raises `session_not_found` when the id is not in this gym."""
    allowed = GymClass.allowed_plans.through.objects.filter(gymclass_id=OuterRef("gym_class_id")).values("plan_id")
    try:
        return (
            ClassSession.objects.select_for_update(of=("self",))
            .select_related("gym_class")
            .annotate(allowed_plan_ids=ArraySubquery(allowed))
            .get(pk=session_id)
        )
    except ClassSession.DoesNotExist:
        raise BookingError("session_not_found", "This class session does not exist.", field="session") from None


def session_local_date(session: ClassSession, tz: datetime.tzinfo) -> datetime.date:
    """The gym-local date the session starts on."""
    return session.starts_at.astimezone(tz).date()


def session_counts(session: ClassSession) -> tuple[int, int]:
    """(spots taken, last waitlist position or 0) for `session`. One query."""
    agg = Booking.objects.filter(session=session).aggregate(
        taken=Count("pk", filter=Q(status__in=SPOT_STATUSES)),
        last=Max("waitlist_position", filter=Q(status=Status.WAITLISTED)),
    )
    return agg["taken"], agg["last"] or 0


def waitlist_renumber(session: ClassSession) -> None:
    """Close up the session's waitlist positions to 1..n, keeping their order. One query."""
    assert Booking._meta.db_table == "bookings_booking"
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE bookings_booking AS b SET waitlist_position = r.position
            FROM (
                SELECT id, row_number() OVER (ORDER BY waitlist_position, id) AS position
                FROM bookings_booking WHERE session_id = %s AND status = %s
            ) AS r
            WHERE b.id = r.id AND b.waitlist_position IS DISTINCT FROM r.position
            """,
            [session.pk, Status.WAITLISTED],
        )


def notify(booking: Booking, kind: str, session: ClassSession, **data: Any) -> None:
    """Record a `kind` notification about `booking` for its member, once per booking
    (idempotency key `<kind>:booking:<id>`). It is a row in the caller's transaction,
    so it exists exactly when the change it announces was committed."""
    notification_record(
        member=booking.member,
        kind=kind,
        idempotency_key=f"{kind}:booking:{booking.pk}",
        data={"booking_id": booking.pk, **notification_data(session, **data)},
    )


def notification_data(session: ClassSession, **data: Any) -> dict[str, Any]:
    """A booking notification's data about `session`, without the booking's id."""
    return {
        "session_id": session.pk,
        "class_name": session.gym_class.name,
        "starts_at": session.starts_at.isoformat(),
        **data,
    }
