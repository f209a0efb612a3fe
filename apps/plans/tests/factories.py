"""Plan factories: they write into the active gym schema (use inside tenant_context)."""

from decimal import Decimal

import factory

from apps.plans.models import Plan


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    name = factory.Sequence(lambda n: f"Monthly unlimited {n}")
    kind = Plan.Kind.RECURRING
    price = Decimal("600.00")
    billing_period = Plan.BillingPeriod.MONTHLY
    billing_interval = 1
    class_credits = None
