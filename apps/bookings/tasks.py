"""Celery tasks of the bookings app (DESIGN.md section 5): the no-show sweep and the
nightly credit expiry, each a dispatcher that beat runs in the public schema plus a
per-gym task.

- `bookings_no_show_dispatch_task` (beat: every 15 minutes) queues
  `bookings_no_show_task` per active or trial gym with 0-120 s of jitter; it marks
  the confirmed bookings of ended sessions as no-shows (`bookings_mark_no_shows`).
  Sessions end all day long, so this runs often; a run with nothing to do is one
  indexed query per gym.
- `credits_expiry_dispatch_task` (beat: hourly) queues `credits_expiry_task` per gym
  with 0-300 s of jitter; it expires lapsed class-pack and period credits on the
  gym-local date (`credits_expire_due`). Hourly for the same reason as the membership
  expiry (apps.memberships.tasks): each gym is handled within an hour of its own
  midnight, whatever its timezone, and the job is idempotent.

The schema travels in the `_schema_name` header (tenant-schemas-celery); the gym task
also enters the gym explicitly (`tenant_context`) and activates its timezone.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.tenants.dispatch import gym_local_date, gym_running, gym_tasks_fan_out, gym_tzinfo
from fitflow.celery import app

from .credits import credits_expire_due
from .services import bookings_mark_no_shows

logger = logging.getLogger(__name__)

NO_SHOW_JITTER_SECONDS = 120
EXPIRY_JITTER_SECONDS = 300


@app.task(acks_late=True, ignore_result=True)
def bookings_no_show_dispatch_task() -> int:
    """Queue `bookings_no_show_task` for every active or trial gym, in its schema, with
    0-120 s of jitter. Returns how many were queued."""
    return gym_tasks_fan_out(bookings_no_show_task, max_jitter=NO_SHOW_JITTER_SECONDS)


@app.task(acks_late=True)
def bookings_no_show_task(gym_id: int) -> int:
    """Mark no-shows and complete the ended sessions of one gym. Idempotent; a gym
    that is gone, suspended or cancelled is skipped. Returns the no-shows marked."""
    gym = gym_running(gym_id)
    if gym is None:
        logger.info("no-show sweep skipped: gym %s is not running", gym_id)
        return 0
    with tenant_context(gym), timezone.override(gym_tzinfo(gym)):
        marked = bookings_mark_no_shows()
    logger.info("no-show sweep for gym %s: %s marked", gym.schema_name, marked)
    return marked


@app.task(acks_late=True, ignore_result=True)
def credits_expiry_dispatch_task() -> int:
    """Queue `credits_expiry_task` for every active or trial gym, in its schema, with
    0-300 s of jitter. Returns how many were queued."""
    return gym_tasks_fan_out(credits_expiry_task, max_jitter=EXPIRY_JITTER_SECONDS)


@app.task(acks_late=True)
def credits_expiry_task(gym_id: int) -> int:
    """Expire lapsed credits of one gym on its local date. Idempotent; a gym that is
    not running is skipped. Returns the `expire` rows written."""
    gym = gym_running(gym_id)
    if gym is None:
        logger.info("credit expiry skipped: gym %s is not running", gym_id)
        return 0
    with tenant_context(gym), timezone.override(gym_tzinfo(gym)):
        expired = credits_expire_due(today=gym_local_date(gym))
    logger.info("credit expiry for gym %s: %s buckets expired", gym.schema_name, expired)
    return expired
