"""The demo gym's timetable: six classes, four instructors, ~38 sessions a week, real-looking bookings."""

import pytest
from django.db.models import Count, Q
from django_tenants.utils import tenant_context

from apps.bookings.models import Booking
from apps.classes.demo import demo_timetable_seed
from apps.classes.models import ClassSession, GymClass
from apps.members.demo import demo_members_seed
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def test_demo_timetable(gym_a: Gym, make_staff) -> None:
    instructors = [make_staff(gym_a, Role.TRAINER) for _ in range(4)]
    with tenant_context(gym_a):
        demo_members_seed(count=300)
        sessions = demo_timetable_seed(instructors=instructors)

        assert demo_timetable_seed(instructors=instructors) == 0  # idempotent
        assert GymClass.objects.count() == 6
        assert sessions == ClassSession.objects.count()  # 13 weeks (8 back, this one, 4 ahead)
        assert 36 * 13 <= sessions <= 40 * 13
        statuses = set(Booking.objects.values_list("status", flat=True))
        assert {"attended", "no_show", "confirmed", "waitlisted", "late_cancelled"} <= statuses
        over = ClassSession.objects.annotate(
            booked=Count("bookings", filter=Q(bookings__status__in=["confirmed", "attended", "no_show"]))
        ).select_related("gym_class")
        assert all(s.booked <= s.capacity for s in over)
        for session in ClassSession.objects.filter(bookings__status="waitlisted").distinct()[:20]:
            positions = list(
                session.bookings.filter(status="waitlisted")
                .order_by("waitlist_position")
                .values_list("waitlist_position", flat=True)
            )
            assert positions == list(range(1, len(positions) + 1))
        assert ClassSession.objects.filter(status="completed").exists()
        assert not Booking.objects.filter(credits_spent__gt=0).exists()
