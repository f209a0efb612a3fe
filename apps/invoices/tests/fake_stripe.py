"""A fake Stripe API: a real HTTP server for tests and benches (DESIGN.md 7).

Our code reaches it exactly as it reaches Stripe: `apps.invoices.stripe_api` through the
`stripe` library with `settings.STRIPE_API_BASE` pointing here, so separate processes
(Celery workers, bench runs) can use it too. Bodies follow Stripe's API reference, built
from dj-stripe's fixtures in `stripe_fixtures/`; errors use Stripe's `{"error": {...}}`
shape and status codes (401, 402 card_error with the PaymentIntent embedded, 404
resource_missing, 400 invalid_request_error / idempotency_error).

Behaviour kept from Stripe:
- objects live on the account named by `Stripe-Account` (none = the platform); another
  account's ids are 404. An unknown `acct_...` is registered as a charges-enabled
  Standard account on first use;
- `Idempotency-Key` (per account): the same key replays the first answer byte for byte
  with `Idempotent-Replayed: true`; the same key with other parameters is a 400
  idempotency_error. Validation errors and outages are not saved, as on Stripe;
- card outcomes follow Stripe's test payment methods (`pm_card_visa`,
  `pm_card_chargeDeclined`...); saved cards are `pm_...` copies of them;
- every change records an event (newest first per account, `account` set on Connect
  events), listed by `GET /v1/events` with Stripe's filters and pagination.

In Python: `with FakeStripe() as fake: ...` or the `fake_stripe` pytest fixture (which also
sets the settings). Standalone: `python -m apps.invoices.tests.fake_stripe --port 12111
[--latency-ms 40]` prints its base URL and serves until killed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import signal
import socket
import string
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import pytest
import stripe

from apps.core.tests.fake_http import TrackedHandler

STRIPE_SECRET_KEY = "sk_test_fake"
STRIPE_WEBHOOK_SECRET = "whsec_test_fake"
API_VERSION = stripe.api_version

_FIXTURES = Path(__file__).parent / "stripe_fixtures"
_ALNUM = string.ascii_letters + string.digits


def _template(name: str, drop: tuple[str, ...] = ()) -> str:
    obj = json.loads((_FIXTURES / name).read_text())
    for key in drop:
        obj.pop(key, None)
    return json.dumps(obj)  # json.loads of it is a fresh copy, much faster than deepcopy


def _copy(obj: Any) -> Any:
    return json.loads(json.dumps(obj))


_TEMPLATES = {
    # Fields that current API versions no longer return are dropped.
    "payment_intent": _template("payment_intent_pi_fakefakefakefakefake0001.json", ("charges", "source", "invoice")),
    "charge": _template(
        "charge_ch_fakefakefakefakefake0001.json", ("source", "order", "invoice", "destination", "refunds")
    ),
    "customer": _template(
        "customer_cus_4QWKsZuuTHcs7X.json", ("default_source", "sources", "subscriptions", "tax_ids", "discount")
    ),
    "setup_intent": _template("setup_intent_pi_destination_charge.json", ("single_use_mandate",)),
    "payment_method": _template("payment_method_pm_fakefakefakefake0001.json"),
    "account": _template("account_standard_acct_1Fg9jUA3kq9o1aTc.json"),
    "event": _template("event_account_updated_standard.json"),
    "dispute": _template("dispute_dp_fakefakefakefake01.json"),
}

_EVENT_TEMPLATE = json.loads(_TEMPLATES["event"])

# Stripe's test payment methods: brand, last4, outcome (https://docs.stripe.com/testing).
TEST_CARDS = {
    "pm_card_visa": ("visa", "4242", "succeed"),
    "pm_card_mastercard": ("mastercard", "4444", "succeed"),
    "pm_card_amex": ("amex", "8431", "succeed"),
    "pm_card_chargeDeclined": ("visa", "0002", "decline"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", "insufficient_funds"),
    "pm_card_chargeDeclinedExpiredCard": ("visa", "0069", "expired_card"),
    "pm_card_chargeCustomerFail": ("visa", "0341", "decline"),
}
# outcome -> (error code, decline code, message)
OUTCOMES: dict[str, tuple[str, str, str] | None] = {
    "succeed": None,
    "decline": ("card_declined", "generic_decline", "Your card was declined."),
    "insufficient_funds": ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "expired_card": ("expired_card", "expired_card", "Your card has expired."),
}
_COUNTRY_CURRENCY = {"US": "usd", "GB": "gbp", "IE": "eur", "DE": "eur", "FR": "eur", "ES": "eur", "NL": "eur",
                     "JP": "jpy", "AU": "aud", "CA": "cad", "NZ": "nzd", "ZA": "zar", "CH": "chf"}  # fmt: skip


class FakeStripeError(Exception):
    """A Stripe API error answer: HTTP `status` and the `error` object."""

    def __init__(self, status: int, type_: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "message": message, **fields}}


class RecordedRequest(NamedTuple):
    """One request the fake received; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]


