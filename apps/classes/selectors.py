"""Reads of classes and sessions in the current gym."""

from __future__ import annotations

import datetime
import zoneinfo

from django.db.models import Q, QuerySet

from apps.accounts.models import User
from apps.staff.models import StaffRole
from apps.staff.roles import Role

from .models import ClassSession


def sessions_with_counts(sessions: QuerySet[ClassSession]) -> QuerySet[ClassSession]:
    """`sessions` with class and instructors joined and `booked_count` / `waitlist_count`
    annotated (`apps.bookings.selectors.sessions_with_counts`): one query for any number."""
    from apps.bookings.selectors import sessions_with_counts as with_counts

    return with_counts(sessions.select_related("gym_class", "instructor", "gym_class__default_instructor"))


def week_bounds(*, week_start: datetime.date, tz: str) -> tuple[datetime.datetime, datetime.datetime]:
    """Aware datetimes for gym-local Monday 00:00 of `week_start`'s week and the next Monday."""
    monday = week_start - datetime.timedelta(days=week_start.weekday())
    zone = zoneinfo.ZoneInfo(tz)
    start = datetime.datetime.combine(monday, datetime.time(0), tzinfo=zone)
    return start, datetime.datetime.combine(monday + datetime.timedelta(days=7), datetime.time(0), tzinfo=zone)


def sessions_between(
    *, start: datetime.datetime, end: datetime.datetime, instructor_id: int | None = None, class_type: str = ""
) -> QuerySet[ClassSession]:
    """Sessions starting in [start, end), with counts (see `sessions_with_counts`), in
    start order. `instructor_id` matches the session's instructor or, when it has
    none, the class's default instructor."""
    sessions = ClassSession.objects.filter(starts_at__gte=start, starts_at__lt=end)
    if instructor_id:
        sessions = sessions.filter(
            Q(instructor_id=instructor_id) | Q(instructor__isnull=True, gym_class__default_instructor_id=instructor_id)
        )
    if class_type:
        sessions = sessions.filter(gym_class__type=class_type)
    return sessions_with_counts(sessions.order_by("starts_at", "id"))


def timetable_week(
    *, week_start: datetime.date, tz: str, instructor_id: int | None = None, class_type: str = ""
) -> list[ClassSession]:
    """The sessions of the gym-local week (Monday to Sunday) containing `week_start`."""
    start, end = week_bounds(week_start=week_start, tz=tz)
    return list(sessions_between(start=start, end=end, instructor_id=instructor_id, class_type=class_type))


def sessions_today(*, now: datetime.datetime, tz: str) -> list[ClassSession]:
    """The class sessions of the gym-local day containing `now` (aware), with counts
    (`booked_count`, `waitlist_count`), in start order; cancelled ones included (their
    `status` says so). One query."""
    day = now.astimezone(zoneinfo.ZoneInfo(tz)).date()
    zone = zoneinfo.ZoneInfo(tz)
    start = datetime.datetime.combine(day, datetime.time(0), tzinfo=zone)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(0), tzinfo=zone)
    return list(sessions_between(start=start, end=end))


def trainers() -> QuerySet[User]:
    """Users who may teach: an active staff role of trainer or above at this gym."""
    ids = StaffRole.objects.filter(is_active=True, role__in=[Role.OWNER, Role.MANAGER, Role.TRAINER]).values_list(
        "user_id", flat=True
    )
    return User.objects.filter(pk__in=list(ids)).order_by("first_name", "last_name", "email")
