"""Reads for the platform's Stripe side: which gym an account or customer is, and which
gyms are overdue on their FitFlow subscription."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db.models import QuerySet

from apps.tenants.models import Gym


def gym_for_stripe_account(*, account_id: str) -> Gym | None:
    """The gym whose Connect account is `account_id` (acct_...), or None (never the
    platform row). One query."""
    if not account_id:
        return None
    return Gym.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).filter(stripe_account_id=account_id).first()


def gym_for_platform_customer(*, customer_id: str) -> Gym | None:
    """The gym that is the platform customer `customer_id` (cus_...), through dj-stripe's
    Customer (subscriber = gym), or None when no gym is linked to it. One query."""
    if not customer_id:
        return None
    return (
        Gym.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).filter(djstripe_customers__id=customer_id).first()
    )


def gyms_unpaid_overdue(*, today: date, gyms: QuerySet[Gym] | None = None) -> QuerySet[Gym]:
    """Gyms (trial or active) whose FitFlow subscription has been unpaid for more than
    `settings.FITFLOW_UNPAID_SUSPEND_DAYS` days on `today` (UTC date): with the default 14,
    a gym unpaid since 1 March is overdue from 16 March. `gyms` narrows the search."""
    cutoff = today - timedelta(days=settings.FITFLOW_UNPAID_SUSPEND_DAYS)
    base = gyms if gyms is not None else Gym.objects.all()
    return (
        base.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME)
        .filter(status__in=[Gym.Status.TRIAL, Gym.Status.ACTIVE], platform_unpaid_since__lt=cutoff)
        .order_by("pk")
    )
