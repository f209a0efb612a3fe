"""The fake Stripe server with the platform account's own billing: FitFlow's products,
prices, gyms' subscriptions and their invoices (what dj-stripe reads when it processes a
platform event). A subclass of `apps.invoices.tests.fake_stripe.FakeStripe`, so Connect
accounts, customers, charges and events behave exactly as there; still a real HTTP server.

Added endpoints (Stripe API reference shapes, API version 2026 "dahlia": invoices name
their subscription under `parent.subscription_details`, periods live on subscription items):
`GET /v1/account`, `POST /v1/subscriptions`, `GET /v1/subscriptions[/id]`,
`GET /v1/invoices/id`, `GET /v1/products/id[/features]`, `GET /v1/prices/id`. As on Stripe, the
platform may name its own account in `Stripe-Account` (dj-stripe does).

Test controls: `invoice_pay`, `invoice_fail`, `subscription_cancel`, `event` (the newest
event of a type about an object), and `at(day)` to date what happens next.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from apps.invoices.tests.fake_stripe import (
    STRIPE_WEBHOOK_SECRET,
    FakeStripe,
    FakeStripeError,
    _missing,
    _required,
    new_id,
)

_FIXTURES = Path(__file__).parent / "fixtures"
PLATFORM_ACCOUNT = "acct_1FitFlowPlatform0"
PRODUCT_ID = "prod_FitFlowGymTier"
TIER_PRICES = {"starter": ("price_fitflow_starter", 4900), "growth": ("price_fitflow_growth", 9900),
               "pro": ("price_fitflow_pro", 19900)}  # fmt: skip
MONTH = 30 * 86400
# dj-stripe refuses keys that do not look like Stripe's (`sk_test_` + 24 or more letters and
# digits); the fake takes any `sk_` key.
STRIPE_SECRET_KEY = "sk_test_FitFlowPlatformFake0000000000"


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((_FIXTURES / name).read_text())


_SUBSCRIPTION = _fixture("subscription_sub_fakefakefakefakefake0001.json")
_INVOICE = _fixture("invoice_in_fakefakefakefakefake0001.json")
_PRICE = _fixture("price_gold21323.json")
_PRODUCT = _fixture("product_prod_fake1.json")
# Fields that API version 2026 no longer returns.
_SUBSCRIPTION_DROP = ("plan", "quantity", "tax_percent", "discount", "current_period_start", "current_period_end")
_INVOICE_DROP = ("subscription", "charge", "payment_intent", "paid", "tax", "tax_percent", "discount",
                 "total_tax_amounts")  # fmt: skip


class PlatformFakeStripe(FakeStripe):
    """`FakeStripe` plus the platform's billing of gyms (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        with self._lock:
            acct = self._account_new(PLATFORM_ACCOUNT, email="billing@fitflow.test", country="GB")
            acct.update(charges_enabled=True, details_submitted=True, payouts_enabled=True)
            acct["settings"]["dashboard"]["display_name"] = "FitFlow"
            product = copy.deepcopy(_PRODUCT)
            product.update(id=PRODUCT_ID, name="FitFlow", created=self._now(), updated=self._now())
            self._store(product)
            for tier, (price_id, amount) in TIER_PRICES.items():
                price = copy.deepcopy(_PRICE)
                price.update(id=price_id, product=PRODUCT_ID, unit_amount=amount, unit_amount_decimal=str(amount),
                             currency="gbp", nickname=f"FitFlow {tier}", lookup_key=f"fitflow_{tier}",
                             created=self._now())  # fmt: skip
                self._store(price)

    # --- test controls --------------------------------------------------------------------
    @contextlib.contextmanager
    def at(self, day: date, hour: int = 12) -> Iterator[None]:
        """Objects and events made inside are dated `day` (UTC, at `hour`)."""
        saved = self.time_offset
        self.time_offset = int(datetime(day.year, day.month, day.day, hour, tzinfo=UTC).timestamp() - time.time())
        try:
            yield
        finally:
            self.time_offset = saved

    def invoice_pay(self, subscription_id: str) -> dict[str, Any]:
        """The gym's card pays a new period's invoice: invoice.paid, and the subscription
        back to active (customer.subscription.updated) if it was not. Returns the invoice."""
        with self._lock:
            sub = self._objects[subscription_id]
            invoice = self._invoice_new(sub, paid=True)
            self._emit("", "invoice.paid", invoice)
            self._subscription_status(sub, "active")
            return copy.deepcopy(invoice)

    def invoice_fail(self, subscription_id: str) -> dict[str, Any]:
        """The gym's card is declined for a new period's invoice: invoice.payment_failed,
        and the subscription past_due (customer.subscription.updated). Returns the invoice."""
        with self._lock:
            sub = self._objects[subscription_id]
            invoice = self._invoice_new(sub, paid=False)
            self._emit("", "invoice.payment_failed", invoice)
            self._subscription_status(sub, "past_due")
            return copy.deepcopy(invoice)

    def subscription_cancel(self, subscription_id: str) -> dict[str, Any]:
        """The subscription ends now: customer.subscription.deleted. Returns it."""
        with self._lock:
            sub = self._objects[subscription_id]
            sub.update(status="canceled", canceled_at=self._now(), ended_at=self._now())
            self._emit("", "customer.subscription.deleted", sub)
            return copy.deepcopy(sub)

    def event(self, event_type: str, object_id: str) -> dict[str, Any]:
        """The newest event of `event_type` about object `object_id` (KeyError if none)."""
        for event in self.events:
            if event["type"] == event_type and event["data"]["object"]["id"] == object_id:
                return event
        raise KeyError(f"no {event_type} event for {object_id}")

    # --- request handling -----------------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict[str, str], params: dict[str, Any]) -> tuple[int, bytes, dict[str, str], bool]:  # fmt: skip
        if headers.get("stripe-account") == PLATFORM_ACCOUNT:  # the platform naming itself
            headers = {k: v for k, v in headers.items() if k != "stripe-account"}
        return super().handle(method, path, headers, params)

    def _route(self, method: str, path: str, account: str, params: dict[str, Any]) -> Any:
        import re

        for route_method, pattern, action in _PLATFORM_ROUTES:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return action(self, account, params, *match.groups())
        return super()._route(method, path, account, params)

    # --- object helpers (lock held) -------------------------------------------------------
    def _store(self, obj: dict[str, Any], scope: str = "") -> dict[str, Any]:
        obj.setdefault("livemode", False)
        self._objects[obj["id"]], self._scope[obj["id"]] = obj, scope
        return obj

    def _subscription_status(self, sub: dict[str, Any], status: str) -> None:
        if sub["status"] != status:
            previous = {"status": sub["status"]}
            sub["status"] = status
            self._emit("", "customer.subscription.updated", sub, previous_attributes=previous)

    def _subscription_new(self, customer: str, price_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
        price = self._find("price", "", price_id, "items[0][price]")
        now = self._now()
        sub = copy.deepcopy(_SUBSCRIPTION)
        for key in _SUBSCRIPTION_DROP:
            sub.pop(key, None)
        sub.update(id=new_id("sub"), customer=customer, created=now, start_date=now, billing_cycle_anchor=now,
                   status="active", metadata=metadata, default_tax_rates=[], latest_invoice=None,
                   currency=price["currency"])  # fmt: skip
        sub["items"] = {"object": "list", "has_more": False, "total_count": 1,
                        "url": f"/v1/subscription_items?subscription={sub['id']}", "data": [{
                            "id": new_id("si", 14), "object": "subscription_item", "billing_thresholds": None,
                            "created": now, "metadata": {}, "price": copy.deepcopy(price), "quantity": 1,
                            "subscription": sub["id"], "tax_rates": [], "discounts": [],
                            "current_period_start": now, "current_period_end": now + MONTH}]}  # fmt: skip
        return self._store(sub)

    def _invoice_new(self, sub: dict[str, Any], *, paid: bool) -> dict[str, Any]:
        now = self._now()
        amount = sub["items"]["data"][0]["price"]["unit_amount"]
        invoice = copy.deepcopy(_INVOICE)
        for key in _INVOICE_DROP:
            invoice.pop(key, None)
        invoice.update(
            id=new_id("in"), customer=sub["customer"], created=now, period_start=now, period_end=now,
            currency=sub["currency"], subtotal=amount, total=amount, amount_due=amount,
            amount_paid=amount if paid else 0, amount_remaining=0 if paid else amount, attempt_count=1,
            attempted=True, status="paid" if paid else "open", default_tax_rates=[], discounts=[],
            billing_reason="subscription_cycle", metadata={}, number=f"FITFLOW-{self._seq + 1:04d}",
            next_payment_attempt=None if paid else now + 3 * 86400, webhooks_delivered_at=None,
            status_transitions={"finalized_at": now, "marked_uncollectible_at": None,
                                "paid_at": now if paid else None, "voided_at": None},
            parent={"type": "subscription_details", "quote_details": None,
                    "subscription_details": {"subscription": sub["id"], "metadata": sub["metadata"]}},
        )  # fmt: skip
        invoice["lines"] = {"object": "list", "data": [], "has_more": False, "total_count": 0,
                            "url": f"/v1/invoices/{invoice['id']}/lines"}  # fmt: skip
        sub["latest_invoice"] = invoice["id"]
        return self._store(invoice)


def _account_self(fake: PlatformFakeStripe, account: str, params: dict[str, Any]) -> Any:
    return fake._public(fake._find("account", "", account or PLATFORM_ACCOUNT))


def _subscription_create(fake: PlatformFakeStripe, account: str, params: dict[str, Any]) -> Any:
    if account:
        raise FakeStripeError(400, "invalid_request_error", "The fake bills only on the platform account.")
    customer = fake._find("customer", "", _required(params, "customer"), "customer")
    items = params.get("items") or []
    if not items or not items[0].get("price"):
        _required(params, "items")
    sub = fake._subscription_new(customer["id"], items[0]["price"], params.get("metadata") or {})
    fake._emit("", "customer.subscription.created", sub)
    invoice = fake._invoice_new(sub, paid=True)
    fake._emit("", "invoice.paid", invoice)
    return fake._public(sub)


def _subscription_list(fake: PlatformFakeStripe, account: str, params: dict[str, Any]) -> Any:
    status = params.get("status") or ""

    def wanted(sub: dict[str, Any]) -> bool:  # no status: all but canceled, as on Stripe
        if params.get("customer") and sub["customer"] != params["customer"]:
            return False
        return status == "all" or sub["status"] == status or (not status and sub["status"] != "canceled")

    subs = [
        fake._public(o)
        for oid, o in fake._objects.items()
        if o["object"] == "subscription" and fake._scope[oid] == account and wanted(o)
    ]
    subs.sort(key=lambda s: -s["created"])
    return {"object": "list", "data": subs, "has_more": False, "url": "/v1/subscriptions"}


def _retrieve(object_type: str) -> Callable[..., Any]:
    def action(fake: PlatformFakeStripe, account: str, params: dict[str, Any], object_id: str) -> Any:
        obj = fake._objects.get(object_id)
        if obj is None or obj["object"] != object_type or fake._scope[object_id] != account:
            raise _missing(object_type, object_id)
        return fake._public(obj)

    return action


def _product_features(fake: PlatformFakeStripe, account: str, params: dict[str, Any], product_id: str) -> Any:
    fake._find("product", account, product_id)
    return {"object": "list", "data": [], "has_more": False, "url": f"/v1/products/{product_id}/features"}


_PLATFORM_ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("GET", r"/v1/account", _account_self),
    ("POST", r"/v1/subscriptions", _subscription_create),
    ("GET", r"/v1/subscriptions", _subscription_list),
    ("GET", r"/v1/subscriptions/([^/]+)", _retrieve("subscription")),
    ("GET", r"/v1/invoices/([^/]+)", _retrieve("invoice")),
    ("GET", r"/v1/products/([^/]+)", _retrieve("product")),
    ("GET", r"/v1/products/([^/]+)/features", _product_features),
    ("GET", r"/v1/prices/([^/]+)", _retrieve("price")),
]


@pytest.fixture
def platform_stripe(settings: Any) -> Iterator[PlatformFakeStripe]:
    """A running PlatformFakeStripe with the Stripe settings pointed at it (as the
    `fake_stripe` fixture does, with a secret key dj-stripe accepts) and FitFlow's tier
    prices set."""
    fake = PlatformFakeStripe()
    fake.start()
    try:
        settings.STRIPE_API_BASE = fake.url
        settings.STRIPE_SECRET_KEY = STRIPE_SECRET_KEY
        settings.STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET
        settings.STRIPE_CONNECT_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET
        settings.FITFLOW_TIER_PRICES = {tier: price for tier, (price, _amount) in TIER_PRICES.items()}
        yield fake
    finally:
        fake.stop()