class _Event(NamedTuple):
    seq: int
    id: str
    type: str
    created: int
    account: str
    body: str  # the event's JSON, frozen when it happened


def new_id(prefix: str, length: int = 24) -> str:
    """A Stripe-looking id, e.g. new_id("pi") -> "pi_3Nq..."."""
    return f"{prefix}_{''.join(random.choices(_ALNUM, k=length))}"


def parse_form(raw: str) -> dict[str, Any]:
    """Stripe's form encoding -> nested dicts/lists: `metadata[k]=v`, `a[0][b]=1`, `types[]=x`."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        path = [key.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", key)]
        node = root
        for i, part in enumerate(path):
            name = part if part else str(len(node))  # "[]" appends
            if i == len(path) - 1:
                node[name] = value
            else:
                node = node.setdefault(name, {})
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {k: _lists(v) for k, v in node.items()}
    if items and all(k.isdigit() for k in items):
        return [items[k] for k in sorted(items, key=int)]
    return items


def sign_webhook(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A `Stripe-Signature` header for `payload`, with Stripe's real scheme (t=...,v1=HMAC)."""
    return stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp)


def _missing(obj_type: str, obj_id: str, param: str = "id") -> FakeStripeError:
    return FakeStripeError(
        404 if param == "id" else 400,
        "invalid_request_error",
        f"No such {obj_type}: '{obj_id}'",
        code="resource_missing",
        param=param,
    )


def _required(params: dict[str, Any], name: str) -> Any:
    if params.get(name) in (None, ""):
        raise FakeStripeError(
            400, "invalid_request_error", f"Missing required param: {name}.", code="parameter_missing", param=name
        )
    return params[name]


def _int(params: dict[str, Any], name: str) -> int:
    value = _required(params, name)
    if not str(value).isdigit() or int(value) <= 0:
        raise FakeStripeError(
            400,
            "invalid_request_error",
            f"Invalid positive integer: {value}",
            code="parameter_invalid_integer",
            param=name,
        )
    return int(value)


