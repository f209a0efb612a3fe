"""A Connect event from webhook to the gym's schema through a real Celery worker.

The webhook request runs committed (on a connection of its own, in a thread), so its
`transaction.on_commit` really queues `stripe_event_apply_task` on Redis; the worker
process applies it in the schema named by the message. Two gyms of the test's own are
provisioned and dropped afterwards (the session gyms never get committed rows), the same
way as `apps/memberships/tests/test_tasks_worker.py`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from django.db import connections
from django.test import Client
from django_tenants.utils import tenant_context

from apps.billing.models import StripeWebhookEvent
from apps.billing.tests.conftest import CONNECT_WEBHOOK
from apps.billing.tests.fake_platform import PlatformFakeStripe
from apps.invoices import stripe_api
from apps.invoices.models import StripeEvent
from apps.tenants.models import Gym
from apps.tenants.services import gym_provision

pytestmark = pytest.mark.django_db

WORKER_TIMEOUT_S = 60
T = TypeVar("T")


def committed(work: Callable[[], T]) -> T:
    """Run `work` on a connection of its own (a new thread), committed as it goes."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def applied_in(gym: Gym, event_id: str) -> list[str]:
    """The outcomes recorded for `event_id` in the gym's own StripeEvent table."""

    def read() -> list[str]:
        with tenant_context(gym):
            return list(StripeEvent.objects.filter(pk=event_id).values_list("outcome", flat=True))

    return committed(read)


def test_a_connect_event_reaches_its_gym_schema_once_and_no_other(
    celery_worker_process, platform_stripe: PlatformFakeStripe
) -> None:
    def provision() -> tuple[Gym, Gym]:
        gyms = []
        for name in ("Routed", "Bystander"):
            gym = gym_provision(name=f"{name} Gym", slug=f"{name.lower()}-{uuid.uuid4().hex[:8]}", status="active")
            Gym.objects.filter(pk=gym.pk).update(stripe_account_id=platform_stripe.add_account())
            gym.refresh_from_db()
            gyms.append(gym)
        return gyms[0], gyms[1]

    routed, bystander = committed(provision)
    event_id = ""
    try:
        customer, card = platform_stripe.saved_card(account=routed.stripe_account_id)
        charge = stripe_api.payment_intent_charge(
            account=routed.stripe_account_id,
            customer=customer,
            payment_method=card,
            amount=Decimal("30.00"),
            currency="GBP",
            idempotency_key=f"worker-test-{customer}",
            metadata={},
        )
        event = platform_stripe.event("payment_intent.succeeded", charge.id)
        event_id = event["id"]
        body, headers = platform_stripe.webhook_request(event)

        def deliver() -> int:
            response = Client(HTTP_HOST="localhost").post(
                CONNECT_WEBHOOK,
                body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"],
            )
            return response.status_code

        # When Stripe delivers the event five times
        assert [committed(deliver) for _ in range(5)] == [200] * 5

        # Then the worker applies it in the routed gym's schema
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        while not applied_in(routed, event_id) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(applied_in(routed, event_id)) == 1
        assert applied_in(bystander, event_id) == []
        record = committed(lambda: StripeWebhookEvent.objects.get(pk=event_id))
        assert (record.gym_id, record.deliveries, record.outcome) == (routed.pk, 5, "routed")
    finally:
        committed(lambda: StripeWebhookEvent.objects.filter(pk=event_id).delete())
        for gym in (routed, bystander):
            committed(lambda gym=gym: gym.delete(force_drop=True))
