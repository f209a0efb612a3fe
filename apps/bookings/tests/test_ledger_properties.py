"""Property test of the credit ledger and the waitlist: random sequences of book, join
the waitlist, cancel, promote, raise capacity and staff adjustments over a few members
and sessions, under either late-cancel policy. After every sequence:

- every bucket's rows chain: each `balance_after` is the previous one plus its amount,
  never negative, so the sum of a bucket's amounts equals its newest `balance_after`;
- every booking holds exactly the credits it should (spend rows minus refunds): its
  `credits_spent` when confirmed, attended, no-show or late-cancelled without refund,
  0 otherwise, and a waitlisted booking has spent nothing;
- no session has more bookings holding a spot than its capacity, its waitlist
  positions are 1..n, and a waitlist is only left waiting when the session is full.

Each example runs in a savepoint that is rolled back; the members, plans and sessions
are made once per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django_tenants.utils import tenant_context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.bookings.errors import BookingError
from apps.bookings.models import Booking, CreditEntry
from apps.bookings.services import (
    SPOT_STATUSES,
    booking_cancel,
    booking_create,
    credit_adjust,
    credits_summary,
    waitlist_promote,
)
from apps.classes.models import ClassSession
from apps.members.models import Member
from apps.memberships.models import Membership
from apps.tenants.models import Gym

from .factories import NOW, TODAY, H, ledger_consistent, member_on, monthly_plan, net_spent, pack_plan, session_at

pytestmark = pytest.mark.django_db

Status = Booking.Status
MEMBERS, SESSIONS = 6, 3


@dataclass
class World:
    members: list[Member]
    limited: list[Membership]
    sessions: list[ClassSession]


@pytest.fixture
def world(gym_a: Gym) -> Iterator[World]:
    with tenant_context(gym_a):
        monthly = member_on(monthly_plan(credits=3))
        pack_owner = member_on(pack_plan(credits=4, expiry_days=90))
        second_pack = member_on(pack_plan(credits=2, expiry_days=30), member=pack_owner.member)
        small_pack = member_on(pack_plan(credits=2))
        unlimited = member_on(monthly_plan(credits=None))
        mid_pack = member_on(pack_plan(credits=3))
        small_monthly = member_on(monthly_plan(credits=2))
        sessions = [
            session_at(NOW + 48 * H, capacity=1, credits=1),
            session_at(NOW + 48 * H + H / 2, capacity=1, credits=2),  # overlaps the first
            session_at(NOW + 6 * H, capacity=2, credits=1),  # inside the cancellation window
        ]
        yield World(
            members=[m.member for m in (monthly, pack_owner, small_pack, unlimited, mid_pack, small_monthly)],
            limited=[monthly, pack_owner, second_pack, small_pack, mid_pack, small_monthly],
            sessions=sessions,
        )


member_i = st.integers(0, MEMBERS - 1)
session_i = st.integers(0, SESSIONS - 1)
book = st.tuples(st.just("book"), member_i, session_i, st.sampled_from([True, True, False]))
# First a burst of bookings that fills the small sessions and forms waitlists, then a
# mix of everything, so cancellations meet waitlists in most examples.
operations = st.tuples(
    st.lists(st.tuples(st.just("book"), member_i, session_i, st.just(True)), min_size=4, max_size=14),
    st.lists(
        st.one_of(
            book,
            st.tuples(st.just("cancel"), st.integers(0, 50)),
            st.tuples(st.just("cancel"), st.integers(0, 50)),
            st.tuples(st.just("promote"), session_i),
            st.tuples(st.just("capacity"), session_i),
            st.tuples(st.just("adjust"), st.integers(0, 5), st.integers(-3, 3)),
        ),
        min_size=2,
        max_size=16,
    ),
).map(lambda phases: [*phases[0], *phases[1]])


def apply(world: World, op: tuple[Any, ...]) -> None:
    kind = op[0]
    try:
        if kind == "book":
            _, m, s, waitlist = op
            booking_create(member=world.members[m], session=world.sessions[s], join_waitlist=waitlist, now=NOW)
        elif kind == "cancel":  # the i-th active booking (mod how many there are)
            active = list(Booking.objects.filter(status__in=[Status.CONFIRMED, Status.WAITLISTED]).order_by("id"))
            if active:
                booking_cancel(booking=active[op[1] % len(active)], now=NOW)
        elif kind == "promote":
            waitlist_promote(session=world.sessions[op[1]], now=NOW)
        elif kind == "capacity":
            session = ClassSession.objects.select_related("gym_class").get(pk=world.sessions[op[1]].pk)
            ClassSession.objects.filter(pk=session.pk).update(capacity_override=session.capacity + 1)
            waitlist_promote(session=session, now=NOW)
        elif kind == "adjust":
            _, b, amount = op
            credit_adjust(membership=world.limited[b], amount=amount, note="property", actor=None, today=TODAY)
    except BookingError:
        pass  # a refusal must leave everything as it was: the invariants check that too


def check_invariants(world: World, *, late_refunds: bool) -> None:
    for membership in world.limited:
        assert ledger_consistent(membership), list(
            CreditEntry.objects.filter(membership=membership).values_list("kind", "amount", "balance_after")
        )
    for booking in Booking.objects.filter(member__in=world.members):
        if booking.status in SPOT_STATUSES or (booking.status == Status.LATE_CANCELLED and not late_refunds):
            expected = booking.credits_spent
        else:
            expected = 0
        if booking.status == Status.WAITLISTED:
            assert booking.credits_spent == 0
        assert net_spent(booking) == expected, (booking.status, booking.credits_spent)
    for session in ClassSession.objects.select_related("gym_class").filter(pk__in=[s.pk for s in world.sessions]):
        taken = Booking.objects.filter(session=session, status__in=SPOT_STATUSES).count()
        positions = list(
            Booking.objects.filter(session=session, status=Status.WAITLISTED)
            .order_by("waitlist_position")
            .values_list("waitlist_position", flat=True)
        )
        assert taken <= session.capacity
        assert positions == list(range(1, len(positions) + 1))
        assert not positions or taken == session.capacity
    # The summary agrees with the ledger.
    for member in world.members:
        summary = credits_summary(member=member, today=TODAY)
        for bucket in summary.buckets:
            if not bucket.unlimited:
                newest = CreditEntry.objects.filter(membership=bucket.membership).order_by("-id").first()
                assert newest is not None and bucket.balance == newest.balance_after


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, late_refunds=st.booleans())
def test_the_ledger_and_the_waitlist_stay_consistent(
    world: World, gym_a: Gym, ops: list[tuple[Any, ...]], late_refunds: bool
) -> None:
    with tenant_context(gym_a):
        gym_a.late_cancel_refunds_credit = late_refunds  # the tenant instance the services read
        try:
            with transaction.atomic():
                for op in ops:
                    apply(world, op)
                check_invariants(world, late_refunds=late_refunds)
                transaction.set_rollback(True)
        finally:
            gym_a.late_cancel_refunds_credit = False
