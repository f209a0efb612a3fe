"""Membership selectors: the current membership, the history and the status counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date as D

import pytest
from django_tenants.utils import tenant_context

from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.selectors import membership_current_for, membership_history, membership_statuses_counts
from apps.memberships.services import (
    membership_assign,
    membership_cancel,
    membership_freeze,
    membership_renew,
)
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def in_gym(gym_a: Gym) -> Iterator[Gym]:
    with tenant_context(gym_a):
        yield gym_a


def pack() -> Plan:
    return PlanFactory(kind=Plan.Kind.CLASS_PACK, billing_period="", class_credits=10, pack_expiry_days=None)


def test_no_current_membership() -> None:
    member = MemberFactory()
    assert membership_current_for(member=member) is None
    m = membership_assign(member=member, plan=PlanFactory(), start_date=D(2026, 1, 1))
    membership_cancel(membership=m, immediately=True, reason="", today=D(2026, 1, 5))
    assert membership_current_for(member=member, today=D(2026, 1, 6)) is None


def test_the_recurring_membership_wins_over_a_pack_beside_it() -> None:
    member = MemberFactory()
    monthly = membership_assign(member=member, plan=PlanFactory(), start_date=D(2026, 1, 1))
    membership_assign(member=member, plan=pack(), start_date=D(2026, 2, 1))
    assert membership_current_for(member=member, today=D(2026, 2, 5)) == monthly


def test_the_term_in_effect_wins_over_a_renewal_that_starts_later() -> None:
    member = MemberFactory()
    one_off = PlanFactory(kind=Plan.Kind.ONE_OFF, billing_period="", duration_days=30)
    now = membership_assign(member=member, plan=one_off, start_date=D(2026, 3, 1))
    later = membership_renew(membership=now, today=D(2026, 3, 20))
    assert membership_current_for(member=member, today=D(2026, 3, 20)) == now
    assert membership_current_for(member=member, today=D(2026, 3, 31)) == later  # the job has not expired `now` yet


def test_history_prefetches_plans_freezes_and_events(django_assert_max_num_queries) -> None:
    member = MemberFactory()
    for start in (D(2025, 1, 1), D(2025, 6, 1), D(2026, 1, 1)):
        m = membership_assign(member=member, plan=PlanFactory(), start_date=start)
        m = membership_freeze(membership=m, start_date=start, end_date=start, reason="", today=start)
        if start.year == 2025:
            membership_cancel(membership=m, immediately=True, reason="", today=start)

    # django-tenants sends `SET search_path` before each statement (TENANT_LIMIT_SET_CALLS is off).
    with django_assert_max_num_queries(6) as captured:
        history = list(membership_history(member=member))
        rows = [(m.start_date, m.plan.name, len(m.freezes.all()), [e.kind for e in m.events.all()]) for m in history]
    selects = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]
    assert len(selects) == 3  # memberships with plans, freezes, events with actors

    assert [row[0] for row in rows] == [D(2026, 1, 1), D(2025, 6, 1), D(2025, 1, 1)]
    assert rows[0][2:] == (1, ["frozen", "created"])
    assert rows[2][2:] == (1, ["cancelled", "frozen", "created"])


def test_status_counts_include_every_status() -> None:
    before = membership_statuses_counts()
    assert set(before) == set(Membership.Status.values)
    m = membership_assign(member=MemberFactory(), plan=PlanFactory(), start_date=D(2026, 1, 1))
    membership_assign(member=MemberFactory(), plan=PlanFactory(), start_date=D(2026, 1, 1))
    membership_cancel(membership=m, immediately=True, reason="", today=D(2026, 1, 2))

    after = membership_statuses_counts()

    assert after["active"] == before["active"] + 1
    assert after["cancelled"] == before["cancelled"] + 1
    assert after["frozen"] == before["frozen"]