class FakeStripe:
    """The fake Stripe server and its state. See the module docstring.

    Test controls: `requests`, `events`, `objects(type)`, `set_outcome`, `fail_next`,
    `hang_after_charge`, `complete_setup_intent`, `complete_checkout_session`, `dispute`,
    `account_update`, `webhook_request`, `time_offset` (seconds added to `created`).
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, latency_ms: float = 0, record_requests: bool = True
    ) -> None:
        self.host, self.port, self.latency_ms, self.record_requests = host, port, latency_ms, record_requests
        self.webhook_secret = STRIPE_WEBHOOK_SECRET
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._connections: set[socket.socket] = set()
        self.reset()

    def reset(self) -> None:
        """Forget all objects, events, keys, recorded requests and test controls; answers left
        hanging by `hang_after_charge` end (their connections drop)."""
        with self._lock:
            self.hang_after_charge = False
            self._hang = False  # this answer never comes (set by a charge while hang_after_charge)
            self._request: dict[str, str | None] = {"id": None, "idempotency_key": None}  # events' cause
            self.time_offset = 0
            self.requests: list[RecordedRequest] = []
            self._objects: dict[str, dict[str, Any]] = {}
            self._scope: dict[str, str] = {}  # object id -> account ("" = platform)
            self._outcomes: dict[str, str] = {}
            self._card_of: dict[str, str] = {}  # saved pm id -> test card it copies
            self._idempotency: dict[tuple[str, str], tuple[tuple[Any, ...], int, bytes, str]] = {}
            self._events: dict[str, list[_Event]] = {}
            self._event_index: dict[str, _Event] = {}
            self._seq = 0
            self._fail: list[int] = []
        if self._server is not None:
            self._stopping.set()
            self._stopping.clear()

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The API base, e.g. "http://127.0.0.1:41234" (for settings.STRIPE_API_BASE)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeStripe:
        server = _Server((self.host, self.port), _Handler)
        server.fake = self
        self._server, self.port = server, server.server_address[1]
        self._stopping.clear()
        threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-stripe", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hung answers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:  # ends idle keep-alive connections
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test controls --------------------------------------------------------------------
    def set_outcome(self, payment_method_id: str, outcome: str) -> None:
        """From now on charges on `payment_method_id` "succeed", "decline" (generic_decline),
        hit "insufficient_funds" or "expired_card"."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        with self._lock:
            self._outcomes[payment_method_id] = outcome

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next `n` requests fail without acting: `status` 500/503 (api_error), 429
        (rate_limit), or 0 (the connection is dropped without an answer)."""
        with self._lock:
            self._fail.extend([status] * n)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event so far, all accounts, newest first."""
        with self._lock:
            records = sorted((e for lst in self._events.values() for e in lst), key=lambda e: -e.seq)
        return [json.loads(e.body) for e in records]

    def objects(self, object_type: str, account: str | None = None) -> list[dict[str, Any]]:
        """Copies of the stored objects of `object_type` ("payment_intent", "charge", ...),
        oldest first, optionally only on `account`."""
        with self._lock:
            return [
                _copy(self._public(o))
                for oid, o in self._objects.items()
                if o["object"] == object_type and (account is None or self._scope[oid] == (account or ""))
            ]

    def get(self, object_id: str) -> dict[str, Any]:
        """A copy of the stored object `object_id` (KeyError if unknown)."""
        with self._lock:
            return _copy(self._public(self._objects[object_id]))

    def add_account(self, account: str | None = None, *, charges_enabled: bool = True, country: str = "GB") -> str:
        """Register a connected Standard account (a new id unless given); returns its id."""
        with self._lock:
            acct = self._account_new(account or new_id("acct", 16), email=None, country=country)
            acct.update(
                charges_enabled=charges_enabled, details_submitted=charges_enabled, payouts_enabled=charges_enabled
            )
            return str(acct["id"])

    def saved_card(
        self, *, account: str, card: str = "pm_card_visa", email: str = "member@example.com"
    ) -> tuple[str, str]:
        """A customer with a saved card (a copy of test card `card`) on `account`, as after a
        completed setup; returns (customer id, payment method id). Records no events."""
        with self._lock:
            self._account_ensure(account)
            customer = self._customer_new(account, {"email": email})
            pm = self._payment_method_new(account, card, customer["id"])
            return customer["id"], pm["id"]

    def complete_setup_intent(self, setup_intent_id: str, payment_method: str = "pm_card_visa") -> dict[str, Any]:
        """The member finishes saving a card: the SetupIntent succeeds with a new pm_... copy of
        test card `payment_method`, attached to its customer. Records payment_method.attached
        and setup_intent.succeeded. Returns the SetupIntent."""
        with self._lock:
            seti = self._objects[setup_intent_id]
            scope = self._scope[setup_intent_id]
            pm = self._payment_method_new(scope, payment_method, seti["customer"])
            self._emit(scope, "payment_method.attached", pm)
            seti.update(status="succeeded", payment_method=pm["id"])
            self._emit(scope, "setup_intent.succeeded", seti)
            return _copy(seti)

    def complete_checkout_session(self, session_id: str, payment_method: str = "pm_card_visa") -> dict[str, Any]:
        """The member completes a Checkout page with test card `payment_method`. Setup mode:
        as `complete_setup_intent`. Payment mode: a PaymentIntent is confirmed (its events);
        a decline leaves the session open. Records checkout.session.completed on success.
        Returns the session."""
        with self._lock:
            session = self._objects[session_id]
            scope = self._scope[session_id]
            if session["mode"] == "setup":
                self.complete_setup_intent(session["setup_intent"], payment_method)
            else:
                pi = self._payment_intent_new(scope, {
                    "amount": session["amount_total"], "currency": session["currency"],
                    "customer": session["customer"], "payment_method": payment_method,
                    **session["_payment_intent_data"],
                })  # fmt: skip
                session["payment_intent"] = pi["id"]
                if not self._confirm(scope, pi, payment_method):
                    return _copy(self._public(session))
                session["payment_status"] = "paid"
            session["status"] = "complete"
            self._emit(scope, "checkout.session.completed", self._public(session))
            return _copy(self._public(session))

    def dispute(self, charge_id: str, reason: str = "fraudulent") -> dict[str, Any]:
        """The cardholder disputes `charge_id`: records charge.dispute.created; returns the dispute."""
        with self._lock:
            charge, scope = self._objects[charge_id], self._scope[charge_id]
            dispute = self._new("dispute", scope, new_id("dp"))
            dispute.update(
                amount=charge["amount"], currency=charge["currency"], charge=charge_id, reason=reason,
                payment_intent=charge["payment_intent"], balance_transactions=[], balance_transaction=None,
                metadata={}, status="needs_response", is_charge_refundable=False,
            )  # fmt: skip
            charge["disputed"] = True
            self._emit(scope, "charge.dispute.created", dispute)
            return _copy(dispute)

    def account_update(self, account: str, **changes: Any) -> dict[str, Any]:
        """Change a connected account (e.g. charges_enabled=True after onboarding): records
        account.updated with previous_attributes. Returns the account."""
        with self._lock:
            acct = self._account_ensure(account)
            previous = {k: acct.get(k) for k in changes}
            acct.update(changes)
            self._emit(account, "account.updated", acct, previous_attributes=previous)
            return _copy(acct)

    def webhook_request(self, event: dict[str, Any] | str, secret: str | None = None) -> tuple[bytes, dict[str, str]]:
        """A signed webhook delivery of `event` (a dict or an evt_ id): (body bytes, headers
        with `Stripe-Signature` and `Content-Type`). For Django's test client: `client.post(url,
        body, content_type="application/json", HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"])`."""
        if isinstance(event, str):
            with self._lock:
                event = json.loads(self._event_index[event].body)
        body = json.dumps(event, indent=2).encode()
        signature = sign_webhook(body, secret or self.webhook_secret)
        return body, {"Stripe-Signature": signature, "Content-Type": "application/json"}

    # --- request handling -----------------------------------------------------------------
    def _now(self) -> int:
        return int(time.time()) + self.time_offset

    def handle(self, method: str, path: str, headers: dict[str, str], params: dict[str, Any]) -> tuple[int, bytes, dict[str, str], bool]:  # fmt: skip
        """Answer one request: (status, body, extra headers, hang). status 0 = drop the connection."""
        request_id = new_id("req", 14)
        answer_headers = {"Request-Id": request_id, "Stripe-Version": headers.get("stripe-version", API_VERSION)}
        account = key = ""
        with self._lock:
            self._hang = False
            if self.record_requests:
                self.requests.append(RecordedRequest(method, path, headers, params))
            try:
                if self._fail:
                    status = self._fail.pop(0)
                    if status == 429:
                        raise FakeStripeError(429, "invalid_request_error", "Too many requests.", code="rate_limit")
                    raise FakeStripeError(status, "api_error", "An unknown error occurred") if status else _Drop()
                api_key = headers.get("authorization", "").removeprefix("Bearer ").strip()
                if not api_key.startswith("sk_"):
                    raise FakeStripeError(
                        401, "invalid_request_error", f"Invalid API Key provided: {api_key or '(none)'}"
                    )
                account = headers.get("stripe-account", "")
                if account:
                    if not account.startswith("acct_"):
                        raise FakeStripeError(
                            403, "invalid_request_error", f"The provided key does not have access to account '{account}'.",
                            code="account_invalid",
                        )  # fmt: skip
                    self._account_ensure(account)
                key = headers.get("idempotency-key", "") if method == "POST" else ""
                signature = (method, path, json.dumps(params, sort_keys=True))
                if key and (account, key) in self._idempotency:
                    saved_signature, status, body, original = self._idempotency[(account, key)]
                    if saved_signature != signature:
                        raise FakeStripeError(
                            400, "idempotency_error",
                            f"Keys for idempotent requests can only be used with the same parameters they were first "
                            f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                        )  # fmt: skip
                    answer_headers.update(
                        {"Idempotency-Key": key, "Idempotent-Replayed": "true", "Original-Request": original}
                    )
                    return status, body, answer_headers, False
                self._request = {"id": request_id, "idempotency_key": key or None}
                status, obj = 200, self._route(method, path, account, params)
            except _Drop:
                return 0, b"", answer_headers, False
            except FakeStripeError as exc:
                status, obj = exc.status, exc.body
            except Exception as exc:  # a bug in the fake or a request it cannot read: Stripe's 500
                traceback.print_exc()
                status, obj = 500, {"error": {"type": "api_error", "message": f"fake Stripe: {exc!r}"}}
            self._request = {"id": None, "idempotency_key": None}
            body = obj.encode() if isinstance(obj, _Raw) else json.dumps(obj).encode()
            if key and (status < 400 or status == 402):  # Stripe saves answers of endpoints that ran
                self._idempotency[(account, key)] = (signature, status, body, request_id)
                answer_headers["Idempotency-Key"] = key
            return status, body, answer_headers, self._hang and status in (200, 402)

    def _route(self, method: str, path: str, account: str, params: dict[str, Any]) -> Any:
        for route_method, pattern, action in _ROUTES:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return action(self, account, params, *match.groups())
        raise FakeStripeError(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    # --- object helpers (called with the lock held) -----------------------------------------
    def _new(self, object_type: str, scope: str, object_id: str) -> dict[str, Any]:
        obj = json.loads(_TEMPLATES[object_type])
        obj.update(id=object_id, created=self._now(), livemode=False, metadata={})
        self._objects[object_id], self._scope[object_id] = obj, scope
        return obj

    def _find(self, object_type: str, scope: str, object_id: str, param: str = "id") -> dict[str, Any]:
        obj = self._objects.get(object_id)
        if obj is None or obj["object"] != object_type or self._scope[object_id] != scope:
            raise _missing(object_type, object_id, param)
        return obj

    @staticmethod
    def _public(obj: dict[str, Any]) -> dict[str, Any]:
        """`obj` without the fake's own keys; shares values, so dump it before letting go of the lock."""
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _emit(self, scope: str, event_type: str, obj: dict[str, Any], previous_attributes: dict[str, Any] | None = None) -> None:  # fmt: skip
        self._seq += 1
        event = {k: v for k, v in _EVENT_TEMPLATE.items() if k != "account" or scope}
        event.update(
            id=new_id("evt"), api_version=API_VERSION, created=self._now(), data={"object": self._public(obj)},
            livemode=False, pending_webhooks=1, request=dict(self._request), type=event_type,
        )  # fmt: skip
        if scope:
            event["account"] = scope
        if previous_attributes is not None:
            event["data"]["previous_attributes"] = previous_attributes
        record = _Event(self._seq, event["id"], event_type, event["created"], scope, json.dumps(event))
        self._events.setdefault(scope, []).append(record)
        self._event_index[record.id] = record

    def _account_new(self, account_id: str, *, email: str | None, country: str) -> dict[str, Any]:
        acct = self._new("account", "", account_id)
        country = country.upper()
        acct.update(
            email=email, country=country, default_currency=_COUNTRY_CURRENCY.get(country, "usd"),
            charges_enabled=False, details_submitted=False, payouts_enabled=False, type="standard",
        )  # fmt: skip
        acct["business_profile"].update(name=None, support_email=email, url=None, support_url=None)
        acct["settings"]["dashboard"]["display_name"] = None
        return acct

    def _account_ensure(self, account: str) -> dict[str, Any]:
        if account not in self._objects:
            acct = self._account_new(account, email=None, country="GB")
            acct.update(charges_enabled=True, details_submitted=True, payouts_enabled=True)
        return self._objects[account]

    def _customer_new(self, scope: str, params: dict[str, Any]) -> dict[str, Any]:
        customer = self._new("customer", scope, new_id("cus", 14))
        customer.update(
            email=params.get("email"), name=params.get("name"), description=params.get("description"),
            metadata=params.get("metadata") or {}, currency=None, next_invoice_sequence=1,
            invoice_prefix="".join(random.choices("0123456789ABCDEF", k=8)),
        )  # fmt: skip
        return customer

    def _card(self, payment_method: str) -> tuple[str, str, str]:
        return TEST_CARDS[self._card_of.get(payment_method, payment_method)]

    def _payment_method_new(self, scope: str, card: str, customer: str | None, pm_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        if card not in TEST_CARDS:
            raise ValueError(f"unknown test card {card!r}; one of {sorted(TEST_CARDS)}")
        pm = json.loads(_TEMPLATES["payment_method"])
        brand, last4, _ = TEST_CARDS[card]
        pm.update(id=pm_id or new_id("pm"), created=self._now(), customer=customer, metadata={}, livemode=False)
        pm["card"].update(brand=brand, last4=last4, exp_month=12, exp_year=time.gmtime().tm_year + 3,
                          fingerprint=f"fp{last4}{brand}"[:16], networks={"available": [brand], "preferred": None})  # fmt: skip
        if pm_id is None:  # saved copies are stored; test tokens are built on each use
            self._objects[pm["id"]], self._scope[pm["id"]], self._card_of[pm["id"]] = pm, scope, card
        return pm

    def _payment_method_find(self, scope: str, pm_id: str, param: str = "id") -> dict[str, Any]:
        if pm_id in TEST_CARDS:
            return self._payment_method_new(scope, pm_id, None, pm_id=pm_id)
        return self._find("payment_method", scope, pm_id, param)

    def _payment_intent_new(self, scope: str, params: dict[str, Any]) -> dict[str, Any]:
        amount, currency = _int(params, "amount"), str(_required(params, "currency")).lower()
        pi = self._new("payment_intent", scope, new_id("pi"))
        pi.update(
            amount=amount, currency=currency,
            customer=params.get("customer"), description=params.get("description"),
            metadata=params.get("metadata") or {}, payment_method=params.get("payment_method"),
            payment_method_types=params.get("payment_method_types") or ["card"], amount_received=0,
            setup_future_usage=params.get("setup_future_usage"), latest_charge=None, last_payment_error=None,
            status="requires_confirmation" if params.get("payment_method") else "requires_payment_method",
            automatic_payment_methods=None, receipt_email=None,
        )  # fmt: skip
        pi["client_secret"] = f"{pi['id']}_secret_{new_id('s')[2:]}"
        return pi

    def _confirm(self, scope: str, pi: dict[str, Any], pm_id: str) -> bool:
        """Charge the card: a charge, the PaymentIntent's new status, events. True if paid."""
        pm = self._payment_method_find(scope, pm_id, "payment_method")
        outcome = OUTCOMES[self._outcomes.get(pm_id, self._card(pm_id)[2])]
        charge = self._new("charge", scope, new_id("ch"))
        charge.update(
            amount=pi["amount"], amount_captured=0 if outcome else pi["amount"], amount_refunded=0,
            currency=pi["currency"], customer=pi["customer"], description=pi["description"],
            metadata=dict(pi["metadata"]), payment_intent=pi["id"], payment_method=pm_id,
            balance_transaction=None if outcome else new_id("txn"), captured=not outcome, paid=not outcome,
            status="failed" if outcome else "succeeded", refunded=False, disputed=False,
            failure_code=outcome[0] if outcome else None, failure_message=outcome[2] if outcome else None,
            receipt_url=None if outcome else f"https://pay.stripe.com/receipts/{scope}/{charge['id']}/rcpt_{charge['id'][3:]}",
        )  # fmt: skip
        charge["billing_details"]["name"] = None
        charge["payment_method_details"] = {"type": "card", "card": {
            k: pm["card"][k] for k in ("brand", "country", "exp_month", "exp_year", "fingerprint", "funding", "last4")
        }}  # fmt: skip
        charge["outcome"] = {
            "network_status": "declined_by_network" if outcome else "approved_by_network",
            "reason": outcome[1] if outcome else None, "risk_level": "normal", "risk_score": 12,
            "seller_message": "The bank declined the payment." if outcome else "Payment complete.",
            "type": "issuer_declined" if outcome else "authorized",
        }  # fmt: skip
        pi["latest_charge"] = charge["id"]
        self._hang = self.hang_after_charge
        if outcome is None:
            pi.update(status="succeeded", amount_received=pi["amount"], payment_method=pm_id)
            self._emit(scope, "charge.succeeded", charge)
            self._emit(scope, "payment_intent.succeeded", pi)
            return True
        code, decline_code, message = outcome
        pi.update(status="requires_payment_method", payment_method=None, last_payment_error={
            "charge": charge["id"], "code": code, "decline_code": decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}", "message": message,
            "payment_method": pm, "type": "card_error",
        })  # fmt: skip
        self._emit(scope, "charge.failed", charge)
        self._emit(scope, "payment_intent.payment_failed", pi)
        return False


class _Drop(Exception):
    """Drop the connection without an answer."""


# --- endpoints: (fake, account, params, *path ids) -> response object ----------------------------
def _retrieve(object_type: str) -> Callable[..., Any]:
    def action(fake: FakeStripe, account: str, params: dict[str, Any], object_id: str) -> Any:
        return fake._public(fake._find(object_type, account, object_id))

    return action


def _customer_create(fake: FakeStripe, account: str, params: dict[str, Any]) -> Any:
    return fake._public(fake._customer_new(account, params))


def _setup_intent_create(fake: FakeStripe, account: str, params: dict[str, Any]) -> Any:
    if params.get("customer"):
        fake._find("customer", account, params["customer"], "customer")
    seti = fake._new("setup_intent", account, new_id("seti"))
    seti.update(
        customer=params.get("customer"), metadata=params.get("metadata") or {}, usage=params.get("usage", "off_session"),
        payment_method=None, status="requires_payment_method", latest_attempt=None, on_behalf_of=None,
        payment_method_types=params.get("payment_method_types") or ["card"], description=params.get("description"),
    )  # fmt: skip
    seti["client_secret"] = f"{seti['id']}_secret_{new_id('s')[2:]}"
    return fake._public(seti)


def _payment_intent_create(fake: FakeStripe, account: str, params: dict[str, Any]) -> Any:
    customer, pm_id = params.get("customer"), params.get("payment_method")
    if customer:
        fake._find("customer", account, customer, "customer")
    if pm_id:
        pm = fake._payment_method_find(account, pm_id, "payment_method")
        if pm["customer"] and pm["customer"] != customer:
            raise FakeStripeError(
                400, "invalid_request_error", f"The PaymentMethod {pm_id} does not belong to the Customer {customer}.",
                param="payment_method",
            )  # fmt: skip
    if params.get("confirm") == "true":
        _required(params, "payment_method")
    pi = fake._payment_intent_new(account, params)
    if params.get("confirm") == "true" and not fake._confirm(account, pi, str(pm_id)):
        error = dict(pi["last_payment_error"])
        error.update(payment_intent=fake._public(pi), request_log_url=None)
        raise FakeStripeError(
            402, "card_error", error.pop("message"), **{k: v for k, v in error.items() if k != "type"}
        )
    return fake._public(pi)


def _refund_create(fake: FakeStripe, account: str, params: dict[str, Any]) -> Any:
    if params.get("payment_intent"):
        pi = fake._find("payment_intent", account, params["payment_intent"], "payment_intent")
        if pi["status"] != "succeeded":
            raise FakeStripeError(400, "invalid_request_error", f"PaymentIntent {pi['id']} has no successful charge.")
        charge = fake._objects[pi["latest_charge"]]
    else:
        charge = fake._find("charge", account, _required(params, "charge"), "charge")
    remaining = charge["amount"] - charge["amount_refunded"]
    amount = _int(params, "amount") if "amount" in params else remaining
    if remaining == 0:
        raise FakeStripeError(400, "invalid_request_error", f"Charge {charge['id']} has already been refunded.",
                              code="charge_already_refunded")  # fmt: skip
    if amount > remaining:
        raise FakeStripeError(
            400, "invalid_request_error",
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})", param="amount",
        )  # fmt: skip
    refund = {
        "id": new_id("re"), "object": "refund", "amount": amount, "balance_transaction": new_id("txn"),
        "charge": charge["id"], "created": fake._now(), "currency": charge["currency"],
        "metadata": params.get("metadata") or {}, "payment_intent": charge["payment_intent"],
        "reason": params.get("reason"), "receipt_number": None, "source_transfer_reversal": None,
        "status": "succeeded", "transfer_reversal": None,
    }  # fmt: skip
    fake._objects[refund["id"]], fake._scope[refund["id"]] = refund, account
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    fake._emit(account, "refund.created", refund)
    fake._emit(account, "charge.refunded", charge, previous_attributes=previous)
    return fake._public(refund)


