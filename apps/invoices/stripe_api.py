"""The only way our code calls Stripe for gyms' member payments (DESIGN.md 7).

Gyms take payments on their own Connect Standard accounts, so every call about a
member's money names the gym's account (`account`, sent as the `Stripe-Account`
header). Amounts cross this boundary as `Decimal` in major units of the gym's
currency (e.g. `Decimal("29.90")` GBP); Stripe's integer minor units stay inside.

Errors: a card decline is an answer, not an error (`payment_intent_charge` returns it).
Anything else that goes wrong while talking to Stripe raises `StripeUnavailable`:
the outcome is unknown, and the caller retries later with the same idempotency key,
which makes Stripe replay the first answer instead of charging again.

The API base and secret key come from `settings.STRIPE_API_BASE` and
`settings.STRIPE_SECRET_KEY`; tests and benches point the base at
`apps/invoices/tests/fake_stripe.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any

import stripe
from babel.numbers import get_currency_precision
from django.conf import settings

DEFAULT_API_BASE = "https://api.stripe.com"

# Stripe's minor units where they differ from ISO 4217 / CLDR (Babel): ISK is
# "effectively zero-decimal" but stays two-decimal in the API, so 100 = 1 ISK
# (https://docs.stripe.com/currencies#special-cases).
_STRIPE_PRECISION_OVERRIDES = {"ISK": 2}

# Seconds to wait for Stripe's answer; an unanswered charge is StripeUnavailable and is
# retried with the same idempotency key.
_TIMEOUT_SECONDS = 30


class StripeUnavailable(Exception):
    """Stripe could not be reached or did not give a usable answer.

    Raised for network errors, timeouts, HTTP 5xx, rate limits (429), and every Stripe API
    error other than a card error (authentication, permission, invalid request,
    idempotency conflicts). Whether Stripe acted is unknown: retry later with the same
    idempotency key. `http_status` (int or None) and `code` (Stripe's error code or "")
    say what happened, for logs.
    """

    def __init__(self, message: str, *, http_status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code


@dataclass(frozen=True)
class PaymentIntentResult:
    """A PaymentIntent as our code needs it.

    `status` is Stripe's PaymentIntent status ("succeeded", "requires_payment_method"
    after a decline, "processing", ...). `amount` is in major units of `currency`
    (upper-case ISO 4217). `charge_id` is the latest charge ("" if none). `failure_code`
    is the card's decline code when Stripe gives one (e.g. "insufficient_funds"), else the
    error code (e.g. "card_declined", "expired_card"), else "". `raw` is the whole object.
    """

    id: str
    status: str
    amount: Decimal
    currency: str
    charge_id: str = ""
    failure_code: str = ""
    failure_message: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def succeeded(self) -> bool:
        """True when the money was taken (status "succeeded")."""
        return self.status == "succeeded"


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point of `currency` in Stripe's API: 2 for GBP, 0 for JPY
    (Stripe's zero-decimal list matches CLDR's, read through Babel), 3 for KWD."""
    code = currency.upper()
    return _STRIPE_PRECISION_OVERRIDES.get(code, get_currency_precision(code))


def to_minor(amount: Decimal, currency: str) -> int:
    """`amount` in major units -> Stripe's integer minor units: (Decimal("29.90"), "GBP") -> 2990,
    (Decimal("500"), "JPY") -> 500. Raises ValueError if `amount` has more decimals than the
    currency has (money is rounded by the caller, never silently here)."""
    minor = Decimal(amount).scaleb(currency_exponent(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"{amount} {currency.upper()} has more decimals than the currency allows")
    return int(minor)


def from_minor(amount: int, currency: str) -> Decimal:
    """Stripe's integer minor units -> Decimal major units: (2990, "gbp") -> Decimal("29.90"),
    (500, "jpy") -> Decimal("500")."""
    exponent = currency_exponent(currency)
    return Decimal(int(amount)).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


@lru_cache(maxsize=8)
def _client_for(api_key: str, api_base: str) -> stripe.StripeClient:
    # One client (and one keep-alive HTTP session per thread) per key and base. No automatic
    # network retries: the caller's retry with the same idempotency key is the recovery path.
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base, "files": api_base},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=_TIMEOUT_SECONDS),
    )


