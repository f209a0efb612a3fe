"""The bookings Celery tasks: dispatchers fan out one task per running gym in its
schema; the gym tasks run the no-show sweep and the credit expiry there. The task
bodies run in-process here; one test runs the no-show sweep in a real worker."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.bookings import tasks
from apps.bookings.models import Booking, CreditEntry
from apps.bookings.services import booking_create, credits_summary
from apps.classes.models import ClassSession
from apps.tenants.models import Gym

from .factories import member_on, monthly_plan, pack_plan, session_at
from .test_concurrency import committed, provision_with_retry

pytestmark = pytest.mark.django_db

H = datetime.timedelta(hours=1)


def test_the_dispatchers_queue_one_task_per_running_gym(gym_a: Gym, gym_b: Gym, monkeypatch) -> None:
    Gym.objects.filter(pk=gym_b.pk).update(status=Gym.Status.SUSPENDED)
    for dispatcher, task in (
        (tasks.bookings_no_show_dispatch_task, tasks.bookings_no_show_task),
        (tasks.credits_expiry_dispatch_task, tasks.credits_expiry_task),
    ):
        queued: list[dict[str, Any]] = []
        monkeypatch.setattr(task, "apply_async", lambda **kwargs: queued.append(kwargs))

        count = dispatcher()

        by_schema = {q["headers"]["_schema_name"]: q for q in queued}
        assert count == len(queued)
        assert gym_a.schema_name in by_schema and gym_b.schema_name not in by_schema
        assert "public" not in by_schema
        assert by_schema[gym_a.schema_name]["args"] == [gym_a.pk]
        assert 0 <= by_schema[gym_a.schema_name]["countdown"] <= tasks.EXPIRY_JITTER_SECONDS


def test_the_no_show_task_sweeps_its_gym(gym_a: Gym) -> None:
    now = timezone.now()
    with tenant_context(gym_a):
        session = session_at(now - 3 * H)
        booking = booking_create(
            member=member_on(monthly_plan(), start=now.date() - datetime.timedelta(days=2)).member,
            session=session,
            now=now - 4 * H,
        )

    assert tasks.bookings_no_show_task(gym_a.pk) == 1
    assert tasks.bookings_no_show_task(gym_a.pk) == 0

    with tenant_context(gym_a):
        assert Booking.objects.get(pk=booking.pk).status == Booking.Status.NO_SHOW
        assert ClassSession.objects.get(pk=session.pk).status == ClassSession.Status.COMPLETED


def test_the_expiry_task_uses_the_gyms_date(gym_a: Gym) -> None:
    today = timezone.now().date()
    with tenant_context(gym_a):
        membership = member_on(pack_plan(credits=4, expiry_days=5), start=today - datetime.timedelta(days=10))
        credits_summary(member=membership.member, today=today - datetime.timedelta(days=8))  # opened while valid

    assert tasks.credits_expiry_task(gym_a.pk) == 1
    assert tasks.credits_expiry_task(gym_a.pk) == 0

    with tenant_context(gym_a):
        last = CreditEntry.objects.filter(membership=membership).order_by("-id").first()
        assert last is not None and (last.kind, last.balance_after) == (CreditEntry.Kind.EXPIRE, 0)


def test_a_gym_that_is_not_running_is_skipped(gym_a: Gym) -> None:
    Gym.objects.filter(pk=gym_a.pk).update(status=Gym.Status.SUSPENDED)
    assert tasks.bookings_no_show_task(gym_a.pk) == 0
    assert tasks.credits_expiry_task(gym_a.pk) == 0


def test_the_no_show_sweep_runs_in_a_real_worker(celery_worker_process) -> None:
    gym = committed(
        lambda: provision_with_retry(
            name="Sweep Gym", slug=f"sweep-{uuid.uuid4().hex[:8]}", timezone="Asia/Kolkata", status="active"
        )
    )
    try:
        now = timezone.now()

        def arrange() -> int:
            with tenant_context(gym):
                membership = member_on(monthly_plan(credits=4), start=now.date() - datetime.timedelta(days=2))
                session = session_at(now - 2 * H)
                return booking_create(member=membership.member, session=session, now=now - 3 * H).pk

        booking_id = committed(arrange)

        result = tasks.bookings_no_show_task.apply_async(args=[gym.id], headers={"_schema_name": gym.schema_name})
        assert result.get(timeout=60) == 1

        def observe() -> str:
            with tenant_context(gym):
                return Booking.objects.get(pk=booking_id).status

        assert committed(observe) == Booking.Status.NO_SHOW
    finally:
        committed(lambda: gym.delete(force_drop=True))
