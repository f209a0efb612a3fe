"""FitFlow's own billing of gyms: a gym's tier subscription on the platform account
(dj-stripe, subscriber = gym), its unpaid date kept from Stripe's events in any order,
suspension after 14 unpaid days (not before), reactivation on payment, and a super-admin's
suspension that a payment must not lift.

Stripe is the fake server (platform billing added in `fake_platform.py`); events are made
by it at explicit dates and delivered to the real webhook, signed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from djstripe.models import Customer
from djstripe.models import Subscription as DjstripeSubscription

from apps.billing.errors import BillingError
from apps.billing.models import GymStripeState
from apps.billing.services import (
    gym_platform_billing_sync,
    gym_platform_subscribe,
    gym_suspended_for_nonpayment,
    gyms_suspend_unpaid,
)
from apps.billing.tasks import platform_billing_sweep_task
from apps.billing.tests.fake_platform import TIER_PRICES, PlatformFakeStripe
from apps.tenants.models import Gym
from apps.tenants.services import gym_suspend

pytestmark = pytest.mark.django_db

MARCH_1 = date(2026, 3, 1)


def subscribe(gym: Gym, fake: PlatformFakeStripe, deliver: Callable[..., Any], day: date = MARCH_1) -> str:
    """The gym starts its FitFlow subscription on `day`; Stripe's events are delivered."""
    with fake.at(day):
        subscription = gym_platform_subscribe(gym=gym, today=day)
    for event in reversed(fake.events):  # oldest first
        if event["type"] == "customer.subscription.created" and event["data"]["object"]["id"] == subscription:
            assert deliver(event).status_code == 200
    return subscription


def fail(gym_sub: str, fake: PlatformFakeStripe, day: date) -> list[dict[str, Any]]:
    """The gym's card is declined on `day`: invoice.payment_failed and subscription past_due."""
    with fake.at(day):
        invoice = fake.invoice_fail(gym_sub)
    return [fake.event("invoice.payment_failed", invoice["id"]), fake.event("customer.subscription.updated", gym_sub)]


def pay(gym_sub: str, fake: PlatformFakeStripe, day: date) -> list[dict[str, Any]]:
    """The gym pays on `day`: invoice.paid (and the subscription back to active)."""
    with fake.at(day):
        invoice = fake.invoice_pay(gym_sub)
    return [fake.event("invoice.paid", invoice["id"])]


def test_subscribing_makes_the_gym_a_dj_stripe_customer_with_its_tier(
    gym_a: Gym, platform_stripe: PlatformFakeStripe, deliver: Callable[..., Any]
) -> None:
    Gym.objects.filter(pk=gym_a.pk).update(billing_email="accounts@gym-a.test", tier=Gym.Tier.GROWTH)
    gym_a.refresh_from_db()

    subscription = subscribe(gym_a, platform_stripe, deliver)

    customer = Customer.objects.get(subscriber_id=gym_a.pk)
    stripe_customer = platform_stripe.get(customer.id)
    assert stripe_customer["email"] == "accounts@gym-a.test"
    assert stripe_customer["metadata"]["djstripe_subscriber"] == str(gym_a.pk)
    mirrored = DjstripeSubscription.objects.get(id=subscription)
    assert mirrored.customer_id == customer.id and mirrored.status == "active"
    assert platform_stripe.get(subscription)["items"]["data"][0]["price"]["id"] == TIER_PRICES["growth"][0]
    state = GymStripeState.objects.get(gym=gym_a)
    assert (state.subscription_id, state.subscription_status) == (subscription, "active")
    with pytest.raises(BillingError) as exc:
        gym_platform_subscribe(gym=gym_a, today=MARCH_1)
    assert exc.value.code == "already_subscribed"


