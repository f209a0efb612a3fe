"""Celery tasks of the invoices app (DESIGN.md 5): the billing run, Stripe events, the
daily reconciliation, and rendering invoice PDFs and announcing them to members.

- `billing_run_dispatch_task` (beat, hourly) queues `billing_run_task` for each running
  gym whose local `billing_hour` has come and whose run has not completed today
  (`Gym.billing_run_on`), with 0-300 s of jitter. A run missed (beat or workers down)
  is caught up at the next hour; a second run the same day finds nothing to do anyway.
- `stripe_event_apply_task` applies one routed Connect event in the gym's schema.
- `stripe_reconcile_dispatch_task` (beat, daily) fans out `stripe_reconcile_task`.
- `invoice_deliver_task` renders the PDF and records the member's `invoice_issued`
  notification, which the notifications app sends (queue `documents`, so slow
  PDF rendering never holds up billing).
Tasks take ids (or the event dict), are idempotent and use `acks_late`.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, tenant_context

from apps.tenants.dispatch import (
    RUNNING_GYM_STATUSES,
    dispatch_countdown,
    gym_local_date,
    gym_running,
    gym_tasks_fan_out,
    gym_tzinfo,
)
from apps.tenants.models import Gym
from fitflow.celery import app

from . import stripe_api

logger = logging.getLogger(__name__)

MAX_JITTER_SECONDS = 300
DOCUMENTS_QUEUE = "documents"  # CELERY_TASK_ROUTES sends invoice_deliver_task there


def gyms_due_for_billing(*, now: datetime.datetime | None = None) -> list[Gym]:
    """Running gyms whose local time on `now` is at or past their `billing_hour` and whose
    billing run has not completed on that local date."""
    now = now or timezone.now()
    due = []
    gyms = Gym.objects.filter(status__in=RUNNING_GYM_STATUSES).exclude(schema_name=get_public_schema_name())
    for gym in gyms.only("id", "schema_name", "timezone", "billing_hour", "billing_run_on"):
        local = now.astimezone(gym_tzinfo(gym))
        if local.hour >= gym.billing_hour and (gym.billing_run_on is None or gym.billing_run_on < local.date()):
            due.append(gym)
    return due


@app.task(acks_late=True, ignore_result=True)
def billing_run_dispatch_task() -> int:
    """Queue `billing_run_task` for every gym due for billing (see `gyms_due_for_billing`),
    in its schema, with a random countdown of 0-300 s (`dispatch_countdown`). Returns how
    many were queued."""
    gyms = gyms_due_for_billing()
    for gym in gyms:
        billing_run_task.apply_async(
            args=[gym.pk],
            countdown=dispatch_countdown(MAX_JITTER_SECONDS),
            headers={"_schema_name": gym.schema_name},
        )
    return len(gyms)


@app.task(acks_late=True)
def billing_run_task(gym_id: int, today: str | None = None) -> dict[str, int]:
    """Run billing (`services.billing_run`) for one gym on its local date (or `today`,
    ISO, for tests and benches), in its schema, then record the date on
    `Gym.billing_run_on`. Skips gyms that are gone, suspended or cancelled. Returns the
    run's counts."""
    from .services import billing_run

    gym = gym_running(gym_id)
    if gym is None:
        logger.info("billing skipped: gym %s is not running", gym_id)
        return {}
    day = datetime.date.fromisoformat(today) if today else gym_local_date(gym)
    with tenant_context(gym), timezone.override(gym_tzinfo(gym)):
        result = billing_run(today=day)
    Gym.objects.filter(pk=gym.pk).update(billing_run_on=day)
    logger.info("billing run for gym %s on %s: %s", gym.schema_name, day, result.as_dict())
    return result.as_dict()


@app.task(acks_late=True, autoretry_for=(stripe_api.StripeUnavailable,), retry_backoff=30, max_retries=8)
def stripe_event_apply_task(event: dict[str, Any]) -> str:
    """Apply one Stripe Connect event in the current gym's schema (the `_schema_name`
    header set by the webhook router). Retried with backoff while Stripe is unreachable;
    duplicates are no-ops. Returns the outcome."""
    from apps.tenants.selectors import current_gym

    from .services import stripe_event_apply

    gym = current_gym()
    with timezone.override(gym_tzinfo(gym)):
        return stripe_event_apply(event)


@app.task(acks_late=True, ignore_result=True)
def stripe_reconcile_dispatch_task() -> int:
    """Queue `stripe_reconcile_task` for every running gym (jitter 0-300 s)."""
    return gym_tasks_fan_out(stripe_reconcile_task, max_jitter=MAX_JITTER_SECONDS)


@app.task(acks_late=True, autoretry_for=(stripe_api.StripeUnavailable,), retry_backoff=60, max_retries=5)
def stripe_reconcile_task(gym_id: int) -> dict[str, int]:
    """Recover missed Stripe events and finish stranded charges for one gym
    (`services.stripe_reconcile`). Returns its counts."""
    from .services import stripe_reconcile

    gym = gym_running(gym_id)
    if gym is None or not gym.stripe_account_id:
        return {}
    with tenant_context(gym), timezone.override(gym_tzinfo(gym)):
        return stripe_reconcile()


@app.task(acks_late=True, autoretry_for=(OSError,), retry_backoff=10, max_retries=5)
def invoice_deliver_task(invoice_id: int) -> str:
    """Render the invoice's PDF (if not yet rendered) and record the member's
    `invoice_issued` notification (if not yet recorded; `delivery.invoice_deliver`), in
    the current gym's schema. Idempotent. Returns what it did."""
    from apps.tenants.selectors import current_gym

    from .delivery import invoice_deliver

    gym = current_gym()
    with timezone.override(gym_tzinfo(gym)):
        return invoice_deliver(invoice_id)


def invoices_deliver_on_commit(invoice_ids: list[int]) -> None:
    """Queue `invoice_deliver_task` for each invoice (ids) in the current schema once the
    transaction that issued them commits (nothing is queued if it rolls back). One
    broker connection serves the whole batch."""
    from apps.tenants.selectors import current_schema_name

    schema, ids = current_schema_name(), list(invoice_ids)
    if not ids:
        return

    def send() -> None:
        with app.producer_or_acquire() as producer:
            for invoice_id in ids:
                invoice_deliver_task.apply_async(args=[invoice_id], headers={"_schema_name": schema}, producer=producer)

    transaction.on_commit(send)