def _payment_method_retrieve(fake: FakeStripe, account: str, params: dict[str, Any], pm_id: str) -> Any:
    return fake._public(fake._payment_method_find(account, pm_id))


def _account_create(fake: FakeStripe, account: str, params: dict[str, Any]) -> Any:
    if account:
        raise FakeStripeError(400, "invalid_request_error", "Connected accounts cannot create accounts.")
    if params.get("type", "standard") != "standard":
        raise FakeStripeError(400, "invalid_request_error", "The fake supports only Standard accounts.", param="type")
    return fake._public(
        fake._account_new(new_id("acct", 16), email=params.get("email"), country=params.get("country", "US"))
    )


def _account_retrieve(fake: FakeStripe, account: str, params: dict[str, Any], account_id: str) -> Any:
    return fake._public(fake._find("account", "", account_id))  # connected accounts live on the platform


def _account_link_create(fake: FakeStripe, account: str, params: dict[str, Any]) -> Any:
    acct = fake._find("account", "", _required(params, "account"), "account")
    for name in ("refresh_url", "return_url", "type"):
        _required(params, name)
    now = fake._now()
    return {"object": "account_link", "created": now, "expires_at": now + 300,
            "url": f"https://connect.stripe.com/setup/s/{acct['id']}/{new_id('l', 12)[2:]}"}  # fmt: skip


