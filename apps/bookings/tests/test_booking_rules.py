"""`booking_create`: each rule with its error code, in order (a case that breaks two
rules gets the earlier code), and what a booking writes (ledger, notifications).
Every call passes `now` explicitly (`NOW`, Monday 2 March 2026 09:00 UTC)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from datetime import date as D

import pytest
from django_tenants.utils import tenant_context

from apps.bookings.errors import BookingError
from apps.bookings.models import Booking, CreditEntry
from apps.bookings.services import booking_create, credits_summary
from apps.classes.models import ClassSession
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.services import membership_cancel, membership_freeze
from apps.notifications.models import Notification
from apps.tenants.dispatch import gym_tzinfo
from apps.tenants.models import Gym
from apps.tenants.selectors import current_gym

from .factories import NOW, H, M, balance, ledger_consistent, member_on, monthly_plan, pack_plan, session_at

pytestmark = pytest.mark.django_db

Status = Booking.Status
Kind = CreditEntry.Kind


@pytest.fixture(autouse=True)
def in_gym(gym_a: Gym) -> Iterator[Gym]:
    with tenant_context(gym_a):
        yield gym_a


def refused(code: str, **kwargs) -> BookingError:
    kwargs.setdefault("now", NOW)
    with pytest.raises(BookingError) as caught:
        booking_create(**kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


# --- the happy paths ------------------------------------------------------------------------


def test_a_confirmed_booking_spends_a_credit_and_records_a_notification() -> None:
    membership = member_on(monthly_plan(credits=8))
    session = session_at()

    booking = booking_create(member=membership.member, session=session, now=NOW)

    assert booking.status == Status.CONFIRMED
    assert (booking.membership_id, booking.credits_spent, booking.waitlist_position) == (membership.pk, 1, None)
    assert booking.confirmed_at == NOW
    # Lazily: the March allowance (grant of 8, expiring 31 March), then the spend.
    rows = list(CreditEntry.objects.filter(membership=membership).order_by("id"))
    assert [(r.kind, r.amount, r.balance_after) for r in rows] == [(Kind.GRANT, 8, 8), (Kind.SPEND, -1, 7)]
    assert rows[0].period_start == D(2026, 3, 1) and rows[0].expires_on == D(2026, 3, 31)
    assert rows[1].booking_id == booking.pk
    note = Notification.objects.get(member=membership.member)
    assert note.kind == "booking_confirmed" and note.data["booking_id"] == booking.pk


def test_an_unlimited_plan_books_without_credits() -> None:
    membership = member_on(monthly_plan(credits=None))

    booking = booking_create(member=membership.member, session=session_at(credits=3), now=NOW)

    assert booking.status == Status.CONFIRMED and booking.credits_spent == 0
    assert not CreditEntry.objects.exists()


def test_the_desk_books_on_a_members_behalf(make_staff, gym_a: Gym) -> None:
    desk = make_staff(gym_a)
    membership = member_on(monthly_plan())

    booking = booking_create(member=membership.member, session=session_at(), actor=desk, now=NOW)

    assert booking.booked_by == desk


def test_booking_opens_exactly_at_the_window() -> None:
    membership = member_on(monthly_plan())
    session = session_at(NOW + 168 * H)

    assert booking_create(member=membership.member, session=session, now=NOW).status == Status.CONFIRMED


# --- rule 1: session_not_bookable ---------------------------------------------------------


@pytest.mark.parametrize("status", [ClassSession.Status.CANCELLED, ClassSession.Status.COMPLETED])
def test_a_session_that_is_not_scheduled_cannot_be_booked(status: str) -> None:
    membership = member_on(monthly_plan())
    refused("session_not_bookable", member=membership.member, session=session_at(status=status))


@pytest.mark.parametrize("started_ago", [datetime.timedelta(0), datetime.timedelta(minutes=5)])
def test_a_session_that_has_started_cannot_be_booked(started_ago: datetime.timedelta) -> None:
    membership = member_on(monthly_plan())
    refused("session_not_bookable", member=membership.member, session=session_at(NOW - started_ago))


def test_not_bookable_comes_before_every_other_rule() -> None:
    # Cancelled and outside the window, for a member with no membership at all.
    session = session_at(NOW + 300 * H, status=ClassSession.Status.CANCELLED)
    refused("session_not_bookable", member=MemberFactory(), session=session)


# --- rule 2: booking_window_closed ----------------------------------------------------------


def test_a_session_beyond_the_booking_window_cannot_be_booked_yet() -> None:
    membership = member_on(monthly_plan())
    refused("booking_window_closed", member=membership.member, session=session_at(NOW + 168 * H + H))


def test_the_sessions_own_window_applies() -> None:
    membership = member_on(monthly_plan())
    session = session_at(NOW + 30 * H, booking_window_hours=24)

    refused("booking_window_closed", member=membership.member, session=session)
    assert booking_create(member=membership.member, session=session, now=NOW + 6 * H).status == Status.CONFIRMED


def test_window_closed_comes_before_membership() -> None:
    refused("booking_window_closed", member=MemberFactory(), session=session_at(NOW + 200 * H))


# --- rule 3: no_valid_membership ---------------------------------------------------------


def test_a_member_without_a_membership_cannot_book() -> None:
    refused("no_valid_membership", member=MemberFactory(), session=session_at())


@pytest.mark.parametrize("status", [Membership.Status.FROZEN, Membership.Status.PAST_DUE])
def test_a_frozen_or_past_due_membership_does_not_count(status: str) -> None:
    membership = member_on(monthly_plan())
    Membership.objects.filter(pk=membership.pk).update(status=status)
    refused("no_valid_membership", member=membership.member, session=session_at())


def test_past_due_books_only_inside_the_grace_days_counting_the_failed_day() -> None:
    gym = current_gym()
    session = session_at()
    day = session.starts_at.astimezone(gym_tzinfo(gym)).date()
    membership = member_on(monthly_plan())
    Membership.objects.filter(pk=membership.pk).update(status=Membership.Status.PAST_DUE, past_due_since=day)
    Gym.objects.filter(pk=gym.pk).update(payment_grace_days=0)
    gym.refresh_from_db()
    refused("no_valid_membership", member=membership.member, session=session)
    Gym.objects.filter(pk=gym.pk).update(payment_grace_days=1)
    gym.refresh_from_db()
    assert booking_create(member=membership.member, session=session, now=NOW).status == "confirmed"


def test_cancelled_and_expired_memberships_do_not_count() -> None:
    cancelled = member_on(monthly_plan())
    membership_cancel(membership=cancelled, immediately=True, reason="Leaving", today=D(2026, 3, 2))
    expired = member_on(monthly_plan())
    Membership.objects.filter(pk=expired.pk).update(status=Membership.Status.EXPIRED)

    refused("no_valid_membership", member=cancelled.member, session=session_at())
    refused("no_valid_membership", member=expired.member, session=session_at())


def test_a_plan_not_allowed_for_the_class_cannot_book_it() -> None:
    yoga_only = monthly_plan(name="Yoga only")
    membership = member_on(monthly_plan(name="Gym floor"))

    refused("no_valid_membership", member=membership.member, session=session_at(allowed_plans=[yoga_only]))
    assert booking_create(member=member_on(yoga_only).member, session=session_at(allowed_plans=[yoga_only]), now=NOW)


def test_access_hours_are_checked_against_the_gym_local_start() -> None:
    # Off-peak: weekdays 10:00-16:00 London time (GMT in early March, so UTC here).
    off_peak = monthly_plan(access_hours=[{"weekdays": [0, 1, 2, 3, 4], "start": "10:00", "end": "16:00"}])
    membership = member_on(off_peak)
    evening = session_at(NOW + 2 * 24 * H + 9 * H)  # Wednesday 18:00
    midday = session_at(NOW + 2 * 24 * H + 3 * H)  # Wednesday 12:00
    saturday = session_at(NOW + 5 * 24 * H + 3 * H)  # Saturday 12:00

    refused("no_valid_membership", member=membership.member, session=evening)
    refused("no_valid_membership", member=membership.member, session=saturday)
    assert booking_create(member=membership.member, session=midday, now=NOW).status == Status.CONFIRMED


def test_access_hours_use_local_time_across_daylight_saving() -> None:
    # Monday 30 March 2026, London is on BST: 09:30 UTC is 10:30 local, inside 10:00-16:00.
    plan = monthly_plan(access_hours=[{"weekdays": [0], "start": "10:00", "end": "16:00"}])
    membership = member_on(plan)
    start = datetime.datetime(2026, 3, 30, 9, 30, tzinfo=datetime.UTC)

    booking = booking_create(member=membership.member, session=session_at(start), now=start - 24 * H)

    assert booking.status == Status.CONFIRMED


def test_a_membership_that_ends_before_the_class_does_not_cover_it() -> None:
    membership = member_on(pack_plan(credits=5, expiry_days=3))  # 1 to 3 March
    refused("no_valid_membership", member=membership.member, session=session_at())  # 4 March


def test_a_membership_starting_after_the_class_does_not_cover_it() -> None:
    membership = member_on(monthly_plan(), start=D(2026, 3, 5))
    refused("no_valid_membership", member=membership.member, session=session_at())


def test_a_freeze_scheduled_over_the_class_date_blocks_it() -> None:
    membership = member_on(monthly_plan())
    membership_freeze(
        membership=membership, start_date=D(2026, 3, 3), end_date=D(2026, 3, 10), reason="", today=D(2026, 3, 2)
    )
    refused("no_valid_membership", member=membership.member, session=session_at())


def test_membership_comes_before_already_booked() -> None:
    membership = member_on(monthly_plan())
    session = session_at()
    booking_create(member=membership.member, session=session, now=NOW)
    Membership.objects.filter(pk=membership.pk).update(status=Membership.Status.FROZEN)

    refused("no_valid_membership", member=membership.member, session=session)


def test_a_second_valid_membership_is_used_when_the_first_is_not_allowed() -> None:
    yoga = pack_plan(name="Yoga pack", credits=5)
    member = member_on(monthly_plan(name="Floor")).member
    pack = member_on(yoga, member=member)

    booking = booking_create(member=member, session=session_at(allowed_plans=[yoga]), now=NOW)

    assert booking.membership_id == pack.pk


# --- rule 4: already_booked / booking_conflict ------------------------------------------


def test_booking_the_same_session_twice_is_refused() -> None:
    membership = member_on(monthly_plan(credits=5))
    session = session_at()
    booking_create(member=membership.member, session=session, now=NOW)

    refused("already_booked", member=membership.member, session=session)
    assert balance(membership) == 4


def test_a_waitlisted_member_is_already_booked() -> None:
    session = session_at(capacity=1)
    booking_create(member=member_on(monthly_plan()).member, session=session, now=NOW)
    waiting = member_on(monthly_plan()).member
    booking_create(member=waiting, session=session, join_waitlist=True, now=NOW)

    refused("already_booked", member=waiting, session=session, join_waitlist=True)


def test_an_overlapping_confirmed_booking_is_a_conflict() -> None:
    membership = member_on(monthly_plan())
    first = session_at(NOW + 48 * H, minutes=60)
    overlapping = session_at(NOW + 48 * H + 30 * M)
    adjacent = session_at(NOW + 49 * H)
    booking_create(member=membership.member, session=first, now=NOW)

    refused("booking_conflict", member=membership.member, session=overlapping)
    assert booking_create(member=membership.member, session=adjacent, now=NOW).status == Status.CONFIRMED


def test_a_waitlist_place_elsewhere_is_no_conflict() -> None:
    full = session_at(NOW + 48 * H, capacity=1)
    booking_create(member=member_on(monthly_plan()).member, session=full, now=NOW)
    membership = member_on(monthly_plan())
    booking_create(member=membership.member, session=full, join_waitlist=True, now=NOW)

    same_time = session_at(NOW + 48 * H)
    assert booking_create(member=membership.member, session=same_time, now=NOW).status == Status.CONFIRMED


def test_a_cancelled_booking_does_not_block_booking_again() -> None:
    from apps.bookings.services import booking_cancel

    membership = member_on(monthly_plan(credits=3))
    session = session_at()
    booking_cancel(booking=booking_create(member=membership.member, session=session, now=NOW), now=NOW)

    again = booking_create(member=membership.member, session=session, now=NOW)

    assert again.status == Status.CONFIRMED and balance(membership) == 2


def test_conflict_comes_before_credits() -> None:
    membership = member_on(pack_plan(credits=1))
    booking_create(member=membership.member, session=session_at(NOW + 48 * H), now=NOW)  # the last credit
    refused("booking_conflict", member=membership.member, session=session_at(NOW + 48 * H))


def test_the_unique_constraint_is_reported_as_already_booked(monkeypatch) -> None:
    # If the check were bypassed (a bug, a race), the partial unique index still refuses.
    membership = member_on(monthly_plan())
    session = session_at()
    booking_create(member=membership.member, session=session, now=NOW)
    from apps.bookings.services import booking as module
    from apps.bookings.services.eligibility import session_state

    def blind(**kwargs):  # rule 4's check sees nothing
        state = session_state(**kwargs)
        return type(state)(clash=None, taken=state.taken, last_position=state.last_position)

    monkeypatch.setattr(module, "session_state", blind)

    refused("already_booked", member=membership.member, session=session)
    assert Booking.objects.filter(session=session).count() == 1


# --- rule 5: insufficient_credits -----------------------------------------------------------


def test_a_pack_with_no_credits_left_cannot_book() -> None:
    membership = member_on(pack_plan(credits=1))
    booking_create(member=membership.member, session=session_at(NOW + 24 * H), now=NOW)

    refused("insufficient_credits", member=membership.member, session=session_at())


def test_a_class_costing_more_than_the_balance_cannot_be_booked() -> None:
    membership = member_on(pack_plan(credits=2))
    refused("insufficient_credits", member=membership.member, session=session_at(credits=3))
    assert not CreditEntry.objects.filter(membership=membership).exists()  # the lazy purchase rolled back too


def test_a_monthly_allowance_runs_out_and_returns_next_period() -> None:
    membership = member_on(monthly_plan(credits=1))
    booking_create(member=membership.member, session=session_at(NOW + 24 * H), now=NOW)
    refused("insufficient_credits", member=membership.member, session=session_at())

    # In April the allowance is granted again (and March's leftover, 0, needs no expiry row).
    april = datetime.datetime(2026, 4, 2, 9, tzinfo=datetime.UTC)
    booking = booking_create(member=membership.member, session=session_at(april + 24 * H), now=april)

    assert booking.status == Status.CONFIRMED
    grants = CreditEntry.objects.filter(membership=membership, kind=Kind.GRANT).order_by("id")
    assert [(g.period_start, g.expires_on) for g in grants] == [
        (D(2026, 3, 1), D(2026, 3, 31)),
        (D(2026, 4, 1), D(2026, 4, 30)),
    ]
    assert ledger_consistent(membership)


def test_the_soonest_expiring_bucket_pays_first() -> None:
    member = member_on(pack_plan(credits=5, expiry_days=None)).member
    soon = member_on(pack_plan(credits=5, expiry_days=30), member=member)
    later = member_on(pack_plan(credits=5, expiry_days=60), member=member)

    booking = booking_create(member=member, session=session_at(), now=NOW)

    assert booking.membership_id == soon.pk
    assert [b.membership.pk for b in credits_summary(member=member, today=D(2026, 3, 2)).buckets][:2] == [
        soon.pk,
        later.pk,
    ]


def test_an_unlimited_membership_pays_before_any_pack() -> None:
    member = member_on(monthly_plan(credits=None)).member
    pack = member_on(pack_plan(credits=5), member=member)

    booking = booking_create(member=member, session=session_at(), now=NOW)

    assert booking.credits_spent == 0 and booking.membership_id != pack.pk


def test_a_bucket_without_enough_is_passed_over_for_one_with_enough() -> None:
    member = member_on(pack_plan(credits=1, expiry_days=30)).member
    bigger = member_on(pack_plan(credits=5, expiry_days=60), member=member)

    booking = booking_create(member=member, session=session_at(credits=2), now=NOW)

    assert booking.membership_id == bigger.pk and booking.credits_spent == 2 and balance(bigger) == 3


def test_credits_come_before_capacity() -> None:
    session = session_at(capacity=1)
    booking_create(member=member_on(monthly_plan()).member, session=session, now=NOW)
    broke = member_on(pack_plan(credits=1))
    booking_create(member=broke.member, session=session_at(NOW + 24 * H), now=NOW)

    refused("insufficient_credits", member=broke.member, session=session, join_waitlist=True)


# --- rule 6: capacity and the waitlist ------------------------------------------------------


def test_a_full_class_is_refused_without_the_waitlist() -> None:
    session = session_at(capacity=1)
    booking_create(member=member_on(monthly_plan()).member, session=session, now=NOW)

    refused("class_full", member=member_on(monthly_plan()).member, session=session)


def test_joining_the_waitlist_takes_the_next_position_and_spends_nothing() -> None:
    session = session_at(capacity=1)
    booking_create(member=member_on(monthly_plan(credits=5)).member, session=session, now=NOW)
    first, second = member_on(pack_plan(credits=5)), member_on(pack_plan(credits=5))

    one = booking_create(member=first.member, session=session, join_waitlist=True, now=NOW)
    two = booking_create(member=second.member, session=session, join_waitlist=True, now=NOW)

    assert (one.status, one.waitlist_position, one.credits_spent) == (Status.WAITLISTED, 1, 0)
    assert (two.status, two.waitlist_position) == (Status.WAITLISTED, 2)
    assert not CreditEntry.objects.filter(kind=Kind.SPEND, membership__in=[first, second]).exists()
    assert balance(first) == 5  # the pack was opened (purchase row), nothing taken
    note = Notification.objects.get(member=first.member)
    assert note.kind == "waitlist_joined" and note.data["waitlist_position"] == 1


def test_attended_and_no_show_bookings_take_spots() -> None:
    session = session_at(capacity=2)
    a = booking_create(member=member_on(monthly_plan()).member, session=session, now=NOW)
    b = booking_create(member=member_on(monthly_plan()).member, session=session, now=NOW)
    Booking.objects.filter(pk=a.pk).update(status=Status.ATTENDED)
    Booking.objects.filter(pk=b.pk).update(status=Status.NO_SHOW)

    refused("class_full", member=member_on(monthly_plan()).member, session=session)


def test_the_capacity_override_applies() -> None:
    session = session_at(capacity=10, capacity_override=1)
    booking_create(member=member_on(monthly_plan()).member, session=session, now=NOW)

    refused("class_full", member=member_on(monthly_plan()).member, session=session)


def test_a_refused_booking_writes_nothing() -> None:
    session = session_at(capacity=1)
    booking_create(member=member_on(monthly_plan()).member, session=session, now=NOW)
    membership = member_on(pack_plan(credits=3))
    before = (Booking.objects.count(), CreditEntry.objects.count(), Notification.objects.count())

    refused("class_full", member=membership.member, session=session)

    assert (Booking.objects.count(), CreditEntry.objects.count(), Notification.objects.count()) == before
