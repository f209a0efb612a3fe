"""The hourly billing dispatcher (gym-local billing hour, once per local day, two
timezones) and the billing run through a real Celery worker."""

from __future__ import annotations

import datetime
import time
import uuid
from datetime import date as D

import pytest
from django_tenants.utils import tenant_context

from apps.bookings.tests.test_concurrency import committed, provision_with_retry
from apps.tenants.models import Gym

from ..models import Invoice
from ..tasks import billing_run_task, gyms_due_for_billing
from .factories import member_on_monthly

pytestmark = pytest.mark.django_db


def utc(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def test_dispatcher_picks_each_gym_at_its_local_billing_hour_once_a_day(gym_a: Gym, gym_b: Gym) -> None:
    Gym.objects.filter(pk=gym_a.pk).update(timezone="Europe/London", billing_hour=6, billing_run_on=None)
    Gym.objects.filter(pk=gym_b.pk).update(timezone="Africa/Johannesburg", billing_hour=6, billing_run_on=None)

    def due(now: datetime.datetime) -> set[str]:
        return {g.slug for g in gyms_due_for_billing(now=now)} & {gym_a.slug, gym_b.slug}

    # 03:30 UTC: 05:30 in Johannesburg (UTC+2), 03:30 in London (GMT): nobody yet
    assert due(utc(2026, 2, 10, 3, 30)) == set()
    # 04:00 UTC: 06:00 in Johannesburg
    assert due(utc(2026, 2, 10, 4, 0)) == {gym_b.slug}
    # 06:00 UTC: both; after Johannesburg's run completed that local day, only London
    assert due(utc(2026, 2, 10, 6, 0)) == {gym_a.slug, gym_b.slug}
    Gym.objects.filter(pk=gym_b.pk).update(billing_run_on=D(2026, 2, 10))
    assert due(utc(2026, 2, 10, 6, 0)) == {gym_a.slug}
    # a run missed at 06:00 is caught up later the same day
    assert due(utc(2026, 2, 10, 15, 0)) == {gym_a.slug}
    # British Summer Time: 06:00 local is 05:00 UTC
    assert due(utc(2026, 7, 1, 5, 0)) >= {gym_a.slug}
    # suspended gyms are never billed
    Gym.objects.filter(pk=gym_a.pk).update(status=Gym.Status.SUSPENDED)
    assert gym_a.slug not in due(utc(2026, 2, 10, 7, 0))


def test_billing_run_task_runs_in_the_gyms_schema_through_a_real_worker(celery_worker_process) -> None:
    gym = committed(
        lambda: provision_with_retry(
            name="Worker Billing", slug=f"wb-{uuid.uuid4().hex[:8]}", status="active", timezone="Europe/London"
        )
    )
    try:

        def arrange() -> list[int]:
            with tenant_context(gym):
                return [member_on_monthly(D(2026, 1, 10)).pk for _ in range(3)]

        ids = committed(arrange)
        result = billing_run_task.apply_async(args=[gym.pk, "2026-02-10"], headers={"_schema_name": gym.schema_name})
        counts = result.get(timeout=60)
        assert counts["invoiced"] == 3 and counts["open_for_manual"] == 3

        def state() -> tuple[int, D | None]:
            with tenant_context(gym):
                n = Invoice.objects.filter(membership_id__in=ids, period_start=D(2026, 2, 10)).count()
            return n, Gym.objects.get(pk=gym.pk).billing_run_on

        deadline = time.monotonic() + 10
        while committed(state)[1] is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert committed(state) == (3, D(2026, 2, 10))
    finally:
        committed(lambda: gym.delete(force_drop=True))