def _checkout_session_create(fake: FakeStripe, account: str, params: dict[str, Any]) -> Any:
    mode, customer = _required(params, "mode"), params.get("customer")
    if customer:
        fake._find("customer", account, customer, "customer")
    session: dict[str, Any] = {
        "id": new_id("cs_test", 58), "object": "checkout.session", "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"), "created": fake._now(), "customer": customer,
        "customer_email": params.get("customer_email"), "expires_at": fake._now() + 86400, "livemode": False,
        "metadata": params.get("metadata") or {}, "mode": mode, "payment_intent": None, "setup_intent": None,
        "payment_method_types": params.get("payment_method_types") or ["card"], "status": "open",
        "success_url": params.get("success_url"), "currency": params.get("currency"),
        "amount_subtotal": None, "amount_total": None, "payment_status": "unpaid",
    }  # fmt: skip
    session["url"] = f"https://checkout.stripe.com/c/pay/{session['id']}"
    if mode == "setup":
        seti = _setup_intent_create(fake, account, {"customer": customer, "usage": "off_session"})
        session.update(setup_intent=seti["id"], payment_status="no_payment_required")
    elif mode == "payment":
        lines = params.get("line_items") or []
        if not lines:
            _required(params, "line_items")
        total = sum(_int(line["price_data"], "unit_amount") * int(line.get("quantity", 1)) for line in lines)
        session.update(amount_subtotal=total, amount_total=total, currency=lines[0]["price_data"]["currency"])
        session["_payment_intent_data"] = params.get("payment_intent_data") or {}
    else:
        raise FakeStripeError(400, "invalid_request_error", f"Invalid mode: {mode}", param="mode")
    fake._objects[session["id"]], fake._scope[session["id"]] = session, account
    return fake._public(session)


