"""`booking_create`'s hand-written hot path (`services/_hot.py`): what it reads in its
one locking batch and writes in its one INSERT statement matches what the ORM version
did, and its lock order (session, then memberships) does not deadlock against
cancellations and promotions.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from datetime import date as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.bookings.errors import BookingError
from apps.bookings.models import Booking, CreditEntry
from apps.bookings.services import SPOT_STATUSES, booking_cancel, booking_create
from apps.classes.models import ClassSession
from apps.memberships.models import Freeze
from apps.notifications.models import Notification
from apps.tenants.models import Gym

from .factories import NOW, H, ledger_consistent, member_on, monthly_plan, net_spent, pack_plan, session_at
from .test_concurrency import arrange, committed, errors_of, in_gym, race_gym, run_in_threads

pytestmark = pytest.mark.django_db

Status = Booking.Status

__all__ = ["race_gym"]  # the fixture, imported for the race below


@pytest.fixture
def inside_gym_a(gym_a: Gym) -> Iterator[Gym]:
    with tenant_context(gym_a):
        yield gym_a


@pytest.mark.usefixtures("inside_gym_a")
def test_the_booking_and_its_notification_are_written_as_notify_would() -> None:
    session = session_at(capacity=1)
    first, second = member_on(monthly_plan()), member_on(monthly_plan())

    confirmed = booking_create(member=first.member, session=session, now=NOW)
    waitlisted = booking_create(member=second.member, session=session, join_waitlist=True, now=NOW)

    assert (confirmed.status, confirmed.confirmed_at, confirmed.membership) == (Status.CONFIRMED, NOW, first)
    assert (waitlisted.status, waitlisted.waitlist_position, waitlisted.confirmed_at) == (Status.WAITLISTED, 1, None)
    for booking in (confirmed, waitlisted):
        stored = Booking.objects.get(pk=booking.pk)
        assert stored.created_at == booking.created_at and stored.status == booking.status
        assert booking.session.pk == session.pk and booking.session.gym_class.name == session.gym_class.name
    common = {
        "session_id": session.pk,
        "class_name": session.gym_class.name,
        "starts_at": session.starts_at.isoformat(),
    }
    n1 = Notification.objects.get(idempotency_key=f"booking_confirmed:booking:{confirmed.pk}")
    assert (n1.member_id, n1.kind, n1.data) == (
        first.member_id,
        "booking_confirmed",
        {"booking_id": confirmed.pk, **common},
    )
    n2 = Notification.objects.get(idempotency_key=f"waitlist_joined:booking:{waitlisted.pk}")
    assert (n2.member_id, n2.kind) == (second.member_id, "waitlist_joined")
    assert n2.data == {"booking_id": waitlisted.pk, **common, "waitlist_position": 1}


@pytest.mark.usefixtures("inside_gym_a")
def test_an_unlimited_booking_takes_two_statements_inside_the_transaction() -> None:
    membership = member_on(monthly_plan())
    session = session_at()
    with CaptureQueriesContext(connection) as queries:
        booking_create(member=membership.member, session=session, now=NOW)
    sql = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SET search_path")]
    # BEGIN/SAVEPOINT and COMMIT/RELEASE aside: the locking batch and the INSERT.
    work = [s for s in sql if not s.startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))]
    assert len(work) == 2, work
    assert "FOR UPDATE OF s" in work[0] and "FOR UPDATE OF m" in work[0]
    assert work[0].index("FOR UPDATE OF s") < work[0].index("FOR UPDATE OF m")  # the package's lock order


@pytest.mark.usefixtures("inside_gym_a")
def test_a_pack_booking_still_spends_from_the_ledger() -> None:
    membership = member_on(pack_plan(credits=2))
    booking = booking_create(member=membership.member, session=session_at(), now=NOW)
    assert booking.credits_spent == 1 and net_spent(booking) == 1
    assert CreditEntry.objects.filter(booking=booking, kind=CreditEntry.Kind.SPEND).count() == 1
    assert ledger_consistent(membership)


@pytest.mark.usefixtures("inside_gym_a")
def test_a_stale_copy_of_a_moved_session_still_sees_the_freeze_on_its_new_date() -> None:
    # The freeze is read in the locking batch for the date of the caller's copy; when
    # the locked row says another date, the freezes are read again for that one.
    membership = member_on(monthly_plan())
    session = session_at(NOW + 24 * H)
    stale = ClassSession.objects.get(pk=session.pk)
    moved = NOW + 72 * H
    ClassSession.objects.filter(pk=session.pk).update(starts_at=moved, ends_at=moved + H)
    Freeze.objects.create(membership=membership, start_date=D(2026, 3, 5), end_date=D(2026, 3, 6))

    with pytest.raises(BookingError) as caught:
        booking_create(member=membership.member, session=stale, now=NOW)

    assert caught.value.code == "no_valid_membership"
    assert "frozen" in str(caught.value)
    assert not Booking.objects.filter(session=session).exists()


@pytest.mark.usefixtures("inside_gym_a")
def test_a_session_id_not_in_this_gym_is_not_found() -> None:
    membership = member_on(monthly_plan())
    ghost = session_at()
    ghost.pk = 987654
    with pytest.raises(BookingError) as caught:
        booking_create(member=membership.member, session=ghost, now=NOW)
    assert caught.value.code == "session_not_found"


def test_bookings_cancellations_and_waitlisted_repeat_clicks_race_without_deadlock(race_gym: Gym) -> None:
    """Bookings take the session lock, then the member's memberships; cancellations take
    the session lock, then the waitlisted members' memberships. Waitlisted members
    clicking "book" again (already booked) while cancellations promote them is where a
    memberships-first order would deadlock. Everything must end in a result or a
    `BookingError`, never a deadlock, with capacity and the ledgers intact."""
    setup = arrange(race_gym, members=24, capacity=6)
    session = setup.session
    first = setup.memberships[:12]
    committed(
        in_gym(
            race_gym,
            lambda: [booking_create(member=m.member, session=session, join_waitlist=True, now=NOW) for m in first],
        )
    )

    def booking_ids() -> list[int]:
        with tenant_context(race_gym):
            return list(
                Booking.objects.filter(session=session, status=Status.CONFIRMED)
                .order_by("id")
                .values_list("pk", flat=True)
            )

    confirmed_ids = committed(booking_ids)

    def cancel(pk: int) -> Booking:
        return booking_cancel(booking=Booking.objects.get(pk=pk), now=NOW)

    works = [in_gym(race_gym, lambda pk=pk: cancel(pk)) for pk in confirmed_ids[:4]]
    works += [
        in_gym(race_gym, lambda m=m: booking_create(member=m.member, session=session, join_waitlist=True, now=NOW))
        for m in setup.memberships[6:]  # 6 waitlisted repeat clicks, 12 newcomers
    ]
    outcomes = run_in_threads(works)

    codes = errors_of(outcomes)  # re-raises anything that is not a BookingError (a deadlock would be)
    assert set(codes) <= {"already_booked"}

    def observe() -> tuple[int, list[int | None], list[bool], int]:
        with tenant_context(race_gym):
            rows = list(Booking.objects.filter(session=session))
            spent = sum(net_spent(b) for b in rows)
            return (
                sum(1 for b in rows if b.status in SPOT_STATUSES),
                sorted(b.waitlist_position for b in rows if b.status == Status.WAITLISTED),
                [ledger_consistent(m) for m in setup.memberships],
                spent - sum(1 for b in rows if b.status in SPOT_STATUSES),
            )

    taken, positions, consistent, spent_beyond_spots = committed(observe)
    assert taken == 6
    assert positions == list(range(1, len(positions) + 1))
    assert all(consistent)
    assert spent_beyond_spots == 0  # every held spot paid once; every cancelled one refunded


def test_the_hot_path_dates_freezes_in_the_gym_timezone(inside_gym_a: Gym) -> None:
    # 23:30 UTC on 4 March is 00:30 on 5 March in a UTC+1 gym: a freeze from 5 March applies.
    gym = inside_gym_a
    original = gym.timezone
    gym.timezone = "Europe/Paris"
    try:
        membership = member_on(monthly_plan())
        starts = datetime.datetime(2026, 3, 4, 23, 30, tzinfo=datetime.UTC)
        session = session_at(starts)
        Freeze.objects.create(membership=membership, start_date=D(2026, 3, 5), end_date=D(2026, 3, 6))
        with pytest.raises(BookingError) as caught:
            booking_create(member=membership.member, session=session, now=NOW)
        assert caught.value.code == "no_valid_membership"
    finally:
        gym.timezone = original