def test_an_older_subscription_update_after_a_newer_one_does_not_regress_the_gym(
    gym_a: Gym, platform_stripe: PlatformFakeStripe, deliver: Callable[..., Any]
) -> None:
    subscription = subscribe(gym_a, platform_stripe, deliver)
    failed = fail(subscription, platform_stripe, date(2026, 4, 1))  # past_due on 1 April
    paid = pay(subscription, platform_stripe, date(2026, 4, 3))
    active_again = platform_stripe.event("customer.subscription.updated", subscription)  # newest: active on 3 April
    assert active_again["data"]["object"]["status"] == "active"
    assert failed[1]["data"]["object"]["status"] == "past_due"

    # Stripe delivers the newer events first, then the older ones
    outcomes = [deliver(e).json()["outcome"] for e in (active_again, *paid, failed[1], failed[0])]

    gym_a.refresh_from_db()
    state = GymStripeState.objects.get(gym=gym_a)
    assert outcomes == ["applied", "applied", "stale", "stale"]
    assert state.subscription_status == "active"
    assert state.billing_as_of == datetime(2026, 4, 3, 12, tzinfo=UTC)
    assert gym_a.platform_unpaid_since is None
    assert gym_a.status == Gym.Status.ACTIVE


def test_a_gym_unpaid_for_more_than_14_days_is_suspended_and_not_before(
    gym_a: Gym, gym_b: Gym, platform_stripe: PlatformFakeStripe, deliver: Callable[..., Any], client_a: Client
) -> None:
    sub_a = subscribe(gym_a, platform_stripe, deliver)
    sub_b = subscribe(gym_b, platform_stripe, deliver)
    for event in fail(sub_a, platform_stripe, date(2026, 4, 1)) + fail(sub_b, platform_stripe, date(2026, 4, 10)):
        assert deliver(event).status_code == 200
    # A second failed retry does not move the first unpaid day.
    for event in fail(sub_a, platform_stripe, date(2026, 4, 4)):
        deliver(event)
    gym_a.refresh_from_db()
    assert gym_a.platform_unpaid_since == date(2026, 4, 1)

    # 14 days unpaid: still running
    assert gyms_suspend_unpaid(today=date(2026, 4, 15)) == []
    gym_a.refresh_from_db()
    assert gym_a.status == Gym.Status.ACTIVE
    assert client_a.get("/").status_code != 403

    # 15 days: suspended, with the reason; gym B (9 days) is not
    suspended = gyms_suspend_unpaid(today=date(2026, 4, 16))

    gym_a.refresh_from_db()
    gym_b.refresh_from_db()
    assert [g.pk for g in suspended] == [gym_a.pk]
    assert gym_a.status == Gym.Status.SUSPENDED
    assert gym_a.suspended_reason == "FitFlow subscription unpaid since 2026-04-01"
    assert gym_suspended_for_nonpayment(gym=gym_a)
    assert gym_b.status == Gym.Status.ACTIVE
    assert client_a.get("/").status_code == 403
    # The sweep is idempotent.
    assert gyms_suspend_unpaid(today=date(2026, 4, 17)) == []


def test_a_gym_suspended_for_non_payment_is_reactivated_when_it_pays(
    gym_a: Gym, platform_stripe: PlatformFakeStripe, deliver: Callable[..., Any], client_a: Client
) -> None:
    subscription = subscribe(gym_a, platform_stripe, deliver)
    for event in fail(subscription, platform_stripe, date(2026, 4, 1)):
        deliver(event)
    gyms_suspend_unpaid(today=date(2026, 4, 20))
    gym_a.refresh_from_db()
    assert gym_a.status == Gym.Status.SUSPENDED

    # When the gym pays
    for event in pay(subscription, platform_stripe, date(2026, 4, 21)):
        assert deliver(event).json()["outcome"] == "applied"

    gym_a.refresh_from_db()
    assert (gym_a.status, gym_a.suspended_reason, gym_a.platform_unpaid_since) == (Gym.Status.ACTIVE, "", None)
    assert client_a.get("/").status_code != 403


def test_a_payment_does_not_lift_a_suspension_a_super_admin_made_for_another_reason(
    gym_a: Gym, platform_stripe: PlatformFakeStripe, deliver: Callable[..., Any]
) -> None:
    subscription = subscribe(gym_a, platform_stripe, deliver)
    for event in fail(subscription, platform_stripe, date(2026, 4, 1)):
        deliver(event)
    gym_suspend(gym=gym_a, reason="Suspended by root@fitflow.test: chargeback fraud")

    for event in pay(subscription, platform_stripe, date(2026, 4, 5)):
        deliver(event)

    gym_a.refresh_from_db()
    assert gym_a.status == Gym.Status.SUSPENDED
    assert gym_a.suspended_reason == "Suspended by root@fitflow.test: chargeback fraud"
    assert gym_a.platform_unpaid_since is None  # the bill itself is paid


