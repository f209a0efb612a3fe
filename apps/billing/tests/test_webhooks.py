"""Stripe webhooks on the public host: Stripe's signature scheme, one effect per event id
however often it is delivered, Connect events routed to their gym's schema (and to no
other gym), unknown accounts, and `account.updated` applied in public in any order.

Webhooks are signed with the real scheme (`stripe.WebhookSignature`) by the fake Stripe
server, which also makes the events (a real charge on a gym's connected account, a real
account update). Routing is checked on the real Redis broker: the queued
`stripe_event_apply_task` message and its `_schema_name` header.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from djstripe.models import Event as DjstripeEvent

from apps.billing.models import StripeWebhookEvent
from apps.billing.tests.broker import Broker
from apps.billing.tests.conftest import CONNECT_WEBHOOK, PLATFORM_WEBHOOK
from apps.billing.tests.fake_platform import PlatformFakeStripe
from apps.invoices import stripe_api
from apps.invoices.tests.fake_stripe import sign_webhook
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker() -> Iterator[Broker]:
    broker = Broker()
    broker.pause_workers()
    yield broker
    broker.stripe_events()  # everything this test queued
    broker.remove_seen()
    broker.resume_workers()


def connect(gym: Gym, fake: PlatformFakeStripe) -> str:
    """Give the gym a connected account on the fake; returns its id."""
    account = fake.add_account(charges_enabled=False)
    Gym.objects.filter(pk=gym.pk).update(stripe_account_id=account)
    gym.stripe_account_id = account
    return account


def charge_event(fake: PlatformFakeStripe, account: str, amount: str = "25.00") -> dict[str, Any]:
    """A real `payment_intent.succeeded` on `account`: a card charged through our gateway."""
    customer, card = fake.saved_card(account=account)
    result = stripe_api.payment_intent_charge(
        account=account,
        customer=customer,
        payment_method=card,
        amount=Decimal(amount),
        currency="GBP",
        idempotency_key=f"test-{customer}",
        metadata={"invoice_id": "1"},
    )
    return fake.event("payment_intent.succeeded", result.id)


def post(client: Client, body: bytes, signature: str | None, url: str = CONNECT_WEBHOOK) -> Any:
    headers = {"Stripe-Signature": signature} if signature is not None else {}
    return client.post(url, body, content_type="application/json", headers=headers)


# --- signatures ------------------------------------------------------------------------------


def test_a_forged_stale_or_missing_signature_is_refused_and_leaves_no_trace(
    public_client: Client, platform_stripe: PlatformFakeStripe, gym_a: Gym, broker: Broker, settings
) -> None:
    # Given a real Connect event for gym A, and a Connect endpoint with its own secret
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = "whsec_connect_endpoint"
    account = connect(gym_a, platform_stripe)
    event = charge_event(platform_stripe, account)
    body = json.dumps(event).encode()
    tampered = json.dumps({**event, "type": "payment_intent.payment_failed"}).encode()

    answers = [
        post(public_client, body, sign_webhook(body, "whsec_someone_else")).status_code,  # wrong secret
        post(public_client, body, sign_webhook(body, settings.STRIPE_WEBHOOK_SECRET)).status_code,  # platform's
        post(public_client, tampered, sign_webhook(body, "whsec_connect_endpoint")).status_code,  # body changed
        post(public_client, body, sign_webhook(body, "whsec_connect_endpoint", int(time.time()) - 600)).status_code,
        post(public_client, body, None).status_code,  # no header
        post(public_client, body, "t=1,v1=deadbeef").status_code,
    ]

    assert answers == [400] * 6
    refused = post(public_client, body, None)
    assert refused.json()["error"]["code"] == "invalid_signature"
    assert not StripeWebhookEvent.objects.exists()
    assert not DjstripeEvent.objects.exists()
    assert broker.stripe_events() == []
    # The right secret is accepted.
    good = post(public_client, body, sign_webhook(body, "whsec_connect_endpoint"))
    assert good.status_code == 200


def test_a_signed_body_that_is_not_an_event_is_a_400(
    public_client: Client, platform_stripe: PlatformFakeStripe
) -> None:
    body = b"this is not json"
    response = post(public_client, body, sign_webhook(body, "whsec_test_fake"), url=PLATFORM_WEBHOOK)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payload"
    assert not StripeWebhookEvent.objects.exists()


def test_webhooks_are_served_on_the_public_host_only(
    client_a: Client, public_client: Client, platform_stripe: PlatformFakeStripe
) -> None:
    assert client_a.post(PLATFORM_WEBHOOK, b"{}", content_type="application/json").status_code == 404
    assert client_a.post(CONNECT_WEBHOOK, b"{}", content_type="application/json").status_code == 404
    assert public_client.get(PLATFORM_WEBHOOK).status_code == 405


# --- Connect events: routing ------------------------------------------------------------------


def test_a_connect_event_is_queued_for_its_gym_only(
    deliver: Callable[..., Any],
    platform_stripe: PlatformFakeStripe,
    gym_a: Gym,
    gym_b: Gym,
    broker: Broker,
    django_capture_on_commit_callbacks,
) -> None:
    # Given two gyms, each with its own connected account and a charge on it
    event_a = charge_event(platform_stripe, connect(gym_a, platform_stripe), "25.00")
    event_b = charge_event(platform_stripe, connect(gym_b, platform_stripe), "40.00")

    # When each event is delivered (each request commits before the next)
    for event in (event_a, event_b):
        with django_capture_on_commit_callbacks(execute=True):
            response = deliver(event, url=CONNECT_WEBHOOK)
        assert response.status_code == 200
        assert response.json()["outcome"] == "routed"

    # Then each is queued once, for its own gym's schema, with the event as Stripe sent it
    queued_a, queued_b = broker.stripe_events(event_a["id"]), broker.stripe_events(event_b["id"])
    assert [(q.schema_name, q.event) for q in queued_a] == [(gym_a.schema_name, event_a)]
    assert [(q.schema_name, q.event) for q in queued_b] == [(gym_b.schema_name, event_b)]
    assert queued_a[0].event["data"]["object"]["amount"] == 2500
    record = StripeWebhookEvent.objects.get(pk=event_a["id"])
    assert (record.gym_id, record.outcome, record.account) == (gym_a.pk, "routed", event_a["account"])
    assert record.processed_at is not None
    # dj-stripe does not mirror a gym's member payments into the public schema.
    assert not DjstripeEvent.objects.filter(id__in=[event_a["id"], event_b["id"]]).exists()


def test_a_connect_event_delivered_five_times_is_queued_once(
    deliver: Callable[..., Any],
    platform_stripe: PlatformFakeStripe,
    gym_a: Gym,
    broker: Broker,
    django_capture_on_commit_callbacks,
) -> None:
    event = charge_event(platform_stripe, connect(gym_a, platform_stripe))

    answers = []
    for _ in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(deliver(event, url=CONNECT_WEBHOOK).json())

    assert [a["duplicate"] for a in answers] == [False, True, True, True, True]
    assert len(broker.stripe_events(event["id"])) == 1
    assert StripeWebhookEvent.objects.get(pk=event["id"]).deliveries == 5


def test_a_connect_event_for_an_unknown_account_is_answered_200_and_not_queued(
    deliver: Callable[..., Any],
    platform_stripe: PlatformFakeStripe,
    gym_a: Gym,
    broker: Broker,
    django_capture_on_commit_callbacks,
    caplog,
) -> None:
    connect(gym_a, platform_stripe)
    stranger = platform_stripe.add_account()  # no gym has it
    event = charge_event(platform_stripe, stranger)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = deliver(event, url=CONNECT_WEBHOOK)

    assert response.status_code == 200
    assert response.json()["outcome"] == "unknown_account"
    assert callbacks == []
    assert broker.stripe_events(event["id"]) == []
    assert StripeWebhookEvent.objects.get(pk=event["id"]).gym is None
    assert stranger in caplog.text


# --- Connect events: account.updated, in public ---------------------------------------------------


def test_account_updated_sets_charges_enabled_in_any_order_and_is_not_queued(
    deliver: Callable[..., Any],
    platform_stripe: PlatformFakeStripe,
    gym_a: Gym,
    gym_b: Gym,
    broker: Broker,
    django_capture_on_commit_callbacks,
) -> None:
    account = connect(gym_a, platform_stripe)
    connect(gym_b, platform_stripe)
    with platform_stripe.at(date(2026, 3, 1)):
        platform_stripe.account_update(account, charges_enabled=True)  # onboarding done
    with platform_stripe.at(date(2026, 3, 2)):
        platform_stripe.account_update(account, charges_enabled=False)  # Stripe restricted it
    enabled, disabled = (
        platform_stripe.events[1],
        platform_stripe.events[0],
    )
    assert (enabled["data"]["object"]["charges_enabled"], disabled["data"]["object"]["charges_enabled"]) == (
        True,
        False,
    )

    # The newer event arrives first, then the older one, then both again.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        outcomes = [deliver(e, url=CONNECT_WEBHOOK).json()["outcome"] for e in (disabled, enabled, disabled, enabled)]

    gym_a.refresh_from_db()
    gym_b.refresh_from_db()
    assert outcomes == ["applied", "stale", "applied", "stale"]
    assert gym_a.stripe_charges_enabled is False
    assert gym_b.stripe_charges_enabled is False  # another gym's account is untouched
    assert callbacks == []
    assert broker.stripe_events() == []

    # A later update wins.
    with platform_stripe.at(date(2026, 3, 3)):
        platform_stripe.account_update(account, charges_enabled=True)
    assert deliver(platform_stripe.events[0], url=CONNECT_WEBHOOK).json()["outcome"] == "applied"
    gym_a.refresh_from_db()
    assert gym_a.stripe_charges_enabled is True and gym_a.stripe_connected


# --- platform events -------------------------------------------------------------------------


def test_a_platform_event_delivered_five_times_is_applied_once(
    deliver: Callable[..., Any], platform_stripe: PlatformFakeStripe, gym_a: Gym
) -> None:
    from apps.billing.services import gym_platform_subscribe

    with platform_stripe.at(date(2026, 3, 1)):
        subscription = gym_platform_subscribe(gym=gym_a, today=date(2026, 3, 1))
    with platform_stripe.at(date(2026, 4, 1)):
        invoice = platform_stripe.invoice_fail(subscription)
    event = platform_stripe.event("invoice.payment_failed", invoice["id"])

    answers = [deliver(event).json() for _ in range(5)]

    gym_a.refresh_from_db()
    assert [a["duplicate"] for a in answers] == [False, True, True, True, True]
    assert answers[0]["outcome"] == "applied"
    assert gym_a.platform_unpaid_since == date(2026, 4, 1)
    assert StripeWebhookEvent.objects.get(pk=event["id"]).deliveries == 5
    # dj-stripe mirrored it once: one Event row, the invoice read from Stripe once.
    assert DjstripeEvent.objects.filter(id=event["id"]).count() == 1
    reads = [r for r in platform_stripe.requests if r.method == "GET" and r.path == f"/v1/invoices/{invoice['id']}"]
    assert len(reads) == 1


def test_a_failure_in_dj_stripe_does_not_hold_back_the_gym_and_stripe_is_asked_to_retry(
    deliver: Callable[..., Any], platform_stripe: PlatformFakeStripe, gym_a: Gym
) -> None:
    from apps.billing.services import gym_platform_subscribe

    with platform_stripe.at(date(2026, 3, 1)):
        subscription = gym_platform_subscribe(gym=gym_a, today=date(2026, 3, 1))
    with platform_stripe.at(date(2026, 4, 1)):
        invoice = platform_stripe.invoice_fail(subscription)
    event = platform_stripe.event("invoice.payment_failed", invoice["id"])

    # Stripe's API is down while dj-stripe reads the objects back
    platform_stripe.fail_next(1, status=503)
    first = deliver(event)

    gym_a.refresh_from_db()
    record = StripeWebhookEvent.objects.get(pk=event["id"])
    assert first.status_code == 503
    assert first.json()["error"]["code"] == "retry_later"
    assert gym_a.platform_unpaid_since == date(2026, 4, 1)  # the gym's standing is applied anyway
    assert record.processed_at is None and "dj-stripe" in record.error
    assert not DjstripeEvent.objects.filter(id=event["id"]).exists()

    # Stripe delivers it again once the API is back: the mirror is done, nothing doubles.
    second = deliver(event)

    record.refresh_from_db()
    assert second.status_code == 200 and second.json()["duplicate"] is False
    assert record.processed_at is not None and record.error == "" and record.deliveries == 2
    assert DjstripeEvent.objects.filter(id=event["id"]).count() == 1
    assert deliver(event).json()["duplicate"] is True


def test_an_account_update_missed_before_the_gym_stored_its_account_is_recovered_by_a_refresh(
    deliver: Callable[..., Any], platform_stripe: PlatformFakeStripe, gym_a: Gym
) -> None:
    from django.utils import timezone

    from apps.billing.services import gym_connect_account_refresh

    # Onboarding finishes before gym A has stored its account id: an unknown account then
    account = platform_stripe.add_account(charges_enabled=False)
    platform_stripe.account_update(account, charges_enabled=True)
    assert deliver(platform_stripe.events[0], url=CONNECT_WEBHOOK).json()["outcome"] == "unknown_account"
    Gym.objects.filter(pk=gym_a.pk).update(stripe_account_id=account)
    gym_a.refresh_from_db()

    # The onboarding return (or the super-admin) reads the account from Stripe
    gym_connect_account_refresh(gym=gym_a, now=timezone.now())

    gym_a.refresh_from_db()
    assert gym_a.stripe_charges_enabled is True
    # The old delivery replayed changes nothing.
    assert deliver(platform_stripe.events[0], url=CONNECT_WEBHOOK).json()["duplicate"] is True
