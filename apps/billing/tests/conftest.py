"""Fixtures for the platform's Stripe tests: the fake Stripe server with platform billing,
and signed webhook deliveries to the public host."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from apps.billing.tests.fake_platform import PlatformFakeStripe, platform_stripe  # noqa: F401

PLATFORM_WEBHOOK = "/stripe/webhook/"
CONNECT_WEBHOOK = "/stripe/connect-webhook/"


@pytest.fixture
def deliver(public_client: Client, platform_stripe: PlatformFakeStripe) -> Callable[..., Any]:  # noqa: F811
    """`deliver(event, url=PLATFORM_WEBHOOK, secret=None)`: POST the event (a dict or an
    evt_ id of the fake) to the public host, signed with Stripe's scheme."""

    def post(event: dict[str, Any] | str, url: str = PLATFORM_WEBHOOK, secret: str | None = None) -> Any:
        body, headers = platform_stripe.webhook_request(event, secret)
        return public_client.post(
            url, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"]
        )

    return post
