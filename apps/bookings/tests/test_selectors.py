"""Booking selectors: the roster, counts for many sessions in one query, a member's
own bookings by session, and the credit ledger."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.bookings.models import Booking, CreditEntry
from apps.bookings.selectors import (
    credit_ledger,
    member_bookings,
    member_bookings_by_session,
    session_roster,
    sessions_with_counts,
)
from apps.bookings.services import booking_cancel, booking_create, booking_mark_attendance
from apps.classes.models import ClassSession
from apps.classes.tests.factories import ClassSessionFactory, GymClassFactory
from apps.members.tests.factories import MemberFactory
from apps.tenants.models import Gym

from .factories import NOW, H, member_on, monthly_plan, pack_plan, session_at

pytestmark = pytest.mark.django_db

Status = Booking.Status


@contextmanager
def statements(expected: int) -> Iterator[None]:
    """Exactly `expected` SQL statements, not counting the `SET search_path` that
    django-tenants sends before each one (TENANT_LIMIT_SET_CALLS is off)."""
    with CaptureQueriesContext(connection) as captured:
        yield
    real = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]
    assert len(real) == expected, real


@pytest.fixture(autouse=True)
def in_gym(gym_a: Gym) -> Iterator[Gym]:
    with tenant_context(gym_a):
        yield gym_a


def test_the_roster_groups_booked_waitlist_and_cancelled() -> None:
    session = session_at(NOW + 48 * H, capacity=2)
    plan = monthly_plan()
    confirmed = booking_create(member=member_on(plan).member, session=session, now=NOW)
    attended = booking_create(member=member_on(plan).member, session=session, now=NOW)
    second = booking_create(member=member_on(plan).member, session=session, join_waitlist=True, now=NOW)
    first = booking_create(member=member_on(plan).member, session=session, join_waitlist=True, now=NOW)
    Booking.objects.filter(pk=second.pk).update(waitlist_position=2)
    Booking.objects.filter(pk=first.pk).update(waitlist_position=1)
    booking_mark_attendance(booking=attended, attended=True, now=NOW + 48 * H)
    booking_create(member=member_on(plan).member, session=session_at(NOW + 24 * H), now=NOW)  # another session
    booking_cancel(booking=confirmed, now=NOW)  # promotes `first`

    with statements(1):
        roster = session_roster(session=session)
        names = [(b.member.first_name, b.membership.plan.name) for b in roster]  # all joined

    assert {b.pk for b in roster.booked} == {attended.pk, first.pk}
    assert [b.pk for b in roster.waitlist] == [second.pk]
    assert [b.pk for b in roster.cancelled] == [confirmed.pk]
    assert len(names) == 4


def test_counts_for_five_hundred_sessions_in_one_query() -> None:
    gym_class = GymClassFactory(capacity=2)
    start = NOW + 24 * H
    ClassSession.objects.bulk_create(
        ClassSession(
            gym_class=gym_class,
            starts_at=start + i * H,
            ends_at=start + i * H + datetime.timedelta(minutes=60),
        )
        for i in range(500)
    )
    sessions = list(ClassSession.objects.filter(gym_class=gym_class).order_by("starts_at")[:3])
    plan = monthly_plan()
    for session in sessions[:2]:
        for _ in range(3):
            booking_create(member=member_on(plan).member, session=session, join_waitlist=True, now=NOW)

    with statements(1):
        rows = list(sessions_with_counts(ClassSession.objects.filter(gym_class=gym_class).select_related("gym_class")))
        spots = [s.capacity - s.booked_count for s in rows]  # type: ignore[attr-defined]

    counts = {s.pk: (s.booked_count, s.waitlist_count) for s in rows}  # type: ignore[attr-defined]
    assert len(rows) == 500
    assert [counts[s.pk] for s in sessions] == [(2, 1), (2, 1), (0, 0)]
    assert spots.count(0) == 2


def test_a_members_own_booking_per_session() -> None:
    membership = member_on(monthly_plan())
    member = membership.member
    kept, rebooked, dropped, never = (session_at(NOW + (24 + 2 * i) * H) for i in range(4))
    booking_create(member=member, session=kept, now=NOW)
    booking_cancel(booking=booking_create(member=member, session=rebooked, now=NOW), now=NOW)
    again = booking_create(member=member, session=rebooked, now=NOW)
    cancelled = booking_cancel(booking=booking_create(member=member, session=dropped, now=NOW), now=NOW)

    with statements(1):
        mine = member_bookings_by_session(member=member, session_ids=[s.pk for s in (kept, rebooked, dropped, never)])

    assert mine[rebooked.pk].pk == again.pk  # the current one wins over the cancelled one
    assert mine[dropped.pk].pk == cancelled.pk
    assert never.pk not in mine and mine[kept.pk].status == Status.CONFIRMED


def test_member_bookings_come_with_session_and_class() -> None:
    membership = member_on(monthly_plan())
    for i in range(5):
        booking_create(member=membership.member, session=session_at(NOW + (24 + 2 * i) * H), now=NOW)
    booking_create(member=member_on(monthly_plan()).member, session=session_at(), now=NOW)  # someone else

    with statements(1):
        rows = [(b.session.gym_class.name, b.session.starts_at) for b in member_bookings(member=membership.member)]

    assert len(rows) == 5 and rows == sorted(rows, key=lambda r: r[1])


def test_the_ledger_lists_newest_first_with_its_bookings() -> None:
    membership = member_on(pack_plan(credits=5))
    booking = booking_create(member=membership.member, session=session_at(), now=NOW)
    booking_cancel(booking=booking, now=NOW)
    MemberFactory()  # an unrelated member with nothing

    with statements(1):
        rows = [
            (e.kind, e.membership.plan.name, e.booking and e.booking.session.gym_class.name)
            for e in credit_ledger(member=membership.member)
        ]

    assert [kind for kind, _, _ in rows] == [CreditEntry.Kind.REFUND, CreditEntry.Kind.SPEND, CreditEntry.Kind.PURCHASE]
    assert rows[0][2] == booking.session.gym_class.name and rows[2][2] is None


def test_session_counts_are_zero_without_bookings() -> None:
    session = ClassSessionFactory()
    row = sessions_with_counts(ClassSession.objects.filter(pk=session.pk)).get()
    assert (row.booked_count, row.waitlist_count) == (0, 0)  # type: ignore[attr-defined]
