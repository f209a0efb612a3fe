"""Applying Stripe events to one gym (Connect events routed to its schema), and the daily
reconciliation that recovers events the webhook missed.

Each event is applied once: its id is inserted into `StripeEvent` in the same
transaction as its effects (`INSERT ... ON CONFLICT DO NOTHING`), so a replay finds the
row and does nothing, and a failure rolls both back for the next delivery. Handlers
read the object in the event and tolerate any order: final states win (a payment that
succeeded never fails afterwards; refunds only ever grow to the charge's
`amount_refunded`). Stripe retries webhooks for up to 3 days and lists events for 30
days (https://docs.stripe.com/webhooks#retries, https://docs.stripe.com/api/events/list),
so the daily reconciliation looks back 3 days by default and replays what is missing.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from apps.members.models import Member
from apps.tenants.selectors import current_gym

from .. import stripe_api
from ..models import Invoice, Payment, Refund, StripeCustomer, StripeEvent
from .payments import invoice_charge, payment_intent_apply

logger = logging.getLogger(__name__)

HANDLED_TYPES = [
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
    "setup_intent.succeeded",
    "checkout.session.completed",
]
RECONCILE_LOOKBACK = datetime.timedelta(days=3)


def payment_intent_result(obj: dict[str, Any]) -> stripe_api.PaymentIntentResult:
    """A PaymentIntent object (webhook JSON) as the gateway's `PaymentIntentResult`."""
    error = obj.get("last_payment_error") or {}
    latest = obj.get("latest_charge") or ""
    currency = (obj.get("currency") or "usd").upper()
    return stripe_api.PaymentIntentResult(
        id=obj["id"],
        status=obj.get("status", ""),
        amount=stripe_api.from_minor(int(obj.get("amount") or 0), currency),
        currency=currency,
        charge_id=latest if isinstance(latest, str) else latest.get("id", ""),
        failure_code=error.get("decline_code") or error.get("code") or "",
        failure_message=error.get("message") or "",
        metadata=dict(obj.get("metadata") or {}),
        raw=obj,
    )


def _payment_intent(event: dict[str, Any]) -> str:
    return payment_intent_apply(payment_intent_result(event["data"]["object"]))


def _charge_refunded(event: dict[str, Any]) -> str:
    charge = event["data"]["object"]
    pi = charge.get("payment_intent") or ""
    payment = (
        Payment.objects.select_for_update().filter(stripe_charge_id=charge["id"]).first()
        or Payment.objects.select_for_update().filter(stripe_payment_intent_id=pi).first()
    )
    if payment is None:
        return "unknown_charge"
    refunded = stripe_api.from_minor(int(charge.get("amount_refunded") or 0), payment.currency)
    for data in (charge.get("refunds") or {}).get("data") or []:
        amount = stripe_api.from_minor(int(data.get("amount") or 0), payment.currency)
        if amount > 0 and not Refund.objects.filter(stripe_refund_id=data["id"]).exists():
            Refund.objects.create(
                payment=payment,
                amount=amount,
                status=Refund.Status.SUCCEEDED if data.get("status") == "succeeded" else Refund.Status.PENDING,
                reason="Refunded in Stripe",
                stripe_refund_id=data["id"],
            )
    Refund.objects.filter(payment=payment, status=Refund.Status.PENDING, stripe_refund_id__isnull=False).update(
        status=Refund.Status.SUCCEEDED
    )
    if refunded > payment.amount_refunded:  # refunds only grow: an older event changes nothing
        Payment.objects.filter(pk=payment.pk).update(amount_refunded=min(refunded, payment.amount))
    return "refunded"


def _dispute(event: dict[str, Any]) -> str:
    dispute = event["data"]["object"]
    charge = dispute.get("charge") or ""
    pi = dispute.get("payment_intent") or ""
    updated = Payment.objects.filter(stripe_charge_id=charge).update(disputed=True) if charge else 0
    if not updated and pi:
        updated = Payment.objects.filter(stripe_payment_intent_id=pi).update(disputed=True)
    return "disputed" if updated else "unknown_charge"


