"""The fake Stripe of the tests (`apps/invoices/tests/fake_stripe.py`), delivering its
events as Stripe does: signed webhooks POSTed to the stack's endpoints on the public
host, Connect events (those with `account`) to `/stripe/connect-webhook/` and the
platform's to `/stripe/webhook/`, each once in the order they happened, retried on a
non-2xx answer (Stripe retries for days; here a few times, a second apart)."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from apps.invoices.tests.fake_stripe import STRIPE_WEBHOOK_SECRET, FakeStripe, sign_webhook

DELIVERY_ATTEMPTS = 5


@dataclass(frozen=True)
class Delivery:
    """One delivered event: its id and type, and the endpoint's last answer."""

    event_id: str
    type: str
    account: str
    status: int
    body: str


class DeliveringFakeStripe(FakeStripe):
    """FakeStripe whose events are delivered to `webhook_base` (the stack's public URL,
    set once the stack runs) by a background thread. `deliveries` lists what was
    delivered; `wait_delivered` waits for an event type."""

    def __init__(self) -> None:
        self.webhook_base: str | None = None
        self.deliveries: list[Delivery] = []
        self._outbox: queue.Queue[str | None] = queue.Queue()
        self._delivered = threading.Condition()
        super().__init__()
        self._sender = threading.Thread(target=self._deliver_forever, name="fake-stripe-webhooks", daemon=True)
        self._sender.start()

    def _emit(self, scope: str, event_type: str, obj: dict[str, Any], previous_attributes: dict[str, Any] | None = None) -> None:  # fmt: skip
        super()._emit(scope, event_type, obj, previous_attributes)
        self._outbox.put(self._events[scope][-1].body)

    def stop(self) -> None:
        self._outbox.put(None)
        super().stop()

    def _deliver_forever(self) -> None:
        with httpx.Client(timeout=30) as client:
            while (body := self._outbox.get()) is not None:
                event = json.loads(body)
                base = self.webhook_base
                if base is None:
                    continue  # no stack yet: nobody listens (Stripe would retry later)
                path = "/stripe/connect-webhook/" if event.get("account") else "/stripe/webhook/"
                status, answer = 0, ""
                for attempt in range(DELIVERY_ATTEMPTS):
                    payload = body.encode()
                    headers = {"Stripe-Signature": sign_webhook(payload, STRIPE_WEBHOOK_SECRET)}
                    headers["Content-Type"] = "application/json"
                    try:
                        response = client.post(base + path, content=payload, headers=headers)
                        status, answer = response.status_code, response.text
                    except httpx.HTTPError as exc:
                        status, answer = 0, str(exc)
                    if 200 <= status < 300:
                        break
                    time.sleep(1 + attempt)
                with self._delivered:
                    self.deliveries.append(
                        Delivery(event["id"], event["type"], event.get("account", ""), status, answer[:500])
                    )
                    self._delivered.notify_all()

    def wait_delivered(self, event_type: str, *, count: int = 1, timeout: float = 30) -> list[Delivery]:
        """The first `count` deliveries of `event_type`, waiting for them; AssertionError
        if they do not come or an endpoint refused one."""
        deadline = time.monotonic() + timeout
        with self._delivered:
            while True:
                found = [d for d in self.deliveries if d.type == event_type]
                if len(found) >= count:
                    refused = [d for d in found if not 200 <= d.status < 300]
                    assert not refused, f"the stack refused webhooks: {refused}"
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{count} {event_type} webhook(s) not delivered within {timeout:.0f} s; "
                        f"delivered: {[(d.type, d.status) for d in self.deliveries]}"
                    )
                self._delivered.wait(left)