def _client() -> stripe.StripeClient:
    return _client_for(
        getattr(settings, "STRIPE_SECRET_KEY", "") or "",
        getattr(settings, "STRIPE_API_BASE", DEFAULT_API_BASE) or DEFAULT_API_BASE,
    )


def _unavailable(exc: stripe.StripeError, action: str) -> StripeUnavailable:
    return StripeUnavailable(
        f"Stripe {action} failed: {type(exc).__name__}: {exc.user_message or exc}",
        http_status=exc.http_status,
        code=exc.code or "",
    )


@contextmanager
def _unavailable_on_error(action: str) -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as exc:
        raise _unavailable(exc, action) from exc


def _options(account: str | None, idempotency_key: str | None = None) -> stripe.RequestOptions:
    options: stripe.RequestOptions = {}
    if account:
        options["stripe_account"] = account
    if idempotency_key:
        options["idempotency_key"] = idempotency_key
    return options


def _payment_intent_result(pi: dict[str, Any]) -> PaymentIntentResult:
    error = pi.get("last_payment_error") or {}
    latest_charge = pi.get("latest_charge") or ""
    if isinstance(latest_charge, dict):  # expanded
        latest_charge = latest_charge.get("id", "")
    return PaymentIntentResult(
        id=pi["id"],
        status=pi["status"],
        amount=from_minor(pi["amount"], pi["currency"]),
        currency=pi["currency"].upper(),
        charge_id=latest_charge,
        failure_code=error.get("decline_code") or error.get("code") or "",
        failure_message=error.get("message") or "",
        metadata={str(k): str(v) for k, v in (pi.get("metadata") or {}).items()},
        raw=pi,
    )


def payment_intent_charge(
    *,
    account: str,
    customer: str,
    payment_method: str,
    amount: Decimal,
    currency: str,
    idempotency_key: str,
    metadata: dict[str, str],
    description: str = "",
) -> PaymentIntentResult:
    """Charge a member's saved card now, off-session, on the gym's `account`.

    Creates and confirms a card PaymentIntent for `amount` (major units of `currency`)
    on `customer` (cus_...) with `payment_method` (pm_...). The same `idempotency_key`
    (derived from gym, invoice and attempt) always yields the same PaymentIntent, so a
    retry after `StripeUnavailable` never charges twice (Stripe keeps keys for 24 hours).

    Returns the result: `succeeded` True when paid; a decline (HTTP 402 card_error) comes
    back as status "requires_payment_method" with `failure_code`/`failure_message`, read
    from the PaymentIntent that Stripe embeds in the error. Raises `StripeUnavailable`
    for anything else, and ValueError if `amount` does not fit the currency's minor unit.
    """
    params: stripe.params.PaymentIntentCreateParams = {
        "amount": to_minor(amount, currency),
        "currency": currency.lower(),
        "customer": customer,
        "payment_method": payment_method,
        "payment_method_types": ["card"],
        "off_session": True,
        "confirm": True,
        "metadata": metadata,
    }
    if description:
        params["description"] = description
    try:
        pi = _client().v1.payment_intents.create(params, _options(account, idempotency_key))
    except stripe.CardError as exc:
        body = exc.json_body if isinstance(exc.json_body, dict) else {}
        declined = (body.get("error") or {}).get("payment_intent")
        if not declined:
            raise _unavailable(exc, "charge") from exc
        return _payment_intent_result(declined)
    except stripe.StripeError as exc:
        raise _unavailable(exc, "charge") from exc
    return _payment_intent_result(pi.to_dict())


def payment_intent_retrieve(*, account: str, payment_intent_id: str) -> PaymentIntentResult:
    """The PaymentIntent `payment_intent_id` (pi_...) on the gym's `account`, e.g. to learn
    how a charge whose answer was lost ended. Raises `StripeUnavailable` (also when it does
    not exist: `code` "resource_missing")."""
    with _unavailable_on_error("payment intent retrieval"):
        pi = _client().v1.payment_intents.retrieve(payment_intent_id, options=_options(account))
    return _payment_intent_result(pi.to_dict())