def _card_saved(customer_id: str, payment_method_id: str, metadata: dict[str, Any]) -> str:
    gym = current_gym()
    customer = StripeCustomer.objects.select_for_update().filter(customer_id=customer_id).first()
    if customer is None:
        member_id = metadata.get("member_id")
        member = Member.objects.filter(pk=int(str(member_id))).first() if str(member_id or "").isdigit() else None
        if member is None:
            return "unknown_customer"
        customer, _ = StripeCustomer.objects.get_or_create(member=member, defaults={"customer_id": customer_id})
    card = stripe_api.payment_method_retrieve(account=gym.stripe_account_id, payment_method_id=payment_method_id)
    customer.payment_method_id = payment_method_id
    customer.card_brand = card.get("brand", "")[:20]
    customer.card_last4 = card.get("last4", "")[:4]
    customer.card_exp_month = card.get("exp_month")
    customer.card_exp_year = card.get("exp_year")
    customer.save()
    # A member in dunning who saves a new card gets the overdue invoices tried again now.
    Invoice.objects.filter(member_id=customer.member_id, status=Invoice.Status.OPEN).exclude(attempt_count=0).update(
        auto_collect=True, next_payment_attempt=timezone.localdate()
    )
    return "card_saved"


def _setup_intent(event: dict[str, Any]) -> str:
    seti = event["data"]["object"]
    if not seti.get("customer") or not seti.get("payment_method"):
        return "incomplete"
    return _card_saved(seti["customer"], seti["payment_method"], seti.get("metadata") or {})


def _checkout_completed(event: dict[str, Any]) -> str:
    session = event["data"]["object"]
    gym = current_gym()
    if session.get("mode") == "payment" and session.get("payment_intent"):
        result = stripe_api.payment_intent_retrieve(
            account=gym.stripe_account_id, payment_intent_id=session["payment_intent"]
        )
        return payment_intent_apply(result)
    return "ignored"  # setup mode completes through setup_intent.succeeded


HANDLERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "payment_intent.succeeded": _payment_intent,
    "payment_intent.payment_failed": _payment_intent,
    "charge.refunded": _charge_refunded,
    "charge.dispute.created": _dispute,
    "setup_intent.succeeded": _setup_intent,
    "checkout.session.completed": _checkout_completed,
}


def stripe_event_apply(event: dict[str, Any]) -> str:
    """Apply one Stripe event (webhook JSON as a dict) to the current gym, once per event
    id. Returns the outcome: `duplicate` when it was applied before, `ignored` for types
    we do not handle or objects that are not ours, else the handler's outcome.
    Raises what the handler raises (e.g. `StripeUnavailable` while fetching a card):
    nothing is recorded then, and the next delivery or the reconciliation tries again."""
    handler = HANDLERS.get(event.get("type", ""))
    created = datetime.datetime.fromtimestamp(int(event.get("created") or 0), tz=datetime.UTC)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {StripeEvent._meta.db_table} (id, type, created, applied_at, outcome)"  # noqa: S608
                " VALUES (%s, %s, %s, %s, '') ON CONFLICT (id) DO NOTHING RETURNING id",
                [event["id"], event.get("type", "")[:64], created, timezone.now()],
            )
            if cursor.fetchone() is None:
                return "duplicate"
        outcome = handler(event) if handler else "ignored"
        StripeEvent.objects.filter(pk=event["id"]).update(outcome=outcome[:64])
    logger.info("stripe event %s (%s): %s", event["id"], event.get("type"), outcome)
    return outcome


def stripe_reconcile(
    *, now: datetime.datetime | None = None, lookback: datetime.timedelta = RECONCILE_LOOKBACK
) -> dict[str, int]:
    """Recover what the webhook missed in the current gym: list the Connect account's
    events of the handled types since `now - lookback` and apply those not applied yet;
    then send again, with their own idempotency keys, card charges left pending for
    longer than 10 minutes (a worker killed between the charge and the save). Returns
    counts `{"events": listed, "applied": newly applied, "pending": charges finished}`.
    A gym without Stripe does nothing. Raises `StripeUnavailable` when Stripe cannot
    be reached (the task retries)."""
    from .billing import PENDING_RETRY_AFTER

    gym = current_gym()
    counts = {"events": 0, "applied": 0, "pending": 0}
    if not gym.stripe_account_id:
        return counts
    now = now or timezone.now()
    since = int((now - lookback).timestamp())
    for event in stripe_api.events_list(account=gym.stripe_account_id, created_gte=since, types=HANDLED_TYPES):
        counts["events"] += 1
        if stripe_event_apply(event) != "duplicate":
            counts["applied"] += 1
    stale = now - PENDING_RETRY_AFTER
    pending = Payment.objects.filter(
        status=Payment.Status.PENDING, attempt__isnull=False, created_at__lt=stale
    ).values_list("invoice_id", flat=True)
    for invoice_id in list(pending):
        outcome = invoice_charge(invoice_id=invoice_id, new_attempt=False)
        counts["pending"] += int(outcome.status in ("succeeded", "failed"))
    return counts
