"""Cancelling (in time, late, both late-cancel policies), the waitlist (FIFO promotion,
skips with reasons, promotion stops at the start), attendance, the gym cancelling a
session, and the no-show sweep."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest
from django_tenants.utils import tenant_context

from apps.bookings.errors import BookingError
from apps.bookings.models import Booking, CreditEntry, WaitlistSkip
from apps.bookings.services import (
    booking_cancel,
    booking_create,
    booking_mark_attendance,
    bookings_mark_no_shows,
    session_bookings_cancel,
    waitlist_promote,
)
from apps.classes.models import ClassSession
from apps.memberships.models import Membership
from apps.notifications.models import Notification
from apps.tenants.models import Gym

from .factories import NOW, H, M, balance, ledger_consistent, member_on, monthly_plan, net_spent, pack_plan, session_at

pytestmark = pytest.mark.django_db

Status = Booking.Status
Kind = CreditEntry.Kind
START = NOW + 48 * H  # the default session: Wednesday 4 March 09:00 UTC, cancellation window 12 h


@pytest.fixture(autouse=True)
def in_gym(gym_a: Gym) -> Iterator[Gym]:
    with tenant_context(gym_a):
        yield gym_a


def fresh(booking: Booking) -> Booking:
    return Booking.objects.get(pk=booking.pk)


def book(session: ClassSession, credits: int = 5, **kwargs) -> Booking:
    membership = member_on(pack_plan(credits=credits))
    return booking_create(member=membership.member, session=session, now=kwargs.pop("now", NOW), **kwargs)


# --- cancellation ------------------------------------------------------------------------------


def test_cancelling_in_time_refunds_the_credit() -> None:
    booking = book(session_at(START))

    cancelled = booking_cancel(booking=booking, reason="Changed plans", now=START - 12 * H)  # exactly at the window

    assert (cancelled.status, cancelled.cancel_reason, cancelled.cancelled_at) == (
        Status.CANCELLED,
        "Changed plans",
        START - 12 * H,
    )
    assert balance(booking.membership) == 5 and net_spent(booking) == 0
    refund = CreditEntry.objects.get(booking=booking, kind=Kind.REFUND)
    assert (refund.amount, refund.balance_after) == (1, 5)
    assert ledger_consistent(booking.membership)


def test_cancelling_inside_the_window_is_a_late_cancel_without_refund(gym_a: Gym) -> None:
    assert gym_a.late_cancel_refunds_credit is False
    booking = book(session_at(START))

    cancelled = booking_cancel(booking=booking, now=START - 11 * H)

    assert cancelled.status == Status.LATE_CANCELLED
    assert balance(booking.membership) == 4 and net_spent(booking) == 1
    assert not CreditEntry.objects.filter(kind=Kind.REFUND).exists()


def test_a_gym_that_refunds_late_cancels_refunds_them(gym_a: Gym) -> None:
    gym_a.late_cancel_refunds_credit = True
    gym_a.save(update_fields=["late_cancel_refunds_credit"])
    booking = book(session_at(START))

    cancelled = booking_cancel(booking=booking, now=START - H)

    assert cancelled.status == Status.LATE_CANCELLED  # still late: the status says when
    assert balance(booking.membership) == 5 and net_spent(booking) == 0


def test_the_sessions_own_cancellation_window_applies() -> None:
    booking = book(session_at(START, cancellation_window_hours=2))
    assert booking_cancel(booking=booking, now=START - 3 * H).status == Status.CANCELLED


def test_cancelling_an_unlimited_booking_refunds_nothing() -> None:
    membership = member_on(monthly_plan(credits=None))
    booking = booking_create(member=membership.member, session=session_at(START), now=NOW)

    assert booking_cancel(booking=booking, now=NOW).status == Status.CANCELLED
    assert not CreditEntry.objects.exists()


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.LATE_CANCELLED, Status.ATTENDED, Status.NO_SHOW])
def test_a_finished_booking_cannot_be_cancelled(status: str) -> None:
    booking = book(session_at(START))
    Booking.objects.filter(pk=booking.pk).update(status=status)

    with pytest.raises(BookingError) as caught:
        booking_cancel(booking=booking, now=NOW)

    assert caught.value.code == "booking_not_cancellable"


def test_a_confirmed_booking_cannot_be_cancelled_once_the_class_started() -> None:
    booking = book(session_at(START))
    with pytest.raises(BookingError) as caught:
        booking_cancel(booking=booking, now=START)
    assert caught.value.code == "booking_not_cancellable"
    assert fresh(booking).status == Status.CONFIRMED


def test_cancelling_a_waitlisted_booking_closes_up_the_positions() -> None:
    session = session_at(START, capacity=1)
    book(session)
    first, second, third = (book(session, join_waitlist=True) for _ in range(3))

    cancelled = booking_cancel(booking=second, now=NOW)

    assert (cancelled.status, cancelled.waitlist_position) == (Status.CANCELLED, None)
    assert (fresh(first).waitlist_position, fresh(third).waitlist_position) == (1, 2)
    assert not CreditEntry.objects.filter(kind__in=[Kind.SPEND, Kind.REFUND], booking=second).exists()


# --- the waitlist --------------------------------------------------------------------------------


def test_a_freed_spot_goes_to_the_first_on_the_waitlist() -> None:
    session = session_at(START, capacity=1)
    confirmed = book(session)
    first, second = book(session, join_waitlist=True), book(session, join_waitlist=True)
    assert balance(first.membership) == 5

    booking_cancel(booking=confirmed, now=NOW)

    promoted = fresh(first)
    assert (promoted.status, promoted.waitlist_position, promoted.credits_spent) == (Status.CONFIRMED, None, 1)
    assert promoted.confirmed_at == NOW
    assert balance(first.membership) == 4  # charged at promotion
    assert fresh(second).waitlist_position == 1
    assert Notification.objects.filter(kind="waitlist_promoted", member=first.member).exists()


def test_promotion_skips_and_removes_members_who_are_no_longer_eligible() -> None:
    session = session_at(START, capacity=1)
    confirmed = book(session)
    broke = book(session, credits=1, join_waitlist=True)
    frozen = book(session, join_waitlist=True)
    busy = book(session, join_waitlist=True)
    eligible = book(session, join_waitlist=True)
    last = book(session, join_waitlist=True)
    # broke spends its only credit elsewhere; frozen's membership is frozen; busy books a clash.
    booking_create(member=broke.member, session=session_at(NOW + 24 * H), now=NOW)
    Membership.objects.filter(pk=frozen.membership_id).update(status=Membership.Status.FROZEN)
    booking_create(member=busy.member, session=session_at(START + 30 * M), now=NOW)

    booking_cancel(booking=confirmed, now=NOW)

    assert fresh(eligible).status == Status.CONFIRMED
    skips = {s.booking_id: (s.code, s.reason) for s in WaitlistSkip.objects.all()}
    assert skips[broke.pk][0] == "insufficient_credits"
    assert skips[frozen.pk] == ("no_valid_membership", "The member has no active membership.")
    assert skips[busy.pk][0] == "booking_conflict"
    for skipped in (broke, frozen, busy):
        row = fresh(skipped)
        assert (row.status, row.waitlist_position) == (Status.CANCELLED, None)
        assert row.cancel_reason.startswith("Removed from the waitlist: ")
        assert Notification.objects.filter(kind="waitlist_removed", member=skipped.member).exists()
    assert (fresh(last).status, fresh(last).waitlist_position) == (Status.WAITLISTED, 1)


def test_raising_capacity_promotes_several_in_order() -> None:
    session = session_at(START, capacity=1)
    book(session)
    waiting = [book(session, join_waitlist=True) for _ in range(4)]
    ClassSession.objects.filter(pk=session.pk).update(capacity_override=3)

    promoted = waitlist_promote(session=session, now=NOW)

    assert [b.pk for b in promoted] == [waiting[0].pk, waiting[1].pk]
    assert [fresh(b).waitlist_position for b in waiting[2:]] == [1, 2]


def test_promotion_stops_when_the_session_starts() -> None:
    session = session_at(START, capacity=1)
    book(session)
    waiting = book(session, join_waitlist=True)
    ClassSession.objects.filter(pk=session.pk).update(capacity_override=2)

    assert waitlist_promote(session=session, now=START) == []
    assert fresh(waiting).status == Status.WAITLISTED
    assert waitlist_promote(session=session, now=START - 60 * datetime.timedelta(seconds=1)) != []


def test_a_late_cancel_promotes_too() -> None:
    session = session_at(START, capacity=1)
    confirmed = book(session)
    waiting = book(session, join_waitlist=True)

    booking_cancel(booking=confirmed, now=START - H)

    assert fresh(waiting).status == Status.CONFIRMED
    assert balance(confirmed.membership) == 4  # no refund; the spot was still reused


def test_promote_with_nothing_to_do_changes_nothing() -> None:
    session = session_at(START, capacity=2)
    book(session)
    assert waitlist_promote(session=session, now=NOW) == []


# --- attendance ----------------------------------------------------------------------------------


def test_attendance_opens_thirty_minutes_before_the_start(make_staff, gym_a: Gym) -> None:
    trainer = make_staff(gym_a)
    booking = book(session_at(START))

    with pytest.raises(BookingError) as caught:
        booking_mark_attendance(booking=booking, attended=True, actor=trainer, now=START - 31 * M)
    assert caught.value.code == "attendance_not_allowed"

    marked = booking_mark_attendance(booking=booking, attended=True, actor=trainer, now=START - 30 * M)
    assert marked.status == Status.ATTENDED


def test_attendance_can_be_corrected() -> None:
    booking = book(session_at(START))
    booking_mark_attendance(booking=booking, attended=False, now=START + H)
    corrected = booking_mark_attendance(booking=booking, attended=True, now=START + 2 * H)

    assert corrected.status == Status.ATTENDED and corrected.attendance_marked_at == START + 2 * H
    assert balance(booking.membership) == 4  # credits never move with attendance


@pytest.mark.parametrize("status", [Status.WAITLISTED, Status.CANCELLED, Status.LATE_CANCELLED])
def test_attendance_needs_a_booking_that_holds_a_spot(status: str) -> None:
    booking = book(session_at(START))
    Booking.objects.filter(pk=booking.pk).update(status=status)
    with pytest.raises(BookingError) as caught:
        booking_mark_attendance(booking=booking, attended=True, now=START)
    assert caught.value.code == "attendance_not_allowed"


def test_attendance_in_a_cancelled_session_is_refused() -> None:
    booking = book(session_at(START))
    ClassSession.objects.filter(pk=booking.session_id).update(status=ClassSession.Status.CANCELLED)
    with pytest.raises(BookingError) as caught:
        booking_mark_attendance(booking=booking, attended=True, now=START)
    assert caught.value.code == "attendance_not_allowed"


# --- the gym cancels a session ------------------------------------------------------------------


def test_cancelling_a_session_cancels_and_refunds_every_booking(make_staff, gym_a: Gym) -> None:
    owner = make_staff(gym_a)
    session = session_at(START, capacity=2)
    confirmed = [book(session), book(session)]
    waiting = book(session, join_waitlist=True)
    elsewhere = book(session_at(START + 24 * H))

    count = session_bookings_cancel(session=session, reason="Instructor ill", actor=owner, now=NOW)

    assert count == 3
    for b in [*confirmed, waiting]:
        row = fresh(b)
        assert (row.status, row.cancel_reason, row.waitlist_position) == (Status.CANCELLED, "Instructor ill", None)
        assert Notification.objects.filter(kind="session_cancelled", member=b.member).exists()
    for b in confirmed:
        assert balance(b.membership) == 5 and net_spent(b) == 0
        assert CreditEntry.objects.get(booking=b, kind=Kind.REFUND).actor == owner
    assert fresh(elsewhere).status == Status.CONFIRMED
    assert session_bookings_cancel(session=session, reason="again") == 0


def test_a_session_cancelled_inside_the_window_still_refunds() -> None:
    session = session_at(NOW + H)  # well inside the 12-hour window
    booking = book(session)

    session_bookings_cancel(session=session, reason="Power cut", now=NOW)

    assert balance(booking.membership) == 5


# --- the no-show sweep --------------------------------------------------------------------------


def test_the_sweep_marks_no_shows_after_the_class_and_completes_it() -> None:
    session = session_at(START, capacity=2)
    came, missed = book(session), book(session)
    waiting = book(session, join_waitlist=True)
    later = session_at(START + 24 * H)
    upcoming = book(later)
    booking_mark_attendance(booking=came, attended=True, now=START)
    after = session.ends_at

    assert bookings_mark_no_shows(now=after - datetime.timedelta(seconds=1)) == 0
    assert bookings_mark_no_shows(now=after) == 1

    assert fresh(came).status == Status.ATTENDED
    assert fresh(missed).status == Status.NO_SHOW and fresh(missed).attendance_marked_at is None
    assert (fresh(waiting).status, fresh(waiting).waitlist_position) == (Status.CANCELLED, None)
    assert ClassSession.objects.get(pk=session.pk).status == ClassSession.Status.COMPLETED
    assert fresh(upcoming).status == Status.CONFIRMED
    assert balance(missed.membership) == 4  # a no-show's credit stays spent
    assert bookings_mark_no_shows(now=after + H) == 0  # idempotent


def test_the_sweep_leaves_cancelled_sessions_alone() -> None:
    session = session_at(START)
    ClassSession.objects.filter(pk=session.pk).update(status=ClassSession.Status.CANCELLED)
    assert bookings_mark_no_shows(now=START + 5 * H) == 0
    assert ClassSession.objects.get(pk=session.pk).status == ClassSession.Status.CANCELLED


def test_a_no_show_can_still_be_corrected_after_the_sweep() -> None:
    booking = book(session_at(START))
    bookings_mark_no_shows(now=START + 2 * H)

    assert booking_mark_attendance(booking=booking, attended=True, now=START + 3 * H).status == Status.ATTENDED
