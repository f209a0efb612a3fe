"""Who cancelled a booking and who marked attendance is kept on the booking."""

import datetime

import pytest
from django_tenants.utils import tenant_context

from apps.bookings.services import booking_cancel, booking_create, booking_mark_attendance
from apps.classes.models import ClassSession
from apps.classes.tests.factories import GymClassFactory
from apps.memberships.tests.factories import MembershipFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


def test_cancel_and_attendance_record_the_staff_member(gym_a: Gym, make_staff) -> None:
    desk = make_staff(gym_a, Role.RECEPTIONIST)
    with tenant_context(gym_a):
        session = ClassSession.objects.create(
            gym_class=GymClassFactory(),
            starts_at=datetime.datetime(2027, 6, 7, 7, tzinfo=UTC),
            ends_at=datetime.datetime(2027, 6, 7, 8, tzinfo=UTC),
        )
        a, b = (MembershipFactory(start_date=datetime.date(2027, 6, 1)) for _ in range(2))
        before = datetime.datetime(2027, 6, 5, 7, tzinfo=UTC)
        cancelled = booking_cancel(
            booking=booking_create(member=a.member, session=session, now=before), actor=desk, now=before
        )
        attended = booking_mark_attendance(
            booking=booking_create(member=b.member, session=session, now=before),
            attended=True,
            actor=desk,
            now=datetime.datetime(2027, 6, 7, 7, 5, tzinfo=UTC),
        )

        assert cancelled.cancelled_by == desk and cancelled.status == "cancelled"
        assert attended.attendance_marked_by == desk and attended.status == "attended"