def _events_list(fake: FakeStripe, account: str, params: dict[str, Any]) -> Any:
    if params.get("ending_before"):
        raise FakeStripeError(400, "invalid_request_error", "The fake lists events with starting_after only.")
    created = params.get("created") or {}
    if not isinstance(created, dict):
        created = {"gte": created, "lte": created}
    bounds = {op: int(v) for op, v in created.items()}
    types = params.get("types") or ([params["type"]] if params.get("type") else [])
    limit = min(max(int(params.get("limit", 10)), 1), 100)
    records = fake._events.get(account, [])
    end = len(records)
    if params.get("starting_after"):
        start = fake._event_index.get(params["starting_after"])
        if start is None or start.account != account:
            raise _missing("event", params["starting_after"], "starting_after")
        end = records.index(start)
    page: list[_Event] = []
    has_more = False
    for record in reversed(records[:end]):
        c = record.created
        if ("gte" in bounds and c < bounds["gte"]) or ("gt" in bounds and c <= bounds["gt"]):
            continue
        if ("lte" in bounds and c > bounds["lte"]) or ("lt" in bounds and c >= bounds["lt"]):
            continue
        if types and not any(re.fullmatch(re.escape(t).replace(r"\*", ".*"), record.type) for t in types):
            continue
        if len(page) == limit:
            has_more = True
            break
        page.append(record)
    return _Raw(f'{{"object": "list", "data": [{", ".join(r.body for r in page)}], '
                f'"has_more": {json.dumps(has_more)}, "url": "/v1/events"}}')  # fmt: skip


