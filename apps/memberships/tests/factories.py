"""Membership factories: they write into the active gym schema (use inside tenant_context)."""

import datetime

import factory

from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.plans.tests.factories import PlanFactory


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    member = factory.SubFactory(MemberFactory)
    plan = factory.SubFactory(PlanFactory)
    status = Membership.Status.ACTIVE
    start_date = datetime.date(2026, 1, 1)
    next_billing_date = datetime.date(2026, 2, 1)
    price = factory.LazyAttribute(lambda m: m.plan.price)
    billing_period = factory.LazyAttribute(lambda m: m.plan.billing_period)
    billing_interval = factory.LazyAttribute(lambda m: m.plan.billing_interval)
    class_credits = factory.LazyAttribute(lambda m: m.plan.class_credits)
