"""Fan-out of scheduled work to the gyms (DESIGN.md section 5).

Beat runs a few dispatcher tasks in the public schema; each queues one task per
running gym, in that gym's schema (the `_schema_name` header tenant-schemas-celery
reads) and with a random countdown (jitter), so a thousand gyms do not hit the
database in the same second. The gym task enters the gym with `tenant_context` and
works in its timezone.
"""

from __future__ import annotations

import datetime
import secrets
import zoneinfo

from celery import Task
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import get_public_schema_name

from .models import Gym

RUNNING_GYM_STATUSES = (Gym.Status.ACTIVE, Gym.Status.TRIAL)
"""Gyms whose scheduled work runs; suspended and cancelled gyms are skipped."""


def dispatch_countdown(max_jitter: int) -> int:
    """A random countdown (jitter) in seconds for one gym's task: 0-`max_jitter`, capped
    by `settings.DISPATCH_JITTER_MAX_SECONDS` when that is set (the end-to-end stack sets
    0, so a dispatched task runs at once)."""
    cap = settings.DISPATCH_JITTER_MAX_SECONDS
    if cap is not None:
        max_jitter = min(max_jitter, max(int(cap), 0))
    return secrets.randbelow(max_jitter + 1)


def gym_tasks_fan_out(task: Task, *, max_jitter: int) -> int:
    """Queue `task(gym_id)` for every running gym, in its schema, each with a random
    countdown of 0-`max_jitter` seconds (`dispatch_countdown`). Returns how many were queued."""
    gyms = Gym.objects.filter(status__in=RUNNING_GYM_STATUSES).exclude(schema_name=get_public_schema_name())
    queued = 0
    for gym_id, schema_name in gyms.values_list("id", "schema_name"):
        task.apply_async(args=[gym_id], countdown=dispatch_countdown(max_jitter), headers={"_schema_name": schema_name})
        queued += 1
    return queued


def gym_running(gym_id: int) -> Gym | None:
    """The gym if it exists and is active or on trial (not the public row), else None."""
    gym = Gym.objects.filter(pk=gym_id, status__in=RUNNING_GYM_STATUSES).first()
    return None if gym is None or gym.is_public else gym


def gym_tzinfo(gym: Gym) -> datetime.tzinfo:
    """The gym's timezone (UTC if its name is unknown to this machine's tz database)."""
    try:
        return zoneinfo.ZoneInfo(gym.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.UTC


def gym_local_date(gym: Gym, *, now: datetime.datetime | None = None) -> datetime.date:
    """Today's date in the gym's timezone: `now` (default the current time) seen there."""
    return (now or timezone.now()).astimezone(gym_tzinfo(gym)).date()
