"""The daily job (`membership_expire_due`) and its Celery tasks, run eagerly here
(the task bodies are called directly). A real worker runs it in test_tasks_worker.py."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from datetime import date as D
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Freeze, Membership, MembershipEvent
from apps.memberships.services import (
    membership_assign,
    membership_cancel,
    membership_expire_due,
    membership_freeze,
)
from apps.memberships.tasks import (
    gym_local_date,
    membership_expiry_dispatch_task,
    membership_expiry_task,
)
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

Status = Membership.Status
Kind = MembershipEvent.Kind
NO_CHANGE = {"expired": 0, "unfrozen": 0, "freezes_started": 0, "members_inactive": 0}


@pytest.fixture
def in_gym(gym_a: Gym) -> Iterator[Gym]:
    with tenant_context(gym_a):
        yield gym_a


def one_off(days: int = 30) -> Plan:
    return PlanFactory(kind=Plan.Kind.ONE_OFF, billing_period="", duration_days=days, price=Decimal("250.00"))


def assign(plan: Plan | None = None, start: D = D(2026, 3, 1), **member: Any) -> Membership:
    return membership_assign(member=MemberFactory(**member), plan=plan or PlanFactory(), start_date=start)


def status_of(m: Membership) -> str:
    m.refresh_from_db()
    return m.status


def test_memberships_expire_the_day_after_their_last_day(in_gym) -> None:
    ends_29 = assign(one_off(days=29))  # 1..29 March
    ends_30 = assign(one_off(days=30))  # 1..30 March

    counts = membership_expire_due(today=D(2026, 3, 30))

    assert counts == NO_CHANGE | {"expired": 1, "members_inactive": 1}
    assert (status_of(ends_29), status_of(ends_30)) == (Status.EXPIRED, Status.ACTIVE)
    event = ends_29.events.get(kind=Kind.EXPIRED)
    assert (event.actor, event.data["from_status"], event.data["end_date"]) == (None, "active", "2026-03-29")
    ends_29.member.refresh_from_db()
    assert ends_29.member.status == Member.Status.INACTIVE


def test_a_period_end_cancellation_expires_on_the_next_billing_date(in_gym) -> None:
    m = assign()  # next billing 1 April
    membership_cancel(membership=m, immediately=False, reason="Moving", today=D(2026, 3, 12))

    assert membership_expire_due(today=D(2026, 3, 31)) == NO_CHANGE
    assert status_of(m) == Status.ACTIVE

    assert membership_expire_due(today=D(2026, 4, 1))["expired"] == 1
    assert status_of(m) == Status.EXPIRED
    assert m.events.get(kind=Kind.EXPIRED).data["cancel_at_period_end"] is True


def test_frozen_and_past_due_memberships_expire_after_their_end_date_too(in_gym) -> None:
    frozen = assign(one_off(days=10))
    past_due = assign(one_off(days=10))
    Membership.objects.filter(pk=frozen.pk).update(status=Status.FROZEN)
    Membership.objects.filter(pk=past_due.pk).update(status=Status.PAST_DUE)
    assert membership_expire_due(today=D(2026, 3, 11))["expired"] == 2
    assert status_of(frozen) == status_of(past_due) == Status.EXPIRED


def test_open_ended_recurring_and_ended_memberships_are_left_alone(in_gym) -> None:
    recurring = assign()
    past_due = assign()
    Membership.objects.filter(pk=past_due.pk).update(status=Status.PAST_DUE)  # dunning's business
    cancelled = membership_cancel(membership=assign(one_off()), immediately=True, reason="", today=D(2026, 3, 2))

    assert membership_expire_due(today=D(2027, 1, 1)) == NO_CHANGE
    assert (status_of(recurring), status_of(past_due), status_of(cancelled)) == (
        Status.ACTIVE,
        Status.PAST_DUE,
        Status.CANCELLED,
    )


def test_a_member_with_another_current_membership_stays_active(in_gym) -> None:
    m = assign(one_off(days=10))
    membership_assign(member=m.member, plan=PlanFactory(), start_date=D(2026, 3, 1))
    assert membership_expire_due(today=D(2026, 3, 20)) == NO_CHANGE | {"expired": 1}
    m.member.refresh_from_db()
    assert m.member.status == Member.Status.ACTIVE


def test_a_scheduled_freeze_starts_on_its_first_day_and_ends_after_its_last(in_gym) -> None:
    m = assign()
    membership_freeze(
        membership=m, start_date=D(2026, 3, 10), end_date=D(2026, 3, 19), reason="Holiday", today=D(2026, 3, 5)
    )
    freeze = m.freezes.get()

    assert membership_expire_due(today=D(2026, 3, 9)) == NO_CHANGE
    assert status_of(m) == Status.ACTIVE

    assert membership_expire_due(today=D(2026, 3, 10)) == NO_CHANGE | {"freezes_started": 1}
    assert status_of(m) == Status.FROZEN
    started = m.events.get(kind=Kind.FROZEN, data__started=True)
    assert started.data == {"freeze_id": freeze.pk, "started": True, "automatic": True}

    assert membership_expire_due(today=D(2026, 3, 19)) == NO_CHANGE  # its last day
    assert status_of(m) == Status.FROZEN

    assert membership_expire_due(today=D(2026, 3, 20)) == NO_CHANGE | {"unfrozen": 1}
    m.refresh_from_db()
    # The dates moved when the freeze was made, and the automatic end keeps them.
    assert (m.status, m.next_billing_date) == (Status.ACTIVE, D(2026, 4, 11))
    unfrozen = m.events.get(kind=Kind.UNFROZEN)
    assert (unfrozen.actor, unfrozen.data) == (None, {"freeze_id": freeze.pk, "automatic": True})
    assert m.freezes.get().ended_on is None  # ended on schedule, not early


def test_back_to_back_freezes_stay_frozen(in_gym) -> None:
    m = assign()
    membership_freeze(membership=m, start_date=D(2026, 3, 10), end_date=D(2026, 3, 12), reason="", today=D(2026, 3, 5))
    membership_freeze(membership=m, start_date=D(2026, 3, 13), end_date=D(2026, 3, 15), reason="", today=D(2026, 3, 5))
    assert membership_expire_due(today=D(2026, 3, 10))["freezes_started"] == 1
    assert membership_expire_due(today=D(2026, 3, 13)) == NO_CHANGE
    assert status_of(m) == Status.FROZEN
    assert membership_expire_due(today=D(2026, 3, 16))["unfrozen"] == 1


def test_a_called_off_freeze_never_starts(in_gym) -> None:
    from apps.memberships.services import membership_unfreeze

    m = assign()
    membership_freeze(membership=m, start_date=D(2026, 3, 10), end_date=D(2026, 3, 19), reason="", today=D(2026, 3, 5))
    membership_unfreeze(membership=m, today=D(2026, 3, 6))
    assert membership_expire_due(today=D(2026, 3, 10)) == NO_CHANGE
    assert status_of(m) == Status.ACTIVE


def test_a_scheduled_freeze_of_a_cancelled_membership_never_starts(in_gym) -> None:
    m = assign()
    Freeze.objects.create(membership=m, start_date=D(2026, 3, 10), end_date=D(2026, 3, 19))
    Membership.objects.filter(pk=m.pk).update(status=Status.CANCELLED)
    assert membership_expire_due(today=D(2026, 3, 10)) == NO_CHANGE


def test_the_job_is_idempotent(in_gym) -> None:
    expiring = assign(one_off(days=5))
    thawing = assign()
    membership_freeze(
        membership=thawing, start_date=D(2026, 3, 2), end_date=D(2026, 3, 4), reason="", today=D(2026, 3, 2)
    )
    starting = assign()
    membership_freeze(
        membership=starting, start_date=D(2026, 3, 8), end_date=D(2026, 3, 9), reason="", today=D(2026, 3, 2)
    )
    events = MembershipEvent.objects.count()

    first = membership_expire_due(today=D(2026, 3, 8))
    assert first == {"expired": 1, "unfrozen": 1, "freezes_started": 1, "members_inactive": 1}
    assert MembershipEvent.objects.count() == events + 3
    after_first = list(Membership.objects.order_by("pk").values_list("pk", "status", "end_date", "next_billing_date"))

    assert membership_expire_due(today=D(2026, 3, 8)) == NO_CHANGE
    assert MembershipEvent.objects.count() == events + 3
    assert (
        list(Membership.objects.order_by("pk").values_list("pk", "status", "end_date", "next_billing_date"))
        == after_first
    )
    assert (status_of(expiring), status_of(thawing), status_of(starting)) == (
        Status.EXPIRED,
        Status.ACTIVE,
        Status.FROZEN,
    )


# --- tasks, run eagerly ------------------------------------------------------------------


def _ended_yesterday_in(gym: Gym) -> Membership:
    """A one-off membership in `gym` whose last day was yesterday, gym-local."""
    today = gym_local_date(gym)
    with tenant_context(gym):
        return membership_assign(
            member=MemberFactory(), plan=one_off(days=10), start_date=today - datetime.timedelta(days=10)
        )


def test_the_expiry_task_for_gym_a_never_touches_gym_b(gym_a: Gym, gym_b: Gym) -> None:
    in_a = _ended_yesterday_in(gym_a)
    in_b = _ended_yesterday_in(gym_b)
    with tenant_context(gym_b):
        b_before = list(Membership.objects.values_list("pk", "status", "updated_at"))
        b_events = MembershipEvent.objects.count()
        b_members = list(Member.objects.values_list("pk", "status"))

    counts = membership_expiry_task(gym_a.id)

    assert counts["expired"] >= 1
    with tenant_context(gym_a):
        assert status_of(in_a) == Status.EXPIRED
    with tenant_context(gym_b):
        assert status_of(in_b) == Status.ACTIVE
        assert list(Membership.objects.values_list("pk", "status", "updated_at")) == b_before
        assert MembershipEvent.objects.count() == b_events
        assert list(Member.objects.values_list("pk", "status")) == b_members
    assert connection.schema_name == "public"  # the task left the schema as it found it


def test_the_expiry_task_uses_the_gym_local_date(gym_a: Gym, monkeypatch) -> None:
    seen: dict[str, Any] = {}

    def fake_expire_due(*, today: D) -> dict[str, int]:
        from django.utils import timezone

        seen.update(today=today, schema=connection.schema_name, tz=str(timezone.get_current_timezone()))
        return NO_CHANGE

    monkeypatch.setattr("apps.memberships.tasks.membership_expire_due", fake_expire_due)
    assert membership_expiry_task(gym_a.id) == NO_CHANGE
    assert seen == {"today": gym_local_date(gym_a), "schema": gym_a.schema_name, "tz": gym_a.timezone}


@pytest.mark.parametrize(
    ("tz", "local_day"),
    [
        ("Europe/London", D(2026, 3, 1)),  # 23:30 GMT
        ("Africa/Johannesburg", D(2026, 3, 2)),  # 01:30 SAST
        ("Pacific/Honolulu", D(2026, 3, 1)),  # 13:30 HST
        ("Asia/Kolkata", D(2026, 3, 2)),  # 05:00 IST (+5:30)
        ("Not/AZone", D(2026, 3, 1)),  # unknown: UTC
    ],
)
def test_gym_local_date(tz: str, local_day: D) -> None:
    now = datetime.datetime(2026, 3, 1, 23, 30, tzinfo=datetime.UTC)
    assert gym_local_date(Gym(timezone=tz), now=now) == local_day


def test_the_expiry_task_skips_a_suspended_or_missing_gym(gym_a: Gym, monkeypatch) -> None:
    monkeypatch.setattr("apps.memberships.tasks.membership_expire_due", lambda **kw: pytest.fail("must not run"))
    Gym.objects.filter(pk=gym_a.pk).update(status=Gym.Status.SUSPENDED)
    assert membership_expiry_task(gym_a.id) == {}
    assert membership_expiry_task(10**9) == {}


def test_the_dispatcher_queues_one_task_per_running_gym_in_its_schema_with_jitter(
    gym_a: Gym, gym_b: Gym, monkeypatch
) -> None:
    Gym.objects.filter(pk=gym_b.pk).update(status=Gym.Status.TRIAL)
    suspended = Gym.objects.create(name="Closed", slug="closed-gym", schema_name="gym_closed_gym", status="suspended")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(membership_expiry_task, "apply_async", lambda **kw: calls.append(kw))

    queued = membership_expiry_dispatch_task()

    assert queued == len(calls)
    by_gym = {call["args"][0]: call for call in calls}
    assert {gym_a.id, gym_b.id} <= set(by_gym)
    assert suspended.id not in by_gym
    assert not any(call["headers"]["_schema_name"] == "public" for call in calls)
    for gym in (gym_a, gym_b):
        assert by_gym[gym.id]["headers"] == {"_schema_name": gym.schema_name}
    assert all(0 <= call["countdown"] <= 300 for call in calls)


def test_the_tasks_are_registered_with_late_acks() -> None:
    from fitflow.celery import app

    for task in (membership_expiry_dispatch_task, membership_expiry_task):
        assert app.tasks[task.name].name == task.name
        assert task.acks_late is True
    assert membership_expiry_task.name == "apps.memberships.tasks.membership_expiry_task"
