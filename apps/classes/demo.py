"""Demo timetable for `make run`: six classes, four instructors, about 38 sessions a
week from 8 weeks back to 4 weeks ahead, with bookings, waitlists, attendance and
no-shows. Bookings use members on unlimited plans, so no class credits move (the
credit ledger stays empty and consistent). Deterministic; skipped if classes exist."""

from __future__ import annotations

import datetime
import random

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.bookings.models import Booking
from apps.memberships.models import Membership

from .models import ClassSession, GymClass
from .services import class_create, schedule_create

CLASSES = [
    # name, type, minutes, capacity, colour
    ("Sunrise Yoga", "yoga", 60, 20, "#0f766e"),
    ("Reformer Pilates", "pilates", 50, 12, "#7c3aed"),
    ("HIIT Blast", "hiit", 45, 16, "#dc2626"),
    ("Strength Club", "strength", 60, 14, "#1d4ed8"),
    ("Rhythm Ride", "cycling", 45, 20, "#d97706"),
    ("Boxing Fit", "martial_arts", 60, 16, "#0f172a"),
]
# (class index, weekdays, local start) -> 38 sessions a week
SLOTS = [
    (2, [0, 1, 2, 3, 4], datetime.time(6, 0)),
    (0, [0, 1, 2, 3, 4], datetime.time(7, 0)),
    (4, [0, 1, 2, 3, 4], datetime.time(12, 15)),
    (3, [0, 1, 2, 3, 4], datetime.time(17, 30)),
    (1, [0, 1, 2, 3, 4], datetime.time(18, 30)),
    (5, [0, 2, 4], datetime.time(19, 30)),
    (1, [1, 3], datetime.time(9, 30)),
    (0, [5, 6], datetime.time(8, 0)),
    (4, [5], datetime.time(9, 0)),
    (2, [5], datetime.time(10, 0)),
    (3, [5, 6], datetime.time(11, 0)),
]


@transaction.atomic
def demo_timetable_seed(*, instructors: list[User], seed: int = 2026) -> int:
    """Create the demo classes, schedules, sessions and bookings in the current gym.
    Returns the number of sessions created (0 when the gym already has classes)."""
    if GymClass.objects.exists():
        return 0
    rng = random.Random(seed)  # noqa: S311 (demo data, not security)
    now = timezone.now()
    today = timezone.localdate()
    monday = today - datetime.timedelta(days=today.weekday())
    classes = [
        class_create(
            name=name,
            type=kind,
            duration_minutes=minutes,
            capacity=capacity,
            colour=colour,
            default_instructor=instructors[i % len(instructors)],
            location=rng.choice(["Studio 1", "Studio 2", "Main floor"]),
            description=f"{name}: a {minutes}-minute class for all levels.",
        )
        for i, (name, kind, minutes, capacity, colour) in enumerate(CLASSES)
    ]
    sessions: list[ClassSession] = []
    for index, weekdays, start in SLOTS:
        _, made = schedule_create(
            gym_class=classes[index],
            frequency="weekly",
            interval=1,
            weekdays=weekdays,
            start_date=monday - datetime.timedelta(weeks=8),
            start_time=start,
            until=monday + datetime.timedelta(weeks=4, days=6),
        )
        sessions += made
    eligible = list(
        Membership.objects.filter(status=Membership.Status.ACTIVE, class_credits__isnull=True).values_list(
            "member_id", "id", "start_date"
        )
    )
    tz = timezone.get_current_timezone()
    bookings: list[Booking] = []
    completed = []
    for session in sessions:
        capacity = session.capacity
        past = session.ends_at < now
        wanted = int(capacity * rng.uniform(0.45, 1.0 if past else 1.25))
        # Only members whose membership had started by the class's (gym-local) date.
        day = session.starts_at.astimezone(tz).date()
        started = [(member_id, membership_id) for member_id, membership_id, start in eligible if start <= day]
        chosen = rng.sample(started, k=min(wanted, len(started)))
        for n, (member_id, membership_id) in enumerate(chosen):
            if n < capacity:
                status = Booking.Status.CONFIRMED
                if past:
                    status = rng.choices(
                        [Booking.Status.ATTENDED, Booking.Status.NO_SHOW, Booking.Status.LATE_CANCELLED], [86, 9, 5]
                    )[0]
                position = None
            else:
                status, position = Booking.Status.WAITLISTED, n - capacity + 1
            bookings.append(
                Booking(
                    member_id=member_id,
                    session=session,
                    membership_id=membership_id,
                    status=status,
                    waitlist_position=position,
                    confirmed_at=session.starts_at - datetime.timedelta(days=2)
                    if status != Booking.Status.WAITLISTED
                    else None,
                    attendance_marked_at=session.starts_at
                    if status in (Booking.Status.ATTENDED, Booking.Status.NO_SHOW)
                    else None,
                )
            )
        if past:
            completed.append(session.pk)
    Booking.objects.bulk_create(bookings, batch_size=2000)
    ClassSession.objects.filter(pk__in=completed).update(status=ClassSession.Status.COMPLETED)
    return len(sessions)
