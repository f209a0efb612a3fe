"""Celery tasks of the notifications app (issue 7).

- `notifications_send_task(ids)`: send recorded notifications in the current gym's
  schema (queued on commit by `services.notifications_record`); a held-back retry is
  queued again for its time.
- `notifications_sweep_dispatch_task` (beat, every minute) fans out
  `notifications_sweep_task` per running gym: sends what quiet hours or a retry held
  back once its time has come, picks up notifications whose task was lost, and fails
  ones stuck `sending` (a dead worker).
- `notifications_schedule_dispatch_task` (beat, every 5 minutes) fans out
  `notifications_schedule_task` per running gym: records the scheduled notifications
  that are due in the gym's timezone (`schedules.scheduled_notifications_record`),
  which queues their sending.
Tasks take ids, are idempotent (claims and idempotency keys) and use `acks_late`.
"""

from __future__ import annotations

import datetime
import logging

from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.tenants.dispatch import gym_running, gym_tasks_fan_out, gym_tzinfo
from fitflow.celery import app

logger = logging.getLogger(__name__)

SWEEP_JITTER_SECONDS = 10
SCHEDULE_JITTER_SECONDS = 30


@app.task(acks_late=True, ignore_result=True)
def notifications_send_task(notification_ids: list[int]) -> dict[str, int]:
    """Send the notifications (ids) in the current gym's schema (the `_schema_name`
    header); queue the retry of any held back for a transient error. Returns the counts."""
    from apps.tenants.selectors import current_gym

    from .services import notifications_retry_at, notifications_send

    gym = current_gym()
    with timezone.override(gym_tzinfo(gym)):
        counts = notifications_send(notification_ids)
    if counts.held:
        for pk, when in notifications_retry_at(notification_ids).items():
            if when - timezone.now() <= datetime.timedelta(minutes=10):  # quiet hours wait for the sweep
                notifications_send_task.apply_async(args=[[pk]], eta=when, headers={"_schema_name": gym.schema_name})
    return counts.as_dict()


@app.task(acks_late=True, ignore_result=True)
def notifications_sweep_dispatch_task() -> int:
    """Queue `notifications_sweep_task` for every running gym. Returns how many."""
    return gym_tasks_fan_out(notifications_sweep_task, max_jitter=SWEEP_JITTER_SECONDS)


@app.task(acks_late=True)
def notifications_sweep_task(gym_id: int) -> dict[str, int]:
    """In one gym: fail notifications stuck `sending`, then send those whose time has
    come (`services.notifications_due`). Returns the counts."""
    from .services import notifications_due, notifications_send, notifications_stuck_fail

    gym = gym_running(gym_id)
    if gym is None:
        return {}
    with tenant_context(gym), timezone.override(gym_tzinfo(gym)):
        stuck = notifications_stuck_fail()
        counts = notifications_send(notifications_due())
    return counts.as_dict() | {"stuck": stuck}


@app.task(acks_late=True, ignore_result=True)
def notifications_schedule_dispatch_task() -> int:
    """Queue `notifications_schedule_task` for every running gym. Returns how many."""
    return gym_tasks_fan_out(notifications_schedule_task, max_jitter=SCHEDULE_JITTER_SECONDS)


@app.task(acks_late=True)
def notifications_schedule_task(gym_id: int, now_iso: str | None = None) -> dict[str, int]:
    """Record the scheduled notifications due in one gym at `now_iso` (UTC ISO; default
    now): class reminders, expiring memberships, upcoming renewals, overdue invoices,
    birthdays and re-engagement. Each is recorded once (idempotency keys) and sent
    after the commit. Returns how many of each were new."""
    from .schedules import scheduled_notifications_record

    gym = gym_running(gym_id)
    if gym is None:
        return {}
    now = datetime.datetime.fromisoformat(now_iso) if now_iso else timezone.now()
    with tenant_context(gym), timezone.override(gym_tzinfo(gym)):
        return scheduled_notifications_record(now=now)