def refund_create(
    *, account: str, payment_intent_id: str, amount: Decimal, currency: str, idempotency_key: str
) -> dict[str, Any]:
    """Refund `amount` (major units of `currency`, partial or full) of a PaymentIntent's charge
    on the gym's `account`. Returns {"id": "re_...", "status": "succeeded"|"pending"|"failed",
    "amount": Decimal}. Raises `StripeUnavailable` (e.g. more than the unrefunded amount)."""
    with _unavailable_on_error("refund"):
        refund = _client().v1.refunds.create(
            {"payment_intent": payment_intent_id, "amount": to_minor(amount, currency)},
            _options(account, idempotency_key),
        )
    return {"id": refund.id, "status": refund.status or "", "amount": from_minor(refund.amount, refund.currency)}


def customer_create(*, account: str, email: str, name: str, metadata: dict[str, str], idempotency_key: str) -> str:
    """Create the member's Customer on the gym's `account`; returns its id (cus_...).
    Raises `StripeUnavailable`."""
    with _unavailable_on_error("customer creation"):
        customer = _client().v1.customers.create(
            {"email": email, "name": name, "metadata": metadata}, _options(account, idempotency_key)
        )
    return customer.id


def setup_intent_create(*, account: str, customer: str, idempotency_key: str | None = None) -> dict[str, str]:
    """A SetupIntent to save a card for off-session charges (the app's card form, Elements).
    Returns {"id": "seti_...", "client_secret": "..."}. Raises `StripeUnavailable`."""
    with _unavailable_on_error("setup intent creation"):
        intent = _client().v1.setup_intents.create(
            {"customer": customer, "payment_method_types": ["card"], "usage": "off_session"},
            _options(account, idempotency_key),
        )
    return {"id": intent.id, "client_secret": intent.client_secret or ""}


def checkout_setup_session_create(
    *, account: str, customer: str, currency: str, success_url: str, cancel_url: str
) -> dict[str, str]:
    """A Stripe Checkout session in setup mode, where the member saves a card. Stripe sends
    `setup_intent.succeeded` and `checkout.session.completed` when done. Returns
    {"id": "cs_...", "url": the hosted page}. Raises `StripeUnavailable`."""
    with _unavailable_on_error("checkout session creation"):
        session = _client().v1.checkout.sessions.create(
            {
                "mode": "setup",
                "customer": customer,
                "currency": currency.lower(),
                "payment_method_types": ["card"],
                "success_url": success_url,
                "cancel_url": cancel_url,
            },
            _options(account),
        )
    return {"id": session.id, "url": session.url or ""}


def checkout_payment_session_create(
    *,
    account: str,
    customer: str | None,
    amount: Decimal,
    currency: str,
    description: str,
    metadata: dict[str, str],
    success_url: str,
    cancel_url: str,
    idempotency_key: str,
) -> dict[str, str]:
    """A Stripe Checkout session in payment mode that pays one invoice: one line of `amount`
    (major units of `currency`) named `description`. `metadata` goes on the session and its
    PaymentIntent, so the `checkout.session.completed` and `payment_intent.succeeded` events
    identify the invoice. Stripe expires a session after 24 hours. Returns
    {"id": "cs_...", "url": the hosted page}. Raises `StripeUnavailable`."""
    params: stripe.params.checkout.SessionCreateParams = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency.lower(),
                    "unit_amount": to_minor(amount, currency),
                    "product_data": {"name": description},
                },
            }
        ],
        "payment_method_types": ["card"],
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata, "description": description},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if customer:
        params["customer"] = customer
    with _unavailable_on_error("checkout session creation"):
        session = _client().v1.checkout.sessions.create(params, _options(account, idempotency_key))
    return {"id": session.id, "url": session.url or ""}