def test_a_super_admin_resuspension_of_an_unpaid_gym_is_not_lifted_by_payment(
    gym_a: Gym, platform_stripe: PlatformFakeStripe, deliver: Callable[..., Any]
) -> None:
    subscription = subscribe(gym_a, platform_stripe, deliver)
    for event in fail(subscription, platform_stripe, date(2026, 4, 1)):
        deliver(event)
    gyms_suspend_unpaid(today=date(2026, 4, 20))
    gym_a.refresh_from_db()
    gym_suspend(gym=gym_a, reason="Suspended by root@fitflow.test: terms breach")

    for event in pay(subscription, platform_stripe, date(2026, 4, 21)):
        deliver(event)

    gym_a.refresh_from_db()
    assert gym_a.status == Gym.Status.SUSPENDED


def test_a_cancelled_subscription_is_unpaid_from_the_day_it_ended(
    gym_a: Gym, platform_stripe: PlatformFakeStripe, deliver: Callable[..., Any]
) -> None:
    subscription = subscribe(gym_a, platform_stripe, deliver)
    with platform_stripe.at(date(2026, 5, 2)):
        platform_stripe.subscription_cancel(subscription)

    response = deliver(platform_stripe.event("customer.subscription.deleted", subscription))

    gym_a.refresh_from_db()
    assert response.json()["outcome"] == "applied"
    assert gym_a.platform_unpaid_since == date(2026, 5, 2)
    assert GymStripeState.objects.get(gym=gym_a).subscription_status == "canceled"
    assert DjstripeSubscription.objects.get(id=subscription).status == "canceled"
    # A new subscription later is paid again.
    new_subscription = subscribe(gym_a, platform_stripe, deliver, day=date(2026, 5, 10))
    gym_a.refresh_from_db()
    assert gym_a.platform_unpaid_since is None
    assert GymStripeState.objects.get(gym=gym_a).subscription_id == new_subscription


def test_an_event_for_a_customer_that_is_no_gym_is_logged_and_answered_200(
    gym_a: Gym, platform_stripe: PlatformFakeStripe, deliver: Callable[..., Any], caplog
) -> None:
    subscription = subscribe(gym_a, platform_stripe, deliver)
    Customer.objects.filter(subscriber_id=gym_a.pk).update(subscriber=None)  # e.g. a customer made by hand
    events = fail(subscription, platform_stripe, date(2026, 4, 1))

    response = deliver(events[0])

    gym_a.refresh_from_db()
    assert response.status_code == 200
    assert response.json()["outcome"] == "unknown_customer"
    assert gym_a.platform_unpaid_since is None
    assert "no gym is customer" in caplog.text


def test_sync_reads_the_subscription_from_stripe_when_events_were_missed(
    gym_a: Gym, platform_stripe: PlatformFakeStripe, deliver: Callable[..., Any]
) -> None:
    subscription = subscribe(gym_a, platform_stripe, deliver)
    fail(subscription, platform_stripe, date(2026, 4, 1))  # events never delivered

    state = gym_platform_billing_sync(gym=gym_a, now=datetime(2026, 4, 2, 9, tzinfo=UTC))

    gym_a.refresh_from_db()
    assert (state.subscription_id, state.subscription_status) == (subscription, "past_due")
    assert gym_a.platform_unpaid_since == date(2026, 4, 2)
    assert DjstripeSubscription.objects.get(id=subscription).status == "past_due"
    # The missed events arriving late are older than the sync: they change nothing.
    assert (
        deliver(
            platform_stripe.event("invoice.payment_failed", platform_stripe.get(subscription)["latest_invoice"])
        ).json()["outcome"]
        == "stale"
    )


def test_the_daily_sweep_task_suspends_overdue_gyms_in_public(gym_a: Gym, gym_b: Gym) -> None:
    from django.utils import timezone

    today = timezone.now().date()
    Gym.objects.filter(pk=gym_a.pk).update(platform_unpaid_since=today - timedelta(days=20))
    Gym.objects.filter(pk=gym_b.pk).update(platform_unpaid_since=today - timedelta(days=3))

    suspended = platform_billing_sweep_task.apply().get()

    gym_a.refresh_from_db()
    gym_b.refresh_from_db()
    assert suspended == [gym_a.schema_name]
    assert (gym_a.status, gym_b.status) == (Gym.Status.SUSPENDED, Gym.Status.ACTIVE)
