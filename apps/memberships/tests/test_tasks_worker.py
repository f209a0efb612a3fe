"""`membership_expiry_task` through a real Celery worker (DESIGN.md section 9).

The worker is a separate process with its own database connection, so it cannot see
rows inside a test's transaction. So every read and write here runs through
`committed()`: in a thread of its own, hence on its own connection, in autocommit.
The test's own (rolled-back) transaction never touches those rows, which also lets
the gym's schema be dropped at the end without waiting on its locks.

The data lives in a gym of its own, provisioned for the test and dropped afterwards,
schema and all, so the session gyms A and B (shared with other tests) never hold
committed rows from here. The module keeps the `django_db` mark so that pytest-django
always points the connections at the test database, even when this test runs alone.
"""

from __future__ import annotations

import datetime
import random
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from django.db import OperationalError, connections
from django_tenants.utils import tenant_context

from apps.members.models import Member
from apps.memberships.models import Membership, MembershipEvent
from apps.memberships.services import membership_assign
from apps.memberships.tasks import gym_local_date, membership_expiry_task
from apps.plans.services import plan_create
from apps.tenants.models import Gym
from apps.tenants.services import gym_provision

pytestmark = pytest.mark.django_db

WORKER_TIMEOUT_S = 60
T = TypeVar("T")


def provision_with_retry(**fields: Any) -> Gym:
    """`gym_provision`, retried when PostgreSQL picks it as a deadlock victim: copying
    the template adds foreign keys to public tables, and another test run provisioning
    a gym at the same moment can take the same locks in the other order."""
    for attempt in range(3):
        try:
            return gym_provision(**fields)
        except OperationalError as exc:
            if "deadlock" not in str(exc) or attempt == 2:
                raise
            time.sleep(0.2 + random.random())
    raise AssertionError("unreachable")


def committed(work: Callable[[], T]) -> T:
    """Run `work` on a connection of its own (a new thread), committed as it goes."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_the_expiry_task_runs_in_a_real_worker_in_the_gym_schema(celery_worker_process) -> None:
    gym = committed(
        lambda: provision_with_retry(
            name="Worker Gym",
            slug=f"worker-{uuid.uuid4().hex[:8]}",
            timezone="Africa/Johannesburg",
            currency="ZAR",
            status=Gym.Status.ACTIVE,
        )
    )
    try:
        today = gym_local_date(gym)

        def arrange() -> tuple[Membership, Membership]:
            with tenant_context(gym):
                plan = plan_create(name="10-day pass", kind="one_off", price=Decimal("150.00"), duration_days=10)
                ended = membership_assign(
                    member=Member.objects.create(first_name="Ended"),
                    plan=plan,
                    start_date=today - datetime.timedelta(days=10),  # last day: yesterday
                )
                running = membership_assign(
                    member=Member.objects.create(first_name="Running"),
                    plan=plan,
                    start_date=today - datetime.timedelta(days=9),  # last day: today
                )
                return ended, running

        ended, running = committed(arrange)

        # Queued from the public schema: the header names the gym's schema.
        result = membership_expiry_task.apply_async(args=[gym.id], headers={"_schema_name": gym.schema_name})
        counts = result.get(timeout=WORKER_TIMEOUT_S)

        assert counts == {"expired": 1, "unfrozen": 0, "freezes_started": 0, "members_inactive": 1}

        def observe() -> tuple[str, str, int, str]:
            with tenant_context(gym):
                return (
                    Membership.objects.get(pk=ended.pk).status,
                    Membership.objects.get(pk=running.pk).status,
                    MembershipEvent.objects.filter(membership=ended, kind=MembershipEvent.Kind.EXPIRED).count(),
                    Member.objects.get(pk=ended.member_id).status,
                )

        assert committed(observe) == (
            Membership.Status.EXPIRED,
            Membership.Status.ACTIVE,
            1,
            Member.Status.INACTIVE,
        )

        # Run it again: nothing more to do.
        again = membership_expiry_task.apply_async(args=[gym.id], headers={"_schema_name": gym.schema_name})
        assert again.get(timeout=WORKER_TIMEOUT_S)["expired"] == 0
    finally:
        committed(lambda: gym.delete(force_drop=True))  # its schema, domain and rows
    assert not committed(lambda: Gym.objects.filter(schema_name=gym.schema_name).exists())