def _event_retrieve(fake: FakeStripe, account: str, params: dict[str, Any], event_id: str) -> Any:
    record = fake._event_index.get(event_id)
    if record is None or record.account != account:
        raise _missing("event", event_id)
    return _Raw(record.body)


class _Raw(str):
    """An answer body that is already JSON."""


_ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("POST", r"/v1/customers", _customer_create),
    ("GET", r"/v1/customers/([^/]+)", _retrieve("customer")),
    ("POST", r"/v1/setup_intents", _setup_intent_create),
    ("GET", r"/v1/setup_intents/([^/]+)", _retrieve("setup_intent")),
    ("POST", r"/v1/payment_intents", _payment_intent_create),
    ("GET", r"/v1/payment_intents/([^/]+)", _retrieve("payment_intent")),
    ("GET", r"/v1/charges/([^/]+)", _retrieve("charge")),
    ("POST", r"/v1/refunds", _refund_create),
    ("GET", r"/v1/refunds/([^/]+)", _retrieve("refund")),
    ("GET", r"/v1/payment_methods/([^/]+)", _payment_method_retrieve),
    ("POST", r"/v1/accounts", _account_create),
    ("GET", r"/v1/accounts/([^/]+)", _account_retrieve),
    ("POST", r"/v1/account_links", _account_link_create),
    ("POST", r"/v1/checkout/sessions", _checkout_session_create),
    ("GET", r"/v1/checkout/sessions/([^/]+)", _retrieve("checkout.session")),
    ("GET", r"/v1/events", _events_list),
    ("GET", r"/v1/events/([^/]+)", _event_retrieve),
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many workers connect at once
    fake: FakeStripe


