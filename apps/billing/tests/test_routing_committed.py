"""Connect events from webhook to the gym's schema, committed, through a real Celery worker.

The webhook requests run committed (on a connection of their own, in a thread), so their
`transaction.on_commit` really queues `stripe_event_apply_task` on Redis; the worker
process applies it in the schema the message names. Gyms of the test's own are
provisioned and dropped afterwards (the session gyms never get committed rows), the same
way as `apps/memberships/tests/test_tasks_worker.py`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
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


@pytest.fixture
def connected_gyms(platform_stripe: PlatformFakeStripe) -> Iterator[list[Gym]]:
    """Two committed gyms, each with a connected account on the fake; dropped afterwards
    with their schemas and the webhook records about them."""

    def provision() -> list[Gym]:
        gyms = []
        for name in ("Routed", "Bystander"):
            gym = gym_provision(name=f"{name} Gym", slug=f"{name.lower()}-{uuid.uuid4().hex[:8]}", status="active")
            Gym.objects.filter(pk=gym.pk).update(stripe_account_id=platform_stripe.add_account())
            gym.refresh_from_db()
            gyms.append(gym)
        return gyms

    gyms = committed(provision)
    yield gyms
    accounts = [gym.stripe_account_id for gym in gyms]
    committed(lambda: StripeWebhookEvent.objects.filter(account__in=accounts).delete())
    for gym in gyms:

        def drop(gym: Gym = gym) -> None:
            gym.delete(force_drop=True)  # its schema, domain and rows

        committed(drop)


@pytest.fixture
def broker_down() -> Iterator[Callable[[], None]]:
    """Makes the Celery broker unreachable from this process (Redis on a port where nothing
    listens) until the returned function brings it back; the worker is not affected."""
    from kombu import pools

    from fitflow.celery import app

    def drop_connections() -> None:  # the next publish connects anew, to broker_url
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    saved = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:9/0"
    drop_connections()

    def restore() -> None:
        app.conf.broker_url = saved
        drop_connections()

    yield restore
    restore()


def charge_event(fake: PlatformFakeStripe, gym: Gym) -> dict[str, Any]:
    """A real `payment_intent.succeeded` on the gym's account."""
    customer, card = fake.saved_card(account=gym.stripe_account_id)
    charge = stripe_api.payment_intent_charge(
        account=gym.stripe_account_id,
        customer=customer,
        payment_method=card,
        amount=Decimal("30.00"),
        currency="GBP",
        idempotency_key=f"committed-test-{customer}",
        metadata={},
    )
    return fake.event("payment_intent.succeeded", charge.id)


def delivery(fake: PlatformFakeStripe, event: dict[str, Any]) -> Callable[[], tuple[int, dict[str, Any]]]:
    """A committed delivery of `event` to the Connect webhook: () -> (status, JSON answer)."""
    body, headers = fake.webhook_request(event)

    def deliver() -> tuple[int, dict[str, Any]]:
        response = Client(HTTP_HOST="localhost").post(
            CONNECT_WEBHOOK,
            body,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"],
        )
        return response.status_code, response.json()

    return deliver


def applied_in(gym: Gym, event_id: str, wait: bool = False) -> list[str]:
    """The outcomes recorded for `event_id` in the gym's own StripeEvent table (waiting up
    to WORKER_TIMEOUT_S for one to appear when `wait`)."""

    def read() -> list[str]:
        with tenant_context(gym):
            return list(StripeEvent.objects.filter(pk=event_id).values_list("outcome", flat=True))

    deadline = time.monotonic() + (WORKER_TIMEOUT_S if wait else 0)
    found = committed(read)
    while wait and not found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = committed(read)
    return found


def test_a_connect_event_reaches_its_gym_schema_once_and_no_other(
    celery_worker_process, platform_stripe: PlatformFakeStripe, connected_gyms: list[Gym]
) -> None:
    routed, bystander = connected_gyms
    event = charge_event(platform_stripe, routed)
    deliver = delivery(platform_stripe, event)

    # When Stripe delivers the event five times
    answers = [committed(deliver) for _ in range(5)]

    # Then the worker applies it once, in the routed gym's schema only
    assert [status for status, _ in answers] == [200] * 5
    assert len(applied_in(routed, event["id"], wait=True)) == 1
    assert applied_in(bystander, event["id"]) == []
    record = committed(lambda: StripeWebhookEvent.objects.get(pk=event["id"]))
    assert (record.gym_id, record.deliveries, record.outcome) == (routed.pk, 5, "routed")


def test_an_event_the_broker_did_not_take_is_queued_on_the_next_delivery(
    celery_worker_process,
    platform_stripe: PlatformFakeStripe,
    connected_gyms: list[Gym],
    broker_down: Callable[[], None],
) -> None:
    routed, _ = connected_gyms
    event = charge_event(platform_stripe, routed)
    deliver = delivery(platform_stripe, event)

    # Redis is unreachable when Stripe first delivers: Stripe is asked to deliver again
    status, answer = committed(deliver)
    record = committed(lambda: StripeWebhookEvent.objects.get(pk=event["id"]))
    assert (status, answer["error"]["code"]) == (503, "queue_unavailable")
    assert record.processed_at is None and record.error.startswith("queue:")

    # Stripe's next delivery finds the broker back: queued, applied once
    broker_down()
    status, answer = committed(deliver)

    record = committed(lambda: StripeWebhookEvent.objects.get(pk=event["id"]))
    assert (status, answer["duplicate"]) == (200, False)
    assert record.processed_at is not None and record.error == ""
    assert len(applied_in(routed, event["id"], wait=True)) == 1
    assert committed(deliver)[1]["duplicate"] is True