def payment_method_retrieve(*, account: str, payment_method_id: str) -> dict[str, Any]:
    """A saved card on the gym's `account`, for display: {"id", "brand" ("visa"...),
    "last4", "exp_month" (int), "exp_year" (int)}; brand/last4 are "" and the dates 0 for
    a payment method that is not a card. Raises `StripeUnavailable`."""
    with _unavailable_on_error("payment method retrieval"):
        pm = _client().v1.payment_methods.retrieve(payment_method_id, options=_options(account))
    card = pm.to_dict().get("card") or {}
    return {
        "id": pm.id,
        "brand": card.get("brand") or "",
        "last4": card.get("last4") or "",
        "exp_month": int(card.get("exp_month") or 0),
        "exp_year": int(card.get("exp_year") or 0),
    }


def account_create_standard(*, email: str, country: str, idempotency_key: str) -> str:
    """Create a gym's Connect Standard account on the platform; returns its id (acct_...),
    to store on Gym before sending the owner to `account_link_create`. Raises
    `StripeUnavailable`."""
    with _unavailable_on_error("account creation"):
        acct = _client().v1.accounts.create(
            {"type": "standard", "email": email, "country": country.upper()}, _options(None, idempotency_key)
        )
    return acct.id


def account_link_create(*, account: str, refresh_url: str, return_url: str) -> str:
    """A one-time onboarding URL for the gym's `account` (Stripe-hosted, expires in minutes;
    `refresh_url` is visited to get a new one). Raises `StripeUnavailable`."""
    with _unavailable_on_error("account link creation"):
        link = _client().v1.account_links.create(
            {"account": account, "refresh_url": refresh_url, "return_url": return_url, "type": "account_onboarding"}
        )
    return link.url


def account_retrieve(*, account: str) -> dict[str, Any]:
    """The gym's connected account: {"id", "charges_enabled", "details_submitted",
    "payouts_enabled" (bools), "country" (ISO 3166), "default_currency" (upper-case ISO 4217
    or "")}. Raises `StripeUnavailable`."""
    with _unavailable_on_error("account retrieval"):
        acct = _client().v1.accounts.retrieve(account)
    return {
        "id": acct.id,
        "charges_enabled": bool(acct.charges_enabled),
        "details_submitted": bool(acct.details_submitted),
        "payouts_enabled": bool(acct.payouts_enabled),
        "country": acct.country or "",
        "default_currency": (acct.default_currency or "").upper(),
    }


def events_list(*, account: str, created_gte: int, types: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Events on the gym's `account` created at or after `created_gte` (Unix seconds),
    newest first, following Stripe's pages. Each event is a plain dict in the webhook body's
    shape ({"id": "evt_...", "type", "created", "account", "data": {"object": {...}}}).
    `types` filters by event type (at most 20; wildcards like "charge.*" allowed). Stripe
    lists 30 days of events. Raises `StripeUnavailable` while iterating."""
    params: stripe.params.EventListParams = {"created": {"gte": created_gte}, "limit": 100}
    if types:
        params["types"] = types
    with _unavailable_on_error("event listing"):
        for event in _client().v1.events.list(params, _options(account)).auto_paging_iter():
            yield event.to_dict()


def webhook_event_construct(*, payload: bytes, sig_header: str, secret: str) -> dict[str, Any]:
    """Verify a webhook delivery and return its event as a plain dict.

    `payload` is the raw request body, `sig_header` the `Stripe-Signature` header, `secret`
    the endpoint's signing secret (whsec_...). Verification is Stripe's own
    (`stripe.Webhook.construct_event`: HMAC-SHA256 over "t.payload", timestamps older than
    5 minutes refused). Raises `stripe.SignatureVerificationError` for a missing, forged,
    wrong-secret or stale signature, and ValueError for a body that is not an event's JSON.
    """
    stripe.Webhook.construct_event(payload, sig_header, secret)
    # The body itself, as JSON: stripe objects turn `*_decimal` fields into Decimals, which
    # Celery's JSON messages cannot carry.
    event: dict[str, Any] = json.loads(payload)
    return event
