"""Writes to classes, recurring schedules and class sessions.

Recurrence uses `dateutil.rrule` on gym-local wall-clock times: each occurrence's
local date and time are combined with the gym's zone (`zoneinfo`) and stored in UTC,
so a 07:00 class stays at 07:00 local time across daylight-saving changes. A local
time that does not exist on a spring-forward day is moved forward by the gap
(zoneinfo's fold=0 rule: 02:30 in a 02:00-03:00 gap becomes 03:30).
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any, Literal

from dateutil import rrule
from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.plans.models import Plan

from .errors import ClassError
from .models import ClassSchedule, ClassSession, GymClass
from .selectors import trainers

MAX_OCCURRENCES = 400  # about two years of a weekly class twice a week
Scope = Literal["this", "following"]
_UNSET: Any = object()

CLASS_FIELDS = (
    "name",
    "description",
    "type",
    "difficulty",
    "duration_minutes",
    "capacity",
    "credits_required",
    "colour",
    "default_instructor",
    "equipment_needed",
    "location",
    "is_active",
)
_FREQ: dict[str, int] = {
    ClassSchedule.Frequency.DAILY: rrule.DAILY,
    ClassSchedule.Frequency.WEEKLY: rrule.WEEKLY,
    ClassSchedule.Frequency.MONTHLY: rrule.MONTHLY,
}


def _gym_zone() -> zoneinfo.ZoneInfo:
    """The current gym's timezone (UTC outside a gym)."""
    return zoneinfo.ZoneInfo(getattr(getattr(connection, "tenant", None), "timezone", None) or "UTC")


def _check_instructor(user: User | None, field: str) -> None:
    if user is not None and not trainers().filter(pk=user.pk).exists():
        raise ClassError("instructor_not_trainer", "The instructor must hold the trainer role (or above) here.", field)


@transaction.atomic
def class_create(*, allowed_plans: list[Plan] | None = None, **fields: Any) -> GymClass:
    """Create a class template from CLASS_FIELDS (duration in minutes). `allowed_plans`
    empty or None means every plan may book it. Raises `ClassError("instructor_not_trainer")`."""
    unknown = set(fields) - set(CLASS_FIELDS)
    if unknown:
        raise TypeError(f"unknown class fields: {sorted(unknown)}")
    _check_instructor(fields.get("default_instructor"), "default_instructor")
    gym_class = GymClass.objects.create(**fields)
    gym_class.allowed_plans.set(allowed_plans or [])
    return gym_class


@transaction.atomic
def class_update(*, gym_class: GymClass, allowed_plans: list[Plan] | None = _UNSET, **fields: Any) -> GymClass:
    """Edit a class template. Existing sessions keep their own times; capacity and
    instructor changes apply to sessions without an override."""
    unknown = set(fields) - set(CLASS_FIELDS)
    if unknown:
        raise TypeError(f"unknown class fields: {sorted(unknown)}")
    if "default_instructor" in fields:
        _check_instructor(fields["default_instructor"], "default_instructor")
    for name, value in fields.items():
        setattr(gym_class, name, value)
    gym_class.save()
    if allowed_plans is not _UNSET:
        gym_class.allowed_plans.set(allowed_plans or [])
    return gym_class


