"""The automatic check-out tasks: the dispatcher queues one task per running gym in its
schema; the gym task closes that gym's stale check-ins (after the gym's own
`auto_checkout_hours`) and nobody else's, and tells the gym's listeners. The task
bodies run in-process here; one test runs the gym task in a real Celery worker."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.bookings.tests.test_concurrency import committed, provision_with_retry
from apps.checkins import live, tasks
from apps.checkins.models import CheckIn
from apps.checkins.services import checkin_create
from apps.core.channels import gym_group_name
from apps.tenants.models import Gym

from .factories import active_member

pytestmark = pytest.mark.django_db

H = datetime.timedelta(hours=1)
M = datetime.timedelta(minutes=1)
WORKER_TIMEOUT_S = 60


def check_in_at(at: datetime.datetime) -> CheckIn:
    """A member on an active membership (from 10 days before `at`) checked in at `at`,
    in the active gym."""
    membership = active_member(start=(at - datetime.timedelta(days=10)).date())
    result = checkin_create(member=membership.member, now=at)
    assert result.allowed and result.check_in is not None, result.message
    return result.check_in


def occupancy_heard(gym: Gym, action: Any) -> dict[str, Any]:
    """Listen on `gym`'s occupancy group (real channel layer) while the sync `action`
    runs on the test's thread; the first occupancy update heard."""

    async def scenario() -> dict[str, Any]:
        layer = get_channel_layer()
        assert layer is not None
        group = gym_group_name(gym, live.OCCUPANCY_TOPIC)
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            await sync_to_async(action)()
            return await layer.receive(channel)
        finally:
            await layer.group_discard(group, channel)

    return async_to_sync(scenario)()


def test_the_dispatcher_queues_one_task_per_running_gym(gym_a: Gym, gym_b: Gym, monkeypatch) -> None:
    Gym.objects.filter(pk=gym_b.pk).update(status=Gym.Status.SUSPENDED)
    queued: list[dict[str, Any]] = []
    monkeypatch.setattr(tasks.checkins_auto_check_out_task, "apply_async", lambda **kwargs: queued.append(kwargs))

    count = tasks.checkins_auto_check_out_dispatch_task()

    by_schema = {q["headers"]["_schema_name"]: q for q in queued}
    assert count == len(queued) == len(by_schema)
    assert gym_a.schema_name in by_schema
    assert gym_b.schema_name not in by_schema and "public" not in by_schema
    assert by_schema[gym_a.schema_name]["args"] == [gym_a.pk]
    assert 0 <= by_schema[gym_a.schema_name]["countdown"] <= tasks.AUTO_CHECK_OUT_JITTER_SECONDS


def test_the_gym_task_closes_its_own_gyms_stale_check_ins_only(
    gym_a: Gym, gym_b: Gym, django_capture_on_commit_callbacks
) -> None:
    now = timezone.now()
    # Gym A closes after 3 hours, gym B after 1: B's 2-hour visit is stale at B only.
    Gym.objects.filter(pk=gym_a.pk).update(auto_checkout_hours=3)
    Gym.objects.filter(pk=gym_b.pk).update(auto_checkout_hours=1)
    with tenant_context(gym_a):
        stale_a = check_in_at(now - 3 * H - 10 * M)
        fresh_a = check_in_at(now - 2 * H)
        closed_earlier_a = check_in_at(now - 5 * H)
        CheckIn.objects.filter(pk=closed_earlier_a.pk).update(
            checked_out_at=now - 4 * H, check_out_kind=CheckIn.CheckOutKind.MANUAL
        )
    with tenant_context(gym_b):
        stale_b = check_in_at(now - 2 * H)

    def run_task_and_commit() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.checkins_auto_check_out_task(gym_a.pk) == 1

    heard = occupancy_heard(gym_a, run_task_and_commit)

    assert heard["type"] == "occupancy.update" and heard["occupancy"]["count"] == 1  # fresh_a
    with tenant_context(gym_a):
        stale = CheckIn.objects.get(pk=stale_a.pk)
        assert stale.check_out_kind == CheckIn.CheckOutKind.AUTO
        assert stale.checked_out_at == stale.checked_in_at + 3 * H  # when they most likely left
        assert CheckIn.objects.get(pk=fresh_a.pk).checked_out_at is None
        earlier = CheckIn.objects.get(pk=closed_earlier_a.pk)
        assert (earlier.checked_out_at, earlier.check_out_kind) == (now - 4 * H, CheckIn.CheckOutKind.MANUAL)
    with tenant_context(gym_b):
        assert CheckIn.objects.get(pk=stale_b.pk).checked_out_at is None

    # Idempotent; and B's own task closes B's visit.
    assert tasks.checkins_auto_check_out_task(gym_a.pk) == 0
    assert tasks.checkins_auto_check_out_task(gym_b.pk) == 1
    with tenant_context(gym_b):
        closed_b = CheckIn.objects.get(pk=stale_b.pk)
        assert closed_b.checked_out_at == closed_b.checked_in_at + 1 * H


def test_a_suspended_gym_is_skipped(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        stale = check_in_at(timezone.now() - 5 * H)
    Gym.objects.filter(pk=gym_a.pk).update(status=Gym.Status.SUSPENDED)

    assert tasks.checkins_auto_check_out_task(gym_a.pk) == 0

    with tenant_context(gym_a):
        assert CheckIn.objects.get(pk=stale.pk).checked_out_at is None


def test_the_gym_task_runs_in_a_real_worker_and_broadcasts(celery_worker_process) -> None:
    gym = committed(
        lambda: provision_with_retry(
            name="Auto Check-out Gym", slug=f"auto-out-{uuid.uuid4().hex[:8]}", timezone="Asia/Kolkata", status="active"
        )
    )
    try:
        now = timezone.now()

        def arrange() -> tuple[int, int]:
            with tenant_context(gym):
                return check_in_at(now - 4 * H).pk, check_in_at(now - 30 * M).pk

        stale_id, fresh_id = committed(arrange)

        def run_in_worker() -> None:
            result = tasks.checkins_auto_check_out_task.apply_async(
                args=[gym.id], headers={"_schema_name": gym.schema_name}
            )
            assert result.get(timeout=WORKER_TIMEOUT_S) == 1

        # The worker's broadcast reaches the gym's listeners through Redis.
        heard = occupancy_heard(gym, run_in_worker)
        assert heard["occupancy"]["count"] == 1

        def observe() -> tuple[str, bool]:
            with tenant_context(gym):
                return (
                    CheckIn.objects.get(pk=stale_id).check_out_kind,
                    CheckIn.objects.get(pk=fresh_id).checked_out_at is None,
                )

        assert committed(observe) == (CheckIn.CheckOutKind.AUTO, True)
    finally:
        committed(lambda: gym.delete(force_drop=True))
