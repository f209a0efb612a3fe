"""The super-admin's view of FitFlow billing (public /admin/tenants/gym/): tier, status,
subscription status and unpaid date in the list, a billing filter, and the sync and
sweep actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts.models import User
from apps.billing.models import GymStripeState
from apps.billing.tests.fake_platform import PlatformFakeStripe
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

GYM_LIST = "/admin/tenants/gym/"


@pytest.fixture
def superadmin_client(public_client: Client) -> Client:
    admin = User.objects.create_superuser(email="root@fitflow.test", password="x-very-long-password")
    public_client.force_login(admin)
    return public_client


def bare_gyms(count: int) -> list[Gym]:
    """Gym rows without schemas (the admin list only reads public rows)."""
    gyms = [
        Gym.objects.create(name=f"Listed {i:02d}", slug=f"listed-{i:02d}", schema_name=f"gym_listed_{i:02d}")
        for i in range(count)
    ]
    GymStripeState.objects.bulk_create(
        GymStripeState(gym=gym, subscription_id=f"sub_{i}", subscription_status="active") for i, gym in enumerate(gyms)
    )
    return gyms


def test_the_gym_list_shows_billing_and_filters_by_it(
    superadmin_client: Client, gym_a: Gym, gym_b: Gym, django_assert_max_num_queries
) -> None:
    bare_gyms(30)
    GymStripeState.objects.create(gym=gym_a, subscription_id="sub_a", subscription_status="past_due")
    Gym.objects.filter(pk=gym_a.pk).update(platform_unpaid_since=date(2026, 4, 1), tier=Gym.Tier.PRO)

    with django_assert_max_num_queries(16):  # 7 queries, each after a SET search_path
        listing = superadmin_client.get(GYM_LIST)
    unpaid = superadmin_client.get(GYM_LIST, {"platform_billing": "unpaid"})
    paid = superadmin_client.get(GYM_LIST, {"platform_billing": "paid"})
    without = superadmin_client.get(GYM_LIST, {"platform_billing": "none"})

    assert listing.status_code == 200
    assert b"past_due" in listing.content and b"April 1, 2026" in listing.content
    assert b"FitFlow subscription" in listing.content and b"Pro" in listing.content
    assert b"Gym A" in unpaid.content and b"Gym B" not in unpaid.content and b"Listed 00" not in unpaid.content
    assert b"Listed 00" in paid.content and b"Gym A" not in paid.content
    assert b"Gym B" in without.content and b"Gym A" not in without.content


def test_the_sweep_action_suspends_only_the_selected_overdue_gyms(
    superadmin_client: Client, gym_a: Gym, gym_b: Gym
) -> None:
    long_ago = timezone.now().date() - timedelta(days=30)
    Gym.objects.filter(pk__in=[gym_a.pk, gym_b.pk]).update(platform_unpaid_since=long_ago)

    response = superadmin_client.post(
        GYM_LIST, {"action": "platform_unpaid_sweep", "_selected_action": [gym_a.pk]}, follow=True
    )

    gym_a.refresh_from_db()
    gym_b.refresh_from_db()
    assert response.status_code == 200
    assert b"Suspended for non-payment: Gym A" in response.content
    assert gym_a.status == Gym.Status.SUSPENDED
    assert gym_a.suspended_reason == f"FitFlow subscription unpaid since {long_ago:%Y-%m-%d}"
    assert gym_b.status == Gym.Status.ACTIVE
    suspended_filter = superadmin_client.get(GYM_LIST, {"platform_billing": "suspended_unpaid"})
    assert b"Gym A" in suspended_filter.content and b"Gym B" not in suspended_filter.content


def test_the_subscribe_and_sync_actions_read_stripe(
    superadmin_client: Client, gym_a: Gym, platform_stripe: PlatformFakeStripe, deliver: Callable[..., Any]
) -> None:
    superadmin_client.post(GYM_LIST, {"action": "platform_subscribe", "_selected_action": [gym_a.pk]})
    subscription = GymStripeState.objects.get(gym=gym_a).subscription_id
    assert platform_stripe.get(subscription)["status"] == "active"
    platform_stripe.invoice_fail(subscription)  # its events are never delivered

    response = superadmin_client.post(
        GYM_LIST, {"action": "platform_billing_sync", "_selected_action": [gym_a.pk]}, follow=True
    )

    gym_a.refresh_from_db()
    assert b"FitFlow billing synced for 1 gym(s)." in response.content
    assert GymStripeState.objects.get(gym=gym_a).subscription_status == "past_due"
    assert gym_a.platform_unpaid_since == timezone.now().date()


def test_the_subscribe_action_explains_a_missing_tier_price(
    superadmin_client: Client, gym_a: Gym, platform_stripe: PlatformFakeStripe, settings
) -> None:
    settings.FITFLOW_TIER_PRICES = {"starter": "", "growth": "", "pro": ""}

    response = superadmin_client.post(
        GYM_LIST, {"action": "platform_subscribe", "_selected_action": [gym_a.pk]}, follow=True
    )

    assert b"No Stripe price is set for the starter tier." in response.content
    assert not GymStripeState.objects.filter(gym=gym_a).exists()


def test_the_connect_refresh_action_reads_the_account_from_stripe(
    superadmin_client: Client, gym_a: Gym, gym_b: Gym, platform_stripe: PlatformFakeStripe
) -> None:
    Gym.objects.filter(pk=gym_a.pk).update(stripe_account_id=platform_stripe.add_account(charges_enabled=True))

    response = superadmin_client.post(
        GYM_LIST, {"action": "connect_account_refresh", "_selected_action": [gym_a.pk, gym_b.pk]}, follow=True
    )

    gym_a.refresh_from_db()
    gym_b.refresh_from_db()
    assert b"Gym A: Stripe charges enabled." in response.content
    assert b"Gym B" not in response.content.split(b"messagelist")[-1].split(b"</ul>")[0]  # no account: skipped
    assert (gym_a.stripe_charges_enabled, gym_b.stripe_charges_enabled) == (True, False)