def schedule_preview(
    *,
    frequency: str,
    interval: int,
    weekdays: list[int],
    start_date: datetime.date,
    start_time: datetime.time,
    until: datetime.date | None = None,
    count: int | None = None,
    tz: str | zoneinfo.ZoneInfo,
) -> list[datetime.datetime]:
    """The occurrences of a rule as aware datetimes in `tz` (gym-local), at most
    MAX_OCCURRENCES. Weekly rules use `weekdays` (0=Monday; empty = the start date's
    weekday). Raises `ClassError` with code `schedule_unbounded` (neither `until` nor
    `count`), `schedule_invalid` (bad frequency, interval < 1, until before start,
    weekday out of range) or `schedule_too_long` (more than MAX_OCCURRENCES)."""
    zone = zoneinfo.ZoneInfo(tz) if isinstance(tz, str) else tz
    if frequency not in _FREQ or interval < 1:
        raise ClassError("schedule_invalid", "Choose daily, weekly or monthly, every 1 or more.", "frequency")
    if until is None and not count:
        raise ClassError("schedule_unbounded", "Give an end date or a number of sessions.", "until")
    if until is not None and until < start_date:
        raise ClassError("schedule_invalid", "The end date is before the start date.", "until")
    if any(d < 0 or d > 6 for d in weekdays):
        raise ClassError("schedule_invalid", "Weekdays run from 0 (Monday) to 6 (Sunday).", "weekdays")
    if count and count > MAX_OCCURRENCES:
        raise ClassError("schedule_too_long", f"At most {MAX_OCCURRENCES} sessions at once.", "count")
    rule = rrule.rrule(
        _FREQ[frequency],
        interval=interval,
        dtstart=datetime.datetime.combine(start_date, start_time),
        byweekday=sorted(set(weekdays)) if frequency == ClassSchedule.Frequency.WEEKLY and weekdays else None,
        until=datetime.datetime.combine(until, datetime.time.max) if until else None,
        count=count or None,
    )
    local: list[datetime.datetime] = []
    for naive in rule:
        if len(local) == MAX_OCCURRENCES:
            raise ClassError("schedule_too_long", f"At most {MAX_OCCURRENCES} sessions at once.", "until")
        # Wall-clock time in the gym's zone; round-trip through UTC normalises DST gaps.
        local.append(naive.replace(tzinfo=zone).astimezone(datetime.UTC).astimezone(zone))
    return local


def _session_defaults(gym_class: GymClass) -> dict[str, int]:
    gym = getattr(connection, "tenant", None)
    return {
        "booking_window_hours": getattr(gym, "booking_window_hours", 168),
        "cancellation_window_hours": getattr(gym, "cancellation_window_hours", 12),
    }


@transaction.atomic
def schedule_create(
    *,
    gym_class: GymClass,
    frequency: str,
    interval: int,
    weekdays: list[int],
    start_date: datetime.date,
    start_time: datetime.time,
    until: datetime.date | None = None,
    count: int | None = None,
    instructor: User | None = None,
    capacity_override: int | None = None,
) -> tuple[ClassSchedule, list[ClassSession]]:
    """Create a recurring schedule and all its sessions (see `schedule_preview` for the
    rule and its errors). Booking and cancellation windows come from the gym's
    settings. Returns the schedule and its sessions in start order."""
    _check_instructor(instructor, "instructor")
    starts = schedule_preview(
        frequency=frequency,
        interval=interval,
        weekdays=weekdays,
        start_date=start_date,
        start_time=start_time,
        until=until,
        count=count,
        tz=_gym_zone(),
    )
    schedule = ClassSchedule.objects.create(
        gym_class=gym_class,
        frequency=frequency,
        interval=interval,
        weekdays=sorted(set(weekdays)),
        start_date=start_date,
        start_time=start_time,
        until=until,
        count=count,
        instructor=instructor,
        capacity_override=capacity_override,
    )
    duration = datetime.timedelta(minutes=gym_class.duration_minutes)
    defaults = _session_defaults(gym_class)
    sessions = ClassSession.objects.bulk_create(
        [
            ClassSession(
                gym_class=gym_class,
                schedule=schedule,
                starts_at=start,
                ends_at=start + duration,
                instructor=instructor,
                capacity_override=capacity_override,
                **defaults,
            )
            for start in starts
        ]
    )
    return schedule, sessions


@transaction.atomic
def session_create(
    *,
    gym_class: GymClass,
    starts_at: datetime.datetime,
    instructor: User | None = None,
    capacity_override: int | None = None,
    notes: str = "",
) -> ClassSession:
    """A one-off session of a class at `starts_at` (aware), lasting the class's duration."""
    if timezone.is_naive(starts_at):
        raise ClassError("session_time_naive", "The start time needs a timezone.", "starts_at")
    _check_instructor(instructor, "instructor")
    return ClassSession.objects.create(
        gym_class=gym_class,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=gym_class.duration_minutes),
        instructor=instructor,
        capacity_override=capacity_override,
        notes=notes,
        **_session_defaults(gym_class),
    )


def _scope_sessions(session: ClassSession, scope: Scope, now: datetime.datetime) -> list[ClassSession]:
    if session.starts_at <= now:
        raise ClassError("session_in_past", "This session has already started.")
    if session.status != ClassSession.Status.SCHEDULED:
        raise ClassError("session_not_scheduled", "Only scheduled sessions can be changed.")
    if scope == "this" or session.schedule_id is None:
        return [session]
    if scope != "following":
        raise ClassError("scope_invalid", "Choose this session only, or this and following.", "scope")
    return list(
        ClassSession.objects.select_for_update()
        .filter(schedule_id=session.schedule_id, starts_at__gte=session.starts_at, status=ClassSession.Status.SCHEDULED)
        .order_by("starts_at")
    )


