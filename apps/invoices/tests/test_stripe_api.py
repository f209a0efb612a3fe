"""The Stripe gateway (apps/invoices/stripe_api.py) against the fake Stripe HTTP server.

No database: these talk HTTP to `fake_stripe` through the real stripe library.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import stripe

from apps.invoices import stripe_api
from apps.invoices.stripe_api import StripeUnavailable
from apps.invoices.tests import fake_stripe as fake_stripe_module
from apps.invoices.tests.fake_stripe import STRIPE_WEBHOOK_SECRET, FakeStripe, parse_form, sign_webhook

fake_stripe = fake_stripe_module.fake_stripe  # the fixture


def charge(fake: FakeStripe, account: str, customer: str, payment_method: str, key: str, **overrides):
    params = dict(
        account=account,
        customer=customer,
        payment_method=payment_method,
        amount=Decimal("29.90"),
        currency="GBP",
        idempotency_key=key,
        metadata={"invoice_id": "41", "attempt": "1"},
        description="INV-2026-000041",
    )
    params.update(overrides)
    return stripe_api.payment_intent_charge(**params)


@pytest.fixture
def gym_account(fake_stripe: FakeStripe) -> str:
    return fake_stripe.add_account()


# --- money conversion -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (Decimal("29.90"), "GBP", 2990),
        (Decimal("0.01"), "eur", 1),
        (Decimal("5000"), "JPY", 5000),
        (Decimal("1200"), "KRW", 1200),
        (Decimal("12.340"), "KWD", 12340),
        (Decimal("500"), "ISK", 50000),  # Stripe keeps ISK two-decimal in its API
    ],
)
def test_to_minor_and_back_use_the_currency_minor_unit(amount, currency, minor):
    assert stripe_api.to_minor(amount, currency) == minor
    assert stripe_api.from_minor(minor, currency) == amount


def test_to_minor_refuses_amounts_finer_than_the_minor_unit():
    with pytest.raises(ValueError):
        stripe_api.to_minor(Decimal("10.5"), "JPY")
    with pytest.raises(ValueError):
        stripe_api.to_minor(Decimal("1.005"), "GBP")


def test_from_minor_gives_the_currency_places():
    assert str(stripe_api.from_minor(2990, "gbp")) == "29.90"
    assert str(stripe_api.from_minor(500, "jpy")) == "500"


# --- charges ----------------------------------------------------------------------------------


def test_charge_succeeds_on_the_gym_account_with_the_idempotency_key(fake_stripe, gym_account):
    customer, pm = fake_stripe.saved_card(account=gym_account)

    result = charge(fake_stripe, gym_account, customer, pm, "gym-a:inv-41:1")

    assert result.succeeded and result.status == "succeeded"
    assert (result.amount, result.currency) == (Decimal("29.90"), "GBP")
    assert result.charge_id.startswith("ch_") and result.id.startswith("pi_")
    assert result.metadata == {"invoice_id": "41", "attempt": "1"}
    assert (result.failure_code, result.failure_message) == ("", "")
    # Stripe saw an off-session confirmed card PaymentIntent in minor units on the gym's account.
    request = fake_stripe.requests[-1]
    assert (request.method, request.path) == ("POST", "/v1/payment_intents")
    assert request.headers["stripe-account"] == gym_account
    assert request.headers["idempotency-key"] == "gym-a:inv-41:1"
    assert request.params["amount"] == "2990" and request.params["currency"] == "gbp"
    assert request.params["off_session"] == "true" and request.params["confirm"] == "true"
    assert request.params["metadata"] == {"invoice_id": "41", "attempt": "1"}
    stored = fake_stripe.get(result.id)
    assert stored["latest_charge"] == result.charge_id and stored["customer"] == customer
    assert [e["type"] for e in fake_stripe.events[:2]] == ["payment_intent.succeeded", "charge.succeeded"]
    assert {e["account"] for e in fake_stripe.events[:2]} == {gym_account}


def test_charge_in_a_zero_decimal_currency(fake_stripe, gym_account):
    customer, pm = fake_stripe.saved_card(account=gym_account)

    result = charge(fake_stripe, gym_account, customer, pm, "k-jpy", amount=Decimal("8000"), currency="JPY")

    assert fake_stripe.get(result.id)["amount"] == 8000
    assert (result.amount, result.currency) == (Decimal("8000"), "JPY")


@pytest.mark.parametrize(
    ("card", "failure_code", "message"),
    [
        ("pm_card_chargeDeclined", "generic_decline", "Your card was declined."),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "Your card has insufficient funds."),
    ],
)
def test_card_decline_is_returned_as_a_result(fake_stripe, gym_account, card, failure_code, message):
    customer, pm = fake_stripe.saved_card(account=gym_account, card=card)

    result = charge(fake_stripe, gym_account, customer, pm, f"k-{card}")

    assert not result.succeeded
    assert result.status == "requires_payment_method"
    assert (result.failure_code, result.failure_message) == (failure_code, message)
    assert result.charge_id and fake_stripe.get(result.charge_id)["status"] == "failed"
    assert fake_stripe.events[0]["type"] == "payment_intent.payment_failed"
    # Retrieving the PaymentIntent later tells the same story.
    again = stripe_api.payment_intent_retrieve(account=gym_account, payment_intent_id=result.id)
    assert (again.status, again.failure_code, again.charge_id) == (result.status, failure_code, result.charge_id)


def test_a_card_can_start_working_for_a_later_attempt(fake_stripe, gym_account):
    customer, pm = fake_stripe.saved_card(account=gym_account)
    fake_stripe.set_outcome(pm, "insufficient_funds")
    first = charge(fake_stripe, gym_account, customer, pm, "inv-41:1")
    assert first.failure_code == "insufficient_funds"

    fake_stripe.set_outcome(pm, "succeed")

    # The same key replays the decline, as Stripe does; a new attempt needs a new key.
    assert charge(fake_stripe, gym_account, customer, pm, "inv-41:1").id == first.id
    assert not charge(fake_stripe, gym_account, customer, pm, "inv-41:1").succeeded
    second = charge(fake_stripe, gym_account, customer, pm, "inv-41:2")
    assert second.succeeded and second.id != first.id


@pytest.mark.parametrize("status", [500, 503, 429, 0])
def test_outage_raises_stripe_unavailable_and_the_retry_charges_once(fake_stripe, gym_account, status):
    customer, pm = fake_stripe.saved_card(account=gym_account)
    fake_stripe.fail_next(1, status=status)

    with pytest.raises(StripeUnavailable) as raised:
        charge(fake_stripe, gym_account, customer, pm, "inv-41:1")

    assert raised.value.http_status == (status or None)
    assert fake_stripe.objects("payment_intent") == []
    assert charge(fake_stripe, gym_account, customer, pm, "inv-41:1").succeeded
    assert len(fake_stripe.objects("payment_intent")) == 1


def test_same_idempotency_key_creates_one_payment_intent(fake_stripe, gym_account):
    customer, pm = fake_stripe.saved_card(account=gym_account)

    first = charge(fake_stripe, gym_account, customer, pm, "inv-41:1")
    second = charge(fake_stripe, gym_account, customer, pm, "inv-41:1")

    assert second.id == first.id and second.raw == first.raw
    assert len(fake_stripe.objects("payment_intent", gym_account)) == 1
    assert len(fake_stripe.objects("charge", gym_account)) == 1


def test_same_idempotency_key_with_other_parameters_is_refused(fake_stripe, gym_account):
    customer, pm = fake_stripe.saved_card(account=gym_account)
    charge(fake_stripe, gym_account, customer, pm, "inv-41:1")

    with pytest.raises(StripeUnavailable) as raised:
        charge(fake_stripe, gym_account, customer, pm, "inv-41:1", amount=Decimal("30.00"))

    assert raised.value.http_status == 400
    assert len(fake_stripe.objects("payment_intent")) == 1


def test_idempotency_replays_byte_for_byte_per_account(fake_stripe, gym_account):
    customer, pm = fake_stripe.saved_card(account=gym_account)
    body = {"amount": "100", "currency": "gbp", "customer": customer, "payment_method": pm, "confirm": "true"}
    headers = {"Authorization": "Bearer sk_test_fake", "Stripe-Account": gym_account, "Idempotency-Key": "k"}

    first = requests.post(f"{fake_stripe.url}/v1/payment_intents", data=body, headers=headers, timeout=5)
    second = requests.post(f"{fake_stripe.url}/v1/payment_intents", data=body, headers=headers, timeout=5)
    other_account = requests.post(
        f"{fake_stripe.url}/v1/payment_intents",
        data={"amount": "100", "currency": "gbp"},
        headers={**headers, "Stripe-Account": fake_stripe.add_account()},
        timeout=5,
    )

    assert first.status_code == second.status_code == 200
    assert second.content == first.content and second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert other_account.status_code == 200 and other_account.json()["id"] != first.json()["id"]


def test_an_unanswered_charge_is_recovered_by_the_same_key(fake_stripe, gym_account):
    # Given Stripe takes the money but the answer never arrives (the worker dies waiting)
    customer, pm = fake_stripe.saved_card(account=gym_account)
    fake_stripe.hang_after_charge = True
    body = {"amount": "2990", "currency": "gbp", "customer": customer, "payment_method": pm, "confirm": "true"}
    headers = {"Authorization": "Bearer sk_test_fake", "Stripe-Account": gym_account, "Idempotency-Key": "inv-41:1"}
    with pytest.raises(requests.exceptions.Timeout):
        requests.post(f"{fake_stripe.url}/v1/payment_intents", data=body, headers=headers, timeout=0.5)
    [charged] = fake_stripe.objects("payment_intent")
    assert charged["status"] == "succeeded"
    fake_stripe.hang_after_charge = False

    # When the retry sends the same key (what the gateway sends for these params)
    again = requests.post(f"{fake_stripe.url}/v1/payment_intents", data=body, headers=headers, timeout=5)

    # Then Stripe answers with the first PaymentIntent; nothing is charged twice
    assert again.json()["id"] == charged["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert len(fake_stripe.objects("charge")) == 1


def test_objects_of_one_gym_account_are_missing_on_another(fake_stripe, gym_account):
    customer, pm = fake_stripe.saved_card(account=gym_account)
    result = charge(fake_stripe, gym_account, customer, pm, "k")
    other = fake_stripe.add_account()

    with pytest.raises(StripeUnavailable) as raised:
        stripe_api.payment_intent_retrieve(account=other, payment_intent_id=result.id)
    assert (raised.value.http_status, raised.value.code) == (404, "resource_missing")
    with pytest.raises(StripeUnavailable):  # the customer is not on that account either
        charge(fake_stripe, other, customer, "pm_card_visa", "k2")


def test_a_card_saved_for_one_member_cannot_charge_another(fake_stripe, gym_account):
    _, pm = fake_stripe.saved_card(account=gym_account)
    other_customer, _ = fake_stripe.saved_card(account=gym_account)

    with pytest.raises(StripeUnavailable) as raised:
        charge(fake_stripe, gym_account, other_customer, pm, "k")
    assert raised.value.http_status == 400


def test_wrong_api_key_is_unavailable(fake_stripe, gym_account, settings):
    settings.STRIPE_SECRET_KEY = "pk_test_not_a_secret"
    with pytest.raises(StripeUnavailable) as raised:
        stripe_api.account_retrieve(account=gym_account)
    assert raised.value.http_status == 401


# --- refunds, customers, cards, checkout ---------------------------------------------------------


def test_refund_partial_then_too_much(fake_stripe, gym_account):
    customer, pm = fake_stripe.saved_card(account=gym_account)
    paid = charge(fake_stripe, gym_account, customer, pm, "k")

    refund = stripe_api.refund_create(
        account=gym_account, payment_intent_id=paid.id, amount=Decimal("10.00"), currency="GBP", idempotency_key="r1"
    )

    assert refund["id"].startswith("re_") and refund["status"] == "succeeded"
    assert refund["amount"] == Decimal("10.00")
    assert fake_stripe.get(paid.charge_id)["amount_refunded"] == 1000
    refunded = fake_stripe.events[0]
    assert refunded["type"] == "charge.refunded" and refunded["data"]["object"]["amount_refunded"] == 1000
    with pytest.raises(StripeUnavailable):
        stripe_api.refund_create(
            account=gym_account,
            payment_intent_id=paid.id,
            amount=Decimal("20.00"),
            currency="GBP",
            idempotency_key="r2",
        )


def test_saving_a_card_through_setup_intent(fake_stripe, gym_account):
    customer = stripe_api.customer_create(
        account=gym_account, email="m@example.com", name="Mo Member", metadata={"member_id": "7"}, idempotency_key="c7"
    )
    intent = stripe_api.setup_intent_create(account=gym_account, customer=customer)
    assert intent["id"].startswith("seti_") and intent["client_secret"].startswith(intent["id"] + "_secret_")

    completed = fake_stripe.complete_setup_intent(intent["id"], payment_method="pm_card_mastercard")

    event = fake_stripe.events[0]
    assert event["type"] == "setup_intent.succeeded" and event["account"] == gym_account
    assert event["data"]["object"]["payment_method"] == completed["payment_method"]
    card = stripe_api.payment_method_retrieve(account=gym_account, payment_method_id=completed["payment_method"])
    assert (card["brand"], card["last4"]) == ("mastercard", "4444") and card["exp_year"] > 2000
    assert charge(fake_stripe, gym_account, customer, completed["payment_method"], "k").succeeded


def test_test_card_payment_methods_are_retrievable(fake_stripe, gym_account):
    card = stripe_api.payment_method_retrieve(account=gym_account, payment_method_id="pm_card_visa")
    assert (card["id"], card["brand"], card["last4"]) == ("pm_card_visa", "visa", "4242")


def test_checkout_setup_session(fake_stripe, gym_account):
    customer, _ = fake_stripe.saved_card(account=gym_account)

    session = stripe_api.checkout_setup_session_create(
        account=gym_account, customer=customer, currency="GBP", success_url="https://g/ok", cancel_url="https://g/no"
    )

    assert session["id"].startswith("cs_") and session["url"].startswith("https://checkout.stripe.com/")
    assert fake_stripe.requests[-1].params["mode"] == "setup"
    fake_stripe.complete_checkout_session(session["id"])
    assert [e["type"] for e in fake_stripe.events[:2]] == ["checkout.session.completed", "setup_intent.succeeded"]


def test_checkout_payment_session_pays_one_invoice(fake_stripe, gym_account):
    session = stripe_api.checkout_payment_session_create(
        account=gym_account,
        customer=None,
        amount=Decimal("45.50"),
        currency="EUR",
        description="INV-2026-000042",
        metadata={"invoice_id": "42"},
        success_url="https://g/ok",
        cancel_url="https://g/no",
        idempotency_key="pay-42",
    )

    sent = fake_stripe.requests[-1].params
    assert sent["line_items"][0]["price_data"] == {
        "currency": "eur",
        "unit_amount": "4550",
        "product_data": {"name": "INV-2026-000042"},
    }
    done = fake_stripe.complete_checkout_session(session["id"])
    assert (done["status"], done["payment_status"], done["amount_total"]) == ("complete", "paid", 4550)
    paid = fake_stripe.get(done["payment_intent"])
    assert paid["status"] == "succeeded" and paid["metadata"] == {"invoice_id": "42"}


# --- Connect onboarding ---------------------------------------------------------------------------


def test_standard_account_onboarding(fake_stripe):
    account = stripe_api.account_create_standard(email="owner@gym.test", country="gb", idempotency_key="gym-a")
    assert account.startswith("acct_")
    assert stripe_api.account_retrieve(account=account) == {
        "id": account,
        "charges_enabled": False,
        "details_submitted": False,
        "payouts_enabled": False,
        "country": "GB",
        "default_currency": "GBP",
    }
    url = stripe_api.account_link_create(account=account, refresh_url="https://g/refresh", return_url="https://g/back")
    assert url.startswith("https://connect.stripe.com/")

    fake_stripe.account_update(account, charges_enabled=True, details_submitted=True)

    assert stripe_api.account_retrieve(account=account)["charges_enabled"] is True
    [updated] = stripe_api.events_list(account=account, created_gte=0, types=["account.updated"])
    assert updated["account"] == account
    assert updated["data"]["previous_attributes"] == {"charges_enabled": False, "details_submitted": False}


# --- events -----------------------------------------------------------------------------------


def test_events_list_follows_pages_and_filters(fake_stripe, gym_account):
    customer, pm = fake_stripe.saved_card(account=gym_account)
    fake_stripe.time_offset = -40 * 86400  # an old charge, before the window
    charge(fake_stripe, gym_account, customer, pm, "old")
    fake_stripe.time_offset = 0
    for n in range(60):  # 120 events: more than one page of 100
        charge(fake_stripe, gym_account, customer, pm, f"k{n}")
    fake_stripe.add_account()  # events of other accounts stay apart
    since = int(time.time()) - 30 * 86400

    events = list(stripe_api.events_list(account=gym_account, created_gte=since))

    assert len(events) == 120 and len({e["id"] for e in events}) == 120
    assert [e["id"] for e in events] == [e["id"] for e in fake_stripe.events if e["created"] >= since]
    assert all(e["account"] == gym_account for e in events)
    pages = [r for r in fake_stripe.requests if r.path == "/v1/events"]
    assert len(pages) == 2 and pages[1].params["starting_after"] == events[99]["id"]
    succeeded = list(stripe_api.events_list(account=gym_account, created_gte=since, types=["payment_intent.*"]))
    assert len(succeeded) == 60 and {e["type"] for e in succeeded} == {"payment_intent.succeeded"}
    assert events[0]["data"]["object"]["object"] == "payment_intent"


def test_events_carry_their_object_and_the_request_that_caused_them(fake_stripe, gym_account):
    customer, pm = fake_stripe.saved_card(account=gym_account)
    paid = charge(fake_stripe, gym_account, customer, pm, "gym-a:inv-41:1")
    dispute = fake_stripe.dispute(paid.charge_id)

    disputed, succeeded = fake_stripe.events[:2]

    assert succeeded["type"] == "payment_intent.succeeded" and succeeded["data"]["object"]["id"] == paid.id
    assert succeeded["request"]["idempotency_key"] == "gym-a:inv-41:1"
    assert succeeded["request"]["id"].startswith("req_") and succeeded["livemode"] is False
    assert disputed["type"] == "charge.dispute.created" and disputed["account"] == gym_account
    assert disputed["data"]["object"] == dispute and dispute["charge"] == paid.charge_id
    assert disputed["request"] == {"id": None, "idempotency_key": None}  # not caused by an API call


def test_event_retrieve_by_id_and_unknown_ids(fake_stripe, gym_account):
    fake_stripe.account_update(gym_account, payouts_enabled=False)
    event_id = fake_stripe.events[0]["id"]
    headers = {"Authorization": "Bearer sk_test_fake", "Stripe-Account": gym_account}

    found = requests.get(f"{fake_stripe.url}/v1/events/{event_id}", headers=headers, timeout=5)
    missing = requests.get(f"{fake_stripe.url}/v1/events/evt_nope", headers=headers, timeout=5)
    no_auth = requests.get(f"{fake_stripe.url}/v1/events/{event_id}", timeout=5)

    assert found.json()["id"] == event_id
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"
    assert no_auth.status_code == 401 and no_auth.json()["error"]["type"] == "invalid_request_error"


# --- webhooks ---------------------------------------------------------------------------------


def test_webhook_signature_round_trip(fake_stripe, gym_account):
    customer, pm = fake_stripe.saved_card(account=gym_account)
    charge(fake_stripe, gym_account, customer, pm, "k")
    body, headers = fake_stripe.webhook_request(fake_stripe.events[0])

    event = stripe_api.webhook_event_construct(
        payload=body, sig_header=headers["Stripe-Signature"], secret=STRIPE_WEBHOOK_SECRET
    )

    assert event["type"] == "payment_intent.succeeded" and event["account"] == gym_account
    assert event["data"]["object"]["id"] == fake_stripe.objects("payment_intent")[0]["id"]


def test_webhook_signature_rejects_tampering_wrong_secret_and_stale_timestamps(fake_stripe, gym_account):
    fake_stripe.account_update(gym_account, charges_enabled=False)
    body, headers = fake_stripe.webhook_request(fake_stripe.events[0]["id"])
    tampered = body.replace(b'"charges_enabled": false', b'"charges_enabled": true')
    assert tampered != body
    stale = sign_webhook(body, STRIPE_WEBHOOK_SECRET, timestamp=int(time.time()) - 600)
    cases = [
        (tampered, headers["Stripe-Signature"], STRIPE_WEBHOOK_SECRET),
        (body, headers["Stripe-Signature"], "whsec_someone_else"),
        (body, stale, STRIPE_WEBHOOK_SECRET),
        (body, "", STRIPE_WEBHOOK_SECRET),
    ]
    for payload, sig_header, secret in cases:
        with pytest.raises(stripe.SignatureVerificationError):
            stripe_api.webhook_event_construct(payload=payload, sig_header=sig_header, secret=secret)


def test_webhook_with_a_valid_signature_but_no_json_is_a_value_error():
    body = b"not json"
    with pytest.raises(ValueError):
        stripe_api.webhook_event_construct(
            payload=body, sig_header=sign_webhook(body, STRIPE_WEBHOOK_SECRET), secret=STRIPE_WEBHOOK_SECRET
        )


# --- the fake itself --------------------------------------------------------------------------


def test_form_parsing_follows_stripe_encoding():
    raw = "metadata[a]=1&metadata[b]=&line_items[0][price_data][unit_amount]=5&types[]=x&types[]=y&expand[0]=z"
    assert parse_form(raw) == {
        "metadata": {"a": "1", "b": ""},
        "line_items": [{"price_data": {"unit_amount": "5"}}],
        "types": ["x", "y"],
        "expand": ["z"],
    }


def test_fake_runs_standalone_for_benches():
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.invoices.tests.fake_stripe", "--port", "0", "--latency-ms", "5"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],  # the project root
    )
    try:
        url = proc.stdout.readline().strip()
        created = requests.post(
            f"{url}/v1/customers",
            data={"email": "m@example.com"},
            headers={"Authorization": "Bearer sk_test_fake", "Stripe-Account": "acct_bench1"},
            timeout=5,
        )
        assert created.status_code == 200 and json.loads(created.content)["id"].startswith("cus_")
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
