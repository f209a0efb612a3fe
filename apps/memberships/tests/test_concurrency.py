"""Two staff members changing one membership at the same time: the row lock
(`SELECT ... FOR UPDATE`) makes the second wait and then see the first's change.

Each change runs in a thread of its own, so on its own connection, and the rows must
be committed: every read and write goes through a thread (`committed()` for setup and
checks), in a gym provisioned for the test and dropped afterwards. The test's own
rolled-back transaction never touches those rows. The `django_db` mark stays so that
pytest-django always points the connections at the test database.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date as D
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from django.db import OperationalError, connection, connections, transaction
from django_tenants.utils import tenant_context

from apps.members.models import Member
from apps.memberships.errors import MembershipError
from apps.memberships.models import Freeze, Membership
from apps.memberships.services import membership_assign, membership_cancel, membership_freeze
from apps.plans.services import plan_create
from apps.tenants.models import Gym
from apps.tenants.services import gym_provision

pytestmark = pytest.mark.django_db

TODAY = D(2026, 3, 5)
T = TypeVar("T")


def in_thread(work: Callable[[], Any], outcome: dict[str, Any]) -> threading.Thread:
    """Start `work` in a new thread (its own connection); its result or
    `MembershipError`/other exception lands in `outcome`."""

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def retry_on_deadlock(work: Callable[[], T]) -> T:
    """`work()`, retried (3 tries) when PostgreSQL picks it as a deadlock victim.
    Provisioning: copying the template adds foreign keys to public tables, and another
    test run provisioning a gym at the same moment can take the same locks in the other
    order. Dropping the gym: the session's Celery worker may still be sending the sale
    invoice's notification in that schema, holding row locks the DROP waits for."""
    for attempt in range(3):
        try:
            return work()
        except OperationalError as exc:
            if "deadlock" not in str(exc) or attempt == 2:
                raise
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def committed(work: Callable[[], T]) -> T:
    """Run `work` on a connection of its own, committed as it goes; return its result."""
    outcome: dict[str, Any] = {}
    in_thread(work, outcome).join(60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture
def race_gym() -> Iterator[Gym]:
    slug = f"race-{uuid.uuid4().hex[:8]}"
    gym = committed(lambda: retry_on_deadlock(lambda: gym_provision(name="Race Gym", slug=slug, status="active")))
    try:
        yield gym
    finally:
        committed(lambda: retry_on_deadlock(lambda: gym.delete(force_drop=True)))


@pytest.fixture
def race_membership(race_gym: Gym) -> Membership:
    """A monthly membership from 1 March 2026 (next billing 1 April), committed."""

    def arrange() -> Membership:
        with tenant_context(race_gym):
            plan = plan_create(name="Monthly", price=Decimal("600.00"), billing_period="monthly")
            return membership_assign(
                member=Member.objects.create(first_name="Race"), plan=plan, start_date=D(2026, 3, 1)
            )

    return committed(arrange)


def wait_until_blocked_on_a_membership_lock(timeout: float = 10) -> None:
    """Until a backend of this database waits for a lock while reading memberships.
    Asked on a fresh connection each time: inside a transaction, PostgreSQL keeps
    showing the first snapshot of `pg_stat_activity`. (Its `query` is cut at 1 kB,
    before the `FOR UPDATE` of the long select list.)"""

    def activity() -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type, left(query, 120) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE %s",
                ['SELECT "memberships_membership".%'],
            )
            return cursor.fetchall()

    deadline = time.monotonic() + timeout
    rows: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        rows = committed(activity)
        if any(wait == "Lock" for wait, _ in rows):
            return
        time.sleep(0.05)
    raise AssertionError(f"the second change never waited for the row lock: {rows}")


def race(gym: Gym, first: Callable[[], Any], second: Callable[[], Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run `first` and hold its transaction open until `second` is blocked on the
    membership row; then commit `first` and let `second` finish."""
    first_done, commit_first = threading.Event(), threading.Event()
    one: dict[str, Any] = {}
    two: dict[str, Any] = {}

    def hold() -> Any:
        with tenant_context(gym), transaction.atomic():
            value = first()
            first_done.set()
            commit_first.wait(10)  # the row lock is held until here
        return value

    def then() -> Any:
        with tenant_context(gym):
            return second()

    t1 = in_thread(hold, one)
    try:
        assert first_done.wait(10), one
        t2 = in_thread(then, two)
        wait_until_blocked_on_a_membership_lock()
    finally:
        commit_first.set()
    t1.join(10)
    t2.join(10)
    return one, two


def test_a_concurrent_overlapping_freeze_waits_for_the_first_and_is_refused(race_gym, race_membership) -> None:
    m = race_membership
    one, two = race(
        race_gym,
        lambda: membership_freeze(
            membership=m, start_date=D(2026, 3, 10), end_date=D(2026, 3, 19), reason="A", today=TODAY
        ),
        lambda: membership_freeze(
            membership=m, start_date=D(2026, 3, 15), end_date=D(2026, 3, 20), reason="B", today=TODAY
        ),
    )

    assert isinstance(one.get("value"), Membership), one
    assert isinstance(two.get("error"), MembershipError), two
    assert two["error"].code == "freeze_overlaps"

    def observe() -> tuple[int, D | None]:
        with tenant_context(race_gym):
            return Freeze.objects.filter(membership=m).count(), Membership.objects.get(pk=m.pk).next_billing_date

    # One freeze; the dates moved once, by 10 days: 1 April + 10.
    assert committed(observe) == (1, D(2026, 4, 11))


def test_a_freeze_racing_a_cancellation_sees_the_cancelled_status(race_gym, race_membership) -> None:
    m = race_membership  # the stale, still-active instance: the service re-reads the row under lock
    one, two = race(
        race_gym,
        lambda: membership_cancel(membership=m, immediately=True, reason="Leaving", today=TODAY),
        lambda: membership_freeze(
            membership=m, start_date=D(2026, 3, 10), end_date=D(2026, 3, 12), reason="", today=TODAY
        ),
    )

    assert isinstance(one.get("value"), Membership), one
    assert two.get("error") is not None and two["error"].code == "transition_not_allowed", two

    def observe() -> tuple[str, D | None, bool]:
        with tenant_context(race_gym):
            row = Membership.objects.get(pk=m.pk)
            return row.status, row.next_billing_date, Freeze.objects.filter(membership=m).exists()

    assert committed(observe) == (Membership.Status.CANCELLED, None, False)