def _split_schedule(session: ClassSession, sessions: list[ClassSession], changes: dict[str, Any]) -> None:
    """ "This and following": end the old schedule the day before and carry the rest on
    a copy with the changes, so the two halves each describe their own sessions."""
    old = session.schedule
    assert old is not None
    first_local = session.starts_at.astimezone(_gym_zone()).date()
    new = ClassSchedule.objects.create(
        gym_class=old.gym_class,
        frequency=old.frequency,
        interval=old.interval,
        weekdays=old.weekdays,
        start_date=first_local,
        start_time=changes.get("start_time") or old.start_time,
        until=old.until,
        count=len(sessions) if old.count else None,
        instructor=changes.get("instructor", old.instructor),
        capacity_override=changes.get("capacity_override", old.capacity_override),
    )
    old.until = first_local - datetime.timedelta(days=1)
    old.count = None
    old.save(update_fields=["until", "count"])
    ClassSession.objects.filter(pk__in=[s.pk for s in sessions]).update(schedule=new)


@transaction.atomic
def session_update(
    *,
    session: ClassSession,
    scope: Scope,
    start_time: datetime.time | None = None,
    duration_minutes: int | None = None,
    instructor: User | None = _UNSET,
    capacity_override: int | None = _UNSET,
    notes: str = _UNSET,
    now: datetime.datetime | None = None,
) -> list[ClassSession]:
    """Edit this session only, or this and the following sessions of its schedule.
    `start_time` is gym-local wall-clock time applied on each session's own local date
    (so DST is respected); `duration_minutes` sets each end. Arguments left out are not
    changed. Returns the changed sessions. Raises `ClassError` with `session_in_past`,
    `session_not_scheduled`, `scope_invalid` or `instructor_not_trainer`."""
    now = now or timezone.now()
    session = ClassSession.objects.select_for_update(of=("self",)).select_related("schedule").get(pk=session.pk)
    sessions = _scope_sessions(session, scope, now)
    if instructor is not _UNSET:
        _check_instructor(instructor, "instructor")
    zone = _gym_zone()
    for item in sessions:
        length = datetime.timedelta(minutes=duration_minutes) if duration_minutes else item.ends_at - item.starts_at
        if start_time is not None:
            local_date = item.starts_at.astimezone(zone).date()
            item.starts_at = (
                datetime.datetime.combine(local_date, start_time, tzinfo=zone).astimezone(datetime.UTC).astimezone(zone)
            )
        item.ends_at = item.starts_at + length
        if instructor is not _UNSET:
            item.instructor = instructor
        if capacity_override is not _UNSET:
            item.capacity_override = capacity_override
        if notes is not _UNSET:
            item.notes = notes
        item.save()
    if scope == "following" and session.schedule_id is not None:
        changes: dict[str, Any] = {"start_time": start_time}
        if instructor is not _UNSET:
            changes["instructor"] = instructor
        if capacity_override is not _UNSET:
            changes["capacity_override"] = capacity_override
        _split_schedule(session, sessions, changes)
    return sessions


@transaction.atomic
def session_cancel(
    *, session: ClassSession, scope: Scope, reason: str, actor: User | None = None, now: datetime.datetime | None = None
) -> list[ClassSession]:
    """The gym cancels this session, or this and the following ones of its schedule.
    Each session's bookings are cancelled with their credits refunded and a
    notification recorded for every booked member (`session_bookings_cancel`).
    Returns the cancelled sessions. Raises `ClassError` like `session_update`."""
    from apps.bookings.services import session_bookings_cancel

    now = now or timezone.now()
    session = ClassSession.objects.select_for_update(of=("self",)).select_related("schedule").get(pk=session.pk)
    sessions = _scope_sessions(session, scope, now)
    for item in sessions:
        item.status = ClassSession.Status.CANCELLED
        item.notes = (item.notes + "\n" if item.notes else "") + f"Cancelled: {reason}".strip()
        item.save(update_fields=["status", "notes", "updated_at"])
        session_bookings_cancel(session=item, reason=reason, actor=actor)
    return sessions
