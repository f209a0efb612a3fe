"""Celery tasks of the front desk (DESIGN.md section 5).

- `checkins_auto_check_out_dispatch_task` (beat: every 15 minutes) queues
  `checkins_auto_check_out_task` per active or trial gym, in its schema, with 0-60 s
  of jitter. Every 15 minutes so nobody stays "in the gym" more than a quarter of an
  hour past the gym's `auto_checkout_hours`; a gym with nothing to close costs one
  indexed query.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.tenants.dispatch import gym_running, gym_tasks_fan_out, gym_tzinfo
from fitflow.celery import app

from .services import checkins_auto_check_out

logger = logging.getLogger(__name__)

AUTO_CHECK_OUT_JITTER_SECONDS = 60


@app.task(acks_late=True, ignore_result=True)
def checkins_auto_check_out_dispatch_task() -> int:
    """Queue `checkins_auto_check_out_task` for every active or trial gym. Returns how
    many were queued."""
    return gym_tasks_fan_out(checkins_auto_check_out_task, max_jitter=AUTO_CHECK_OUT_JITTER_SECONDS)


@app.task(acks_late=True)
def checkins_auto_check_out_task(gym_id: int) -> int:
    """Close one gym's open check-ins older than its `auto_checkout_hours`.
    Idempotent; a gym that is not running is skipped. Returns how many were closed."""
    gym = gym_running(gym_id)
    if gym is None:
        logger.info("auto check-out skipped: gym %s is not running", gym_id)
        return 0
    with tenant_context(gym), timezone.override(gym_tzinfo(gym)):
        closed = checkins_auto_check_out()
    logger.info("auto check-out for gym %s: %s closed", gym.schema_name, closed)
    return closed
