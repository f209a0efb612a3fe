"""Invoice test helpers. They write into the active gym schema (use inside tenant_context)."""

from __future__ import annotations

import datetime
from datetime import date as D
from decimal import Decimal

from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.services import membership_assign
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory

from ..models import StripeCustomer


def monthly(price: str = "500.00", **fields: object) -> Plan:
    """A monthly recurring plan at `price` (tax 15% included unless given)."""
    fields.setdefault("tax_rate", Decimal("15.00"))
    fields.setdefault("price_includes_tax", True)
    fields.setdefault("signup_fee", Decimal("0.00"))
    return PlanFactory(price=Decimal(price), kind=Plan.Kind.RECURRING, billing_period="monthly", **fields)


def member_on_monthly(start: D = D(2026, 1, 31), *, plan: Plan | None = None, card: str | None = None) -> Membership:
    """A new member sold a monthly plan from `start` (its sale invoice paid off as cash
    is NOT recorded: the sale invoice stays open unless the test pays it). With `card`
    (a Stripe test payment method id, e.g. `pm_card_visa`), a saved card too."""
    membership = membership_assign(member=MemberFactory(), plan=plan or monthly(), start_date=start)
    if card:
        StripeCustomer.objects.create(
            member=membership.member,
            customer_id=f"cus_test{membership.member_id}",
            payment_method_id=card,
            card_brand="visa",
            card_last4="4242",
        )
    return membership


def days(n: int) -> datetime.timedelta:
    """`n` days."""
    return datetime.timedelta(days=n)