class _Handler(TrackedHandler):
    timeout = 120  # idle keep-alive connections end
    server: _Server

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        params = parse_form(url.query if method != "POST" else raw)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if fake.latency_ms:
            time.sleep(fake.latency_ms / 1000)
        status, body, answer_headers, hang = fake.handle(method, url.path, headers, params)
        if hang or status == 0:
            if hang:  # the charge is done; the answer never comes (until the fake stops)
                fake._stopping.wait()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in answer_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


_shared: FakeStripe | None = None


def shared_fake_stripe() -> FakeStripe:
    """This test process's FakeStripe, started on first use and kept for the session, so its
    `url` is stable: give it to processes started once (e.g. the test Celery worker's
    STRIPE_API_BASE). The `fake_stripe` fixture resets it for every test."""
    global _shared
    if _shared is None:
        _shared = FakeStripe().start()
    return _shared


@pytest.fixture
def fake_stripe(settings: Any) -> Iterator[FakeStripe]:
    """The shared FakeStripe, emptied, with settings pointed at it: STRIPE_API_BASE,
    STRIPE_SECRET_KEY ("sk_test_fake"), STRIPE_WEBHOOK_SECRET and
    STRIPE_CONNECT_WEBHOOK_SECRET ("whsec_test_fake")."""
    fake = shared_fake_stripe()
    fake.reset()
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_SECRET_KEY = STRIPE_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET
    settings.STRIPE_CONNECT_WEBHOOK_SECRET = STRIPE_WEBHOOK_SECRET
    yield fake
    fake.reset()


def main(argv: list[str] | None = None) -> None:
    """Serve a FakeStripe until SIGTERM/SIGINT; prints the base URL first (benches read it)."""
    parser = argparse.ArgumentParser(description="A fake Stripe API server for tests and benches.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0, help="added to every answer")
    args = parser.parse_args(argv)
    fake = FakeStripe(host=args.host, port=args.port, latency_ms=args.latency_ms, record_requests=False).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(fake.url, flush=True)
    done.wait()
    fake.stop()


if __name__ == "__main__":
    main()
