"""Celery tasks of the memberships app: the daily expiry (DESIGN.md section 5).

Beat runs `membership_expiry_dispatch_task` every hour in the public schema. It fans
out one `membership_expiry_task` per active or trial gym, each with a random delay
of 0-300 s so a thousand gyms do not hit the database at the same second. The gym
task works out the gym-local date and runs `membership_expire_due` for it.

Why hourly rather than once a day at each gym's midnight: the job is idempotent, so
a run that finds nothing to do costs a few indexed queries; running every hour means
each gym's memberships move within an hour of its local midnight, whatever its
timezone (including half-hour offsets and DST changes), with no per-gym schedule
to keep in sync, and a missed run is caught up an hour later.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.tenants.dispatch import gym_local_date, gym_running, gym_tasks_fan_out, gym_tzinfo
from fitflow.celery import app

from .services import membership_expire_due

logger = logging.getLogger(__name__)

MAX_JITTER_SECONDS = 300


@app.task(acks_late=True, ignore_result=True)
def membership_expiry_dispatch_task() -> int:
    """Queue `membership_expiry_task` for every active or trial gym, each in its own
    schema (the `_schema_name` header tenant-schemas-celery reads) and with a random
    countdown of 0-300 s. Returns how many were queued."""
    return gym_tasks_fan_out(membership_expiry_task, max_jitter=MAX_JITTER_SECONDS)


@app.task(acks_late=True)
def membership_expiry_task(gym_id: int) -> dict[str, int]:
    """Run the daily membership job (`membership_expire_due`) for one gym, on the gym's
    local date, inside that gym's schema. Idempotent: rerunning it changes nothing.
    A gym that is gone, suspended or cancelled is skipped. Returns the job's counts."""
    gym = gym_running(gym_id)
    if gym is None:
        logger.info("membership expiry skipped: gym %s is not running", gym_id)
        return {}
    with tenant_context(gym), timezone.override(gym_tzinfo(gym)):
        counts = membership_expire_due(today=gym_local_date(gym))
    logger.info("membership expiry for gym %s: %s", gym.schema_name, counts)
    return counts
