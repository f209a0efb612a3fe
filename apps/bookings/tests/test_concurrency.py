"""The booking rules under real concurrency: threads, each on its own PostgreSQL
connection, in a gym provisioned for the test and dropped afterwards (the rows must be
committed for other connections to see them; see apps/memberships/tests/test_concurrency.py).

- 50 members race for 10 spots: exactly 10 confirmed, 40 waitlisted at 1..40 in the
  order their transactions committed.
- One member double-clicks 10 times: one booking, one credit spent.
- Cancellations, promotions and new bookings race on one full session: capacity is
  never exceeded (a watcher samples it throughout), the waitlist moves in FIFO order,
  and the ledger shows no credit lost or spent twice.
- One member books two overlapping sessions at once: one booking, one conflict.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date as D
from typing import Any, TypeVar

import pytest
from django.db import OperationalError, connections
from django_tenants.utils import tenant_context

from apps.bookings.errors import BookingError
from apps.bookings.models import Booking, CreditEntry
from apps.bookings.services import SPOT_STATUSES, booking_cancel, booking_create, waitlist_promote
from apps.classes.models import ClassSession
from apps.memberships.models import Membership
from apps.tenants.models import Gym
from apps.tenants.services import gym_provision

from .factories import NOW, H, ledger_consistent, member_on, net_spent, pack_plan, session_at

pytestmark = pytest.mark.django_db

Status = Booking.Status
T = TypeVar("T")


def run_in_threads(works: list[Callable[[], Any]], *, timeout: float = 90) -> list[dict[str, Any]]:
    """Run each of `works` in a thread of its own (its own connection), all released
    at once by a barrier; returns one outcome per work: {"value": ...} or {"error": ...}."""
    outcomes: list[dict[str, Any]] = [{} for _ in works]
    barrier = threading.Barrier(len(works))

    def run(i: int) -> None:
        try:
            barrier.wait(30)
            outcomes[i]["value"] = with_connection_retry(works[i])
        except BaseException as exc:
            outcomes[i]["error"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a racing thread hung"
    return outcomes


def with_connection_retry(work: Callable[[], T]) -> T:
    """`work()`, retried while PostgreSQL has no connection slot left (other test runs
    may share the server); any other error is raised."""
    for attempt in range(20):
        try:
            return work()
        except OperationalError as exc:
            if "too many clients" not in str(exc) and "remaining connection slots" not in str(exc):
                raise
            connections.close_all()
            time.sleep(0.1 + random.random() * 0.2 * attempt)
    return work()


def committed(work: Callable[[], T]) -> T:
    """Run `work` on a connection of its own, committed as it goes; return its result."""
    [outcome] = run_in_threads([work])
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def provision_with_retry(**fields: Any) -> Gym:
    """`gym_provision`, retried when PostgreSQL picks it as a deadlock victim (another
    test run provisioning at the same moment)."""
    for attempt in range(3):
        try:
            return gym_provision(**fields)
        except OperationalError as exc:
            if "deadlock" not in str(exc) or attempt == 2:
                raise
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


@pytest.fixture
def race_gym() -> Iterator[Gym]:
    gym = committed(
        lambda: provision_with_retry(
            name="Booking Race", slug=f"race-{uuid.uuid4().hex[:8]}", status="active", timezone="Europe/London"
        )
    )
    try:
        yield gym
    finally:
        committed(lambda: gym.delete(force_drop=True))


@dataclass
class Setup:
    session: ClassSession
    memberships: list[Membership]


def arrange(gym: Gym, *, members: int, capacity: int, credits: int = 5) -> Setup:
    """`members` members, each on a pack of `credits`, and one session of `capacity`
    two days after NOW, committed."""

    def work() -> Setup:
        with tenant_context(gym):
            plan = pack_plan(credits=credits)
            return Setup(
                session=session_at(NOW + 48 * H, capacity=capacity),
                memberships=[member_on(plan, start=D(2026, 3, 1)) for _ in range(members)],
            )

    return committed(work)


def in_gym(gym: Gym, work: Callable[[], T]) -> Callable[[], T]:
    def run() -> T:
        with tenant_context(gym):
            return work()

    return run


def errors_of(outcomes: list[dict[str, Any]]) -> list[str]:
    """The BookingError codes among the outcomes; any other error fails the test."""
    codes = []
    for outcome in outcomes:
        error = outcome.get("error")
        if error is None:
            continue
        if not isinstance(error, BookingError):
            raise error
        codes.append(error.code)
    return codes


def test_fifty_members_race_for_ten_spots(race_gym: Gym) -> None:
    setup = arrange(race_gym, members=50, capacity=10)
    session = setup.session

    outcomes = run_in_threads(
        [
            in_gym(race_gym, lambda m=m: booking_create(member=m.member, session=session, join_waitlist=True, now=NOW))
            for m in setup.memberships
        ]
    )

    assert errors_of(outcomes) == []

    def observe() -> tuple[list[int], list[tuple[int, int | None]], list[bool], list[tuple[int | None, int]]]:
        with tenant_context(race_gym):
            rows = list(Booking.objects.filter(session=session).order_by("id"))
            return (
                [b.pk for b in rows if b.status == Status.CONFIRMED],
                [(b.pk, b.waitlist_position) for b in rows if b.status == Status.WAITLISTED],
                [ledger_consistent(m) for m in setup.memberships],
                list(CreditEntry.objects.filter(kind=CreditEntry.Kind.SPEND).values_list("booking_id", "amount")),
            )

    # (Ids and numbers only: a model instance from the race gym must not be touched here,
    # on the test's own connection, where its schema is not on the search path.)
    confirmed, waitlisted, consistent, spends = committed(observe)
    assert len(confirmed) == 10 and len(waitlisted) == 40
    # Ids come from the sequence inside the session lock, so id order is commit order:
    # the first 10 to commit got the spots, the rest queued in the order they committed.
    assert max(confirmed) < min(pk for pk, _ in waitlisted)
    assert [position for _, position in waitlisted] == list(range(1, 41))
    assert all(consistent)
    assert sorted(spends) == sorted((pk, -1) for pk in confirmed)


def test_a_double_click_books_once(race_gym: Gym) -> None:
    setup = arrange(race_gym, members=1, capacity=10)
    [membership] = setup.memberships

    outcomes = run_in_threads(
        [
            in_gym(race_gym, lambda: booking_create(member=membership.member, session=setup.session, now=NOW))
            for _ in range(10)
        ]
    )

    assert sorted(errors_of(outcomes)) == ["already_booked"] * 9

    def observe() -> tuple[int, list[tuple[str, int, int]], bool]:
        with tenant_context(race_gym):
            return (
                Booking.objects.filter(session=setup.session).count(),
                list(
                    CreditEntry.objects.filter(membership=membership)
                    .order_by("id")
                    .values_list("kind", "amount", "balance_after")
                ),
                ledger_consistent(membership),
            )

    count, rows, consistent = committed(observe)
    assert count == 1
    assert rows == [("purchase", 5, 5), ("spend", -1, 4)]
    assert consistent


def test_cancel_and_promote_race_without_exceeding_capacity_or_losing_credits(race_gym: Gym) -> None:
    # 5 spots taken, 10 waiting; 5 newcomers join while the 5 cancel and promotions run.
    setup = arrange(race_gym, members=20, capacity=5, credits=3)
    session = setup.session
    holders, waiting, newcomers = setup.memberships[:5], setup.memberships[5:15], setup.memberships[15:]

    def book_all(group: list[Membership]) -> list[Booking]:
        with tenant_context(race_gym):
            return [booking_create(member=m.member, session=session, join_waitlist=True, now=NOW) for m in group]

    held = committed(lambda: book_all(holders))
    committed(lambda: book_all(waiting))

    over_capacity: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        with tenant_context(race_gym):
            while not stop.is_set():
                taken = Booking.objects.filter(session=session, status__in=SPOT_STATUSES).count()
                if taken > 5:
                    over_capacity.append(taken)
        connections.close_all()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        works: list[Callable[[], Any]] = []
        for b in held:
            works.append(in_gym(race_gym, lambda b=b: booking_cancel(booking=b, reason="race", now=NOW)))
        for _ in range(5):
            works.append(in_gym(race_gym, lambda: waitlist_promote(session=session, now=NOW)))
        for m in newcomers:
            works.append(
                in_gym(
                    race_gym,
                    lambda m=m: booking_create(member=m.member, session=session, join_waitlist=True, now=NOW),
                )
            )
        random.shuffle(works)
        outcomes = run_in_threads(works)
    finally:
        stop.set()
        watcher.join(10)

    assert errors_of(outcomes) == []
    assert over_capacity == []

    def observe() -> dict[str, Any]:
        with tenant_context(race_gym):
            bookings = {b.membership_id: b for b in Booking.objects.filter(session=session)}
            return {
                "status": {m.pk: bookings[m.pk].status for m in setup.memberships},
                "position": {m.pk: bookings[m.pk].waitlist_position for m in setup.memberships},
                "net_spent": {m.pk: net_spent(bookings[m.pk]) for m in setup.memberships},
                "balance": {
                    m.pk: CreditEntry.objects.filter(membership=m)
                    .order_by("-id")
                    .values_list("balance_after", flat=True)[0]
                    for m in setup.memberships
                },
                "consistent": all(ledger_consistent(m) for m in setup.memberships),
                "spends": CreditEntry.objects.filter(kind=CreditEntry.Kind.SPEND).count(),
            }

    seen = committed(observe)
    # The holders cancelled in time: refunded in full.
    for m in holders:
        assert (seen["status"][m.pk], seen["net_spent"][m.pk], seen["balance"][m.pk]) == (Status.CANCELLED, 0, 3)
    # The first five waiting were promoted, in FIFO order, and paid once each.
    for m in waiting[:5]:
        assert (seen["status"][m.pk], seen["net_spent"][m.pk], seen["balance"][m.pk]) == (Status.CONFIRMED, 1, 2)
    # The rest of the queue, then the newcomers in the order they committed: 1..10.
    queue = sorted((seen["position"][m.pk], m.pk) for m in [*waiting[5:], *newcomers])
    assert [p for p, _ in queue] == list(range(1, 11))
    assert [pk for _, pk in queue][:5] == [m.pk for m in waiting[5:]]
    for m in [*waiting[5:], *newcomers]:
        assert (seen["status"][m.pk], seen["net_spent"][m.pk], seen["balance"][m.pk]) == (Status.WAITLISTED, 0, 3)
    assert seen["consistent"]
    assert seen["spends"] == 10  # 5 first bookings + 5 promotions, nothing twice


def test_one_member_booking_two_overlapping_sessions_at_once_gets_one(race_gym: Gym) -> None:
    setup = arrange(race_gym, members=1, capacity=10)
    [membership] = setup.memberships
    other = committed(in_gym(race_gym, lambda: session_at(NOW + 48 * H + H / 2)))

    outcomes = run_in_threads(
        [
            in_gym(race_gym, lambda s=s: booking_create(member=membership.member, session=s, now=NOW))
            for s in (setup.session, other)
        ]
    )

    assert errors_of(outcomes) == ["booking_conflict"]

    def observe() -> tuple[int, int]:
        with tenant_context(race_gym):
            return (
                Booking.objects.filter(member=membership.member, status=Status.CONFIRMED).count(),
                CreditEntry.objects.filter(membership=membership).order_by("-id")[0].balance_after,
            )

    assert committed(observe) == (1, 4)
