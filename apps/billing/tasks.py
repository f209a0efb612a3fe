"""Celery tasks of the platform's own billing (public schema)."""

from __future__ import annotations

from django.utils import timezone

from fitflow.celery import app

from .services import gyms_suspend_unpaid


@app.task(acks_late=True)
def platform_billing_sweep_task() -> list[str]:
    """Daily: suspend gyms whose FitFlow subscription is unpaid for more than
    `settings.FITFLOW_UNPAID_SUSPEND_DAYS` days, today being the UTC date. Runs in public
    (queued by beat, with no gym). Idempotent. Returns the schema names suspended."""
    return [gym.schema_name for gym in gyms_suspend_unpaid(today=timezone.now().date())]
