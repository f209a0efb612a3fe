"""Writes for the platform's Stripe side (DESIGN.md 7): receiving webhook events, routing
Connect events to their gym, and FitFlow's own billing of gyms.

Webhook events (`stripe_webhook_receive`) are recorded by id in `StripeWebhookEvent` in
the same transaction as their effect, so Stripe's retries and replays change nothing.

- A Connect event (it names the gym's `account`) is routed: queued, after commit, as
  `apps.invoices.tasks.stripe_event_apply_task` in the gym's schema, which applies it and
  records it again by id there. `account.updated` is applied here instead: it only sets
  `Gym.stripe_charges_enabled`. An unknown account is logged and answered 200.
  dj-stripe does not process Connect events: a gym's members' customers, charges and cards
  belong in the gym's schema, not in public; and nothing that could fail in a mirror may
  stand between Stripe and the gym.
- A platform event is first mirrored by dj-stripe (`djstripe.models.Event.process`, which
  re-reads the objects from Stripe), then applied to the gym's FitFlow standing:
  `customer.subscription.*`, `invoice.paid` and `invoice.payment_failed` keep
  `Gym.platform_unpaid_since` and reactivate a gym suspended for non-payment when it pays.
  The standing never waits on the mirror: if dj-stripe fails, the standing is still
  applied and the event is left unprocessed, so Stripe's next delivery tries the mirror again.

Stripe does not deliver in order. Each gym's `GymStripeState` keeps the Stripe `created`
time of the newest event applied (one for billing, one for the Connect account); an older
event arriving later changes nothing.

FitFlow's grace is `settings.FITFLOW_UNPAID_SUSPEND_DAYS` (14) days: `gyms_suspend_unpaid`
(the daily sweep) suspends a gym unpaid for longer, with the reason
"FitFlow subscription unpaid since YYYY-MM-DD". Only a suspension with that reason is
lifted by a payment; a gym a super-admin suspended for anything else stays suspended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from apps.tenants.models import Gym
from apps.tenants.services import gym_reactivate, gym_suspend

from .djstripe_wiring import stripe_globals_configure
from .errors import BillingError, WebhookHandoffFailed
from .models import GymStripeState, GymSubscriber, StripeWebhookEvent
from .selectors import gym_for_platform_customer, gym_for_stripe_account, gyms_unpaid_overdue

logger = logging.getLogger(__name__)

UNPAID_REASON_PREFIX = "FitFlow subscription unpaid since"
"""Start of `Gym.suspended_reason` for a suspension by the sweep; payment lifts only these."""

# Stripe subscription statuses (https://docs.stripe.com/api/subscriptions/object#subscription_object-status).
PAID_STATUSES = frozenset({"active", "trialing"})
UNPAID_STATUSES = frozenset({"past_due", "unpaid"})
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})
# "incomplete" (first payment pending, at most 23 hours) and "paused" change no standing.

SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
    }
)
INVOICE_PAID_EVENTS = frozenset({"invoice.paid"})
INVOICE_FAILED_EVENTS = frozenset({"invoice.payment_failed"})
ACCOUNT_EVENTS = frozenset({"account.updated", "account.application.deauthorized"})


@dataclass(frozen=True)
class WebhookReceipt:
    """What happened to one delivery: `outcome` (a `StripeWebhookEvent.Outcome` value),
    `duplicate` when the event had already been handled, and `retry` when it could not be
    finished now and Stripe should deliver it again (answer with an error status)."""

    event_id: str
    outcome: str
    duplicate: bool = False
    retry: bool = False


def event_created_at(event: dict[str, Any]) -> datetime:
    """The event's Stripe `created` (Unix seconds) as an aware UTC datetime."""
    return datetime.fromtimestamp(int(event["created"]), tz=UTC)


def _stripe_id(value: Any) -> str:
    """An id from a field that is either an id or an expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def stripe_webhook_receive(*, event: dict[str, Any], endpoint: str) -> WebhookReceipt:
    """Handle one verified webhook event (the webhook JSON as a dict) exactly once.

    `endpoint` is `StripeWebhookEvent.Endpoint` ("platform" or "connect"), kept for the
    record; an event with an `account` is handled as a Connect event whichever endpoint
    received it. A repeated delivery of a processed event returns `duplicate=True` and
    changes nothing but the delivery count.

    Raises `WebhookHandoffFailed` when a Connect event could not be queued for its gym
    after commit (the event is recorded, unprocessed; the next delivery queues it).
    """
    event_id = str(event["id"])
    with transaction.atomic():
        record, created = StripeWebhookEvent.objects.get_or_create(
            id=event_id,
            defaults={
                "endpoint": endpoint,
                "type": str(event.get("type") or ""),
                "account": _stripe_id(event.get("account")),
                "livemode": bool(event.get("livemode")),
                "created": event_created_at(event),
            },
        )
        if not created:
            StripeWebhookEvent.objects.filter(pk=event_id).update(deliveries=F("deliveries") + 1)
            # Wait for a concurrent delivery of the same event, then see what it did.
            record = StripeWebhookEvent.objects.select_for_update().get(pk=event_id)
            if record.processed_at is not None:
                return WebhookReceipt(event_id, record.outcome, duplicate=True)
        if record.account:
            return _connect_event_receive(record=record, event=event)
        return _platform_event_receive(record=record, event=event)


def _connect_event_receive(*, record: StripeWebhookEvent, event: dict[str, Any]) -> WebhookReceipt:
    gym = gym_for_stripe_account(account_id=record.account)
    record.gym = gym
    if gym is None:
        logger.warning("Stripe event %s (%s) for unknown account %s: ignored", record.id, record.type, record.account)
        _record_done(record, StripeWebhookEvent.Outcome.UNKNOWN_ACCOUNT)
        return WebhookReceipt(record.id, record.outcome)
    if record.type in ACCOUNT_EVENTS:
        outcome = gym_connect_account_apply(gym=gym, event=event)
        _record_done(record, outcome)
        return WebhookReceipt(record.id, outcome)
    record.outcome = StripeWebhookEvent.Outcome.ROUTED
    record.error = ""
    record.save(update_fields=["gym", "outcome", "error"])
    schema_name = gym.schema_name
    transaction.on_commit(lambda: _hand_over(record_id=record.id, event=event, schema_name=schema_name))
    return WebhookReceipt(record.id, record.outcome)


def _hand_over(*, record_id: str, event: dict[str, Any], schema_name: str) -> None:
    """After commit: queue the gym's task for the event, then mark the event processed."""
    from apps.invoices.tasks import stripe_event_apply_task

    try:
        stripe_event_apply_task.apply_async(args=[event], headers={"_schema_name": schema_name})
    except Exception as exc:
        logger.exception("Stripe event %s could not be queued for %s", record_id, schema_name)
        StripeWebhookEvent.objects.filter(pk=record_id).update(error=f"queue: {type(exc).__name__}: {exc}"[:2000])
        raise WebhookHandoffFailed(record_id, type(exc).__name__) from exc
    StripeWebhookEvent.objects.filter(pk=record_id).update(processed_at=timezone.now(), error="")


def _platform_event_receive(*, record: StripeWebhookEvent, event: dict[str, Any]) -> WebhookReceipt:
    mirror_error = ""
    try:
        with transaction.atomic():
            djstripe_event_process(event=event)
    except Exception as exc:  # dj-stripe or Stripe failed; the standing below must not wait on it
        logger.exception("dj-stripe could not process Stripe event %s (%s)", record.id, record.type)
        mirror_error = f"dj-stripe: {type(exc).__name__}: {exc}"[:2000]
    outcome, gym = platform_event_apply(event=event)
    record.gym = gym
    if mirror_error:
        record.outcome = outcome
        record.error = mirror_error
        record.save(update_fields=["gym", "outcome", "error"])
        return WebhookReceipt(record.id, outcome, retry=True)
    _record_done(record, outcome)
    return WebhookReceipt(record.id, outcome)


def _record_done(record: StripeWebhookEvent, outcome: str) -> None:
    record.outcome = outcome
    record.processed_at = timezone.now()
    record.error = ""
    record.save(update_fields=["gym", "outcome", "processed_at", "error"])


def djstripe_event_process(*, event: dict[str, Any]) -> None:
    """Mirror a platform event into dj-stripe's tables (Event, Customer, Subscription,
    Invoice...) with `djstripe.models.Event.process`, which re-reads each object from
    Stripe (at `settings.STRIPE_API_BASE`) and is itself idempotent by event id. Raises
    whatever dj-stripe or the stripe library raise."""
    from djstripe.models import Event

    stripe_globals_configure()
    Event.process(data=event, api_key=settings.STRIPE_SECRET_KEY)


def _state_for_update(gym: Gym) -> GymStripeState:
    GymStripeState.objects.get_or_create(gym=gym)
    return GymStripeState.objects.select_for_update().get(gym=gym)


def gym_connect_account_apply(*, gym: Gym, event: dict[str, Any]) -> str:
    """Apply a Connect account event to the gym, in public: `account.updated` sets
    `Gym.stripe_charges_enabled` from the account's `charges_enabled`;
    `account.application.deauthorized` (the gym disconnected FitFlow) turns it off.

    Returns "applied", or "stale" when a newer account event was already applied (the
    order of delivery does not matter), or "ignored" for another type.
    """
    if event.get("type") not in ACCOUNT_EVENTS:
        return StripeWebhookEvent.Outcome.IGNORED
    created = event_created_at(event)
    with transaction.atomic():
        state = _state_for_update(gym)
        if state.account_as_of is not None and created < state.account_as_of:
            return StripeWebhookEvent.Outcome.STALE
        if event["type"] == "account.updated":
            charges_enabled = bool(event["data"]["object"].get("charges_enabled"))
        else:
            charges_enabled = False
        Gym.objects.filter(pk=gym.pk).update(stripe_charges_enabled=charges_enabled)
        gym.stripe_charges_enabled = charges_enabled
        state.account_as_of = created
        state.save(update_fields=["account_as_of", "updated_at"])
    return StripeWebhookEvent.Outcome.APPLIED


def gym_connect_account_refresh(*, gym: Gym, now: datetime) -> dict[str, Any]:
    """Read the gym's connected account from Stripe (`apps.invoices.stripe_api.account_retrieve`)
    and set `Gym.stripe_charges_enabled` from it, as of `now` (aware): for the return from
    Connect onboarding, or when an `account.updated` came before the gym had stored its
    account id (that delivery was answered as an unknown account). Events older than `now`
    arriving later change nothing. A gym without an account is left as it is. Returns the
    account as `account_retrieve` gives it (`{}` without an account); `gym` is updated in
    place. Raises `apps.invoices.stripe_api.StripeUnavailable`."""
    from apps.invoices.stripe_api import account_retrieve

    if not gym.stripe_account_id:
        return {}
    account = account_retrieve(account=gym.stripe_account_id)
    with transaction.atomic():
        state = _state_for_update(gym)
        if state.account_as_of is None or now >= state.account_as_of:
            Gym.objects.filter(pk=gym.pk).update(stripe_charges_enabled=account["charges_enabled"])
            gym.stripe_charges_enabled = account["charges_enabled"]
            state.account_as_of = now
            state.save(update_fields=["account_as_of", "updated_at"])
    return account


def _invoice_subscription_id(invoice: dict[str, Any]) -> str:
    # API versions before 2025-03-31 have `subscription`; later ones `parent.subscription_details`.
    direct = _stripe_id(invoice.get("subscription"))
    if direct:
        return direct
    parent = invoice.get("parent") or {}
    return _stripe_id((parent.get("subscription_details") or {}).get("subscription"))


def _ended_on(subscription: dict[str, Any], fallback: date) -> date:
    for key in ("ended_at", "canceled_at"):
        if subscription.get(key):
            return datetime.fromtimestamp(int(subscription[key]), tz=UTC).date()
    return fallback


def platform_event_apply(*, event: dict[str, Any]) -> tuple[str, Gym | None]:
    """Apply a platform event to the gym's FitFlow standing. Returns (outcome, gym).

    - `customer.subscription.*`: the subscription's status is recorded; active or
      trialing is paid; past_due or unpaid is unpaid since the event's day; canceled
      (or incomplete_expired) is unpaid since the day it ended (a gym without a paid
      subscription is on its grace). The end of a subscription that is no longer the
      gym's current one is ignored.
    - `invoice.paid` for a subscription invoice is paid; `invoice.payment_failed` is
      unpaid since the event's day.

    Paid clears `Gym.platform_unpaid_since` and reactivates a gym suspended for
    non-payment; unpaid sets it (keeping an earlier day). Outcomes: "applied", "stale"
    (older than the last applied billing event), "ignored" (another type, or an invoice
    outside a subscription), "unknown_customer" (no gym is this customer; logged).
    Dates are UTC days.
    """
    event_type = str(event.get("type") or "")
    obj: dict[str, Any] = event.get("data", {}).get("object", {}) or {}
    if event_type in SUBSCRIPTION_EVENTS:
        subscription_id = _stripe_id(obj.get("id"))
    elif event_type in INVOICE_PAID_EVENTS | INVOICE_FAILED_EVENTS:
        subscription_id = _invoice_subscription_id(obj)
        if not subscription_id:
            return StripeWebhookEvent.Outcome.IGNORED, None
    else:
        return StripeWebhookEvent.Outcome.IGNORED, None
    gym = gym_for_platform_customer(customer_id=_stripe_id(obj.get("customer")))
    if gym is None:
        logger.warning("Stripe event %s (%s): no gym is customer %s", event.get("id"), event_type, obj.get("customer"))
        return StripeWebhookEvent.Outcome.UNKNOWN_CUSTOMER, None
    created = event_created_at(event)
    with transaction.atomic():
        gym = Gym.objects.select_for_update().get(pk=gym.pk)
        state = _state_for_update(gym)
        if state.billing_as_of is not None and created < state.billing_as_of:
            return StripeWebhookEvent.Outcome.STALE, gym
        if event_type in SUBSCRIPTION_EVENTS:
            status = str(obj.get("status") or "")
            is_current = not state.subscription_id or state.subscription_id == subscription_id
            if status in ENDED_STATUSES and not is_current:
                return StripeWebhookEvent.Outcome.IGNORED, gym
            _standing_apply(
                gym=gym,
                state=state,
                as_of=created,
                subscription_id=subscription_id,
                status=status,
                unpaid_since=_ended_on(obj, created.date()) if status in ENDED_STATUSES else created.date(),
            )
        elif event_type in INVOICE_PAID_EVENTS:
            _standing_apply(gym=gym, state=state, as_of=created, subscription_id=subscription_id, status="active")
        else:
            _standing_apply(
                gym=gym,
                state=state,
                as_of=created,
                subscription_id=subscription_id,
                status="past_due",
                unpaid_since=created.date(),
            )
    return StripeWebhookEvent.Outcome.APPLIED, gym


def _standing_apply(
    *,
    gym: Gym,
    state: GymStripeState,
    as_of: datetime,
    subscription_id: str,
    status: str,
    unpaid_since: date | None = None,
) -> None:
    """Record the subscription's status as of `as_of` and apply it to the gym (locked)."""
    state.subscription_id = subscription_id
    state.subscription_status = status
    state.billing_as_of = as_of
    state.save(update_fields=["subscription_id", "subscription_status", "billing_as_of", "updated_at"])
    if status in PAID_STATUSES:
        gym_platform_paid(gym=gym)
    elif status in UNPAID_STATUSES | ENDED_STATUSES and unpaid_since is not None:
        gym_platform_unpaid(gym=gym, since=unpaid_since)


def gym_suspended_for_nonpayment(*, gym: Gym) -> bool:
    """True when the gym is suspended by the unpaid sweep (its reason starts with
    `UNPAID_REASON_PREFIX`), not by a super-admin for another reason."""
    return gym.status == Gym.Status.SUSPENDED and gym.suspended_reason.startswith(UNPAID_REASON_PREFIX)


def gym_platform_paid(*, gym: Gym) -> Gym:
    """The gym's FitFlow subscription is paid: clear `platform_unpaid_since`, and lift a
    suspension for non-payment (status back to active). Any other suspension stays."""
    if gym.platform_unpaid_since is not None:
        gym.platform_unpaid_since = None
        gym.save(update_fields=["platform_unpaid_since"])
    if gym_suspended_for_nonpayment(gym=gym):
        gym_reactivate(gym=gym)
        logger.info("Gym %s paid FitFlow and is reactivated", gym.schema_name)
    return gym


def gym_platform_unpaid(*, gym: Gym, since: date) -> Gym:
    """The gym's FitFlow subscription is unpaid since `since` (UTC day): set
    `platform_unpaid_since`, keeping an earlier day already recorded. The gym is not
    suspended here; `gyms_suspend_unpaid` does that after the grace."""
    if gym.platform_unpaid_since is None or since < gym.platform_unpaid_since:
        gym.platform_unpaid_since = since
        gym.save(update_fields=["platform_unpaid_since"])
    return gym


def gyms_suspend_unpaid(*, today: date, gyms: QuerySet[Gym] | None = None) -> list[Gym]:
    """Suspend every trial or active gym unpaid for more than
    `settings.FITFLOW_UNPAID_SUSPEND_DAYS` (14) days on `today` (UTC day), with the reason
    "FitFlow subscription unpaid since YYYY-MM-DD". `gyms` narrows it (the admin action).

    Each gym is locked and checked again before it is suspended, so a payment applied
    meanwhile wins. Idempotent: a suspended gym is not touched again. Returns the gyms
    suspended now.
    """
    suspended: list[Gym] = []
    for gym_id in list(gyms_unpaid_overdue(today=today, gyms=gyms).values_list("pk", flat=True)):
        with transaction.atomic():
            gym = Gym.objects.select_for_update().get(pk=gym_id)
            if not gyms_unpaid_overdue(today=today, gyms=Gym.objects.filter(pk=gym_id)).exists():
                continue
            unpaid_since = gym.platform_unpaid_since
            assert unpaid_since is not None  # the overdue filter above requires it
            gym_suspend(gym=gym, reason=f"{UNPAID_REASON_PREFIX} {unpaid_since:%Y-%m-%d}")
            logger.info("Gym %s suspended: FitFlow unpaid since %s", gym.schema_name, unpaid_since)
            suspended.append(gym)
    return suspended


def gym_platform_billing_sync(*, gym: Gym, now: datetime) -> GymStripeState:
    """Read the gym's FitFlow subscriptions from Stripe (platform account) into dj-stripe
    and apply the current one's status as of `now` (aware), as an event would; newer than
    any event applied so far, so it wins over them. The current subscription is the newest
    one that has not ended, else the newest. A gym with no customer or no subscription is
    left as it is. Raises `stripe.StripeError` when Stripe cannot be read.
    """
    from djstripe.models import Customer, Subscription

    stripe_globals_configure()
    customer_ids = list(Customer.objects.filter(subscriber_id=gym.pk).values_list("id", flat=True))
    subscriptions: list[dict[str, Any]] = []
    for customer_id in customer_ids:
        for stripe_subscription in Subscription.api_list(
            api_key=settings.STRIPE_SECRET_KEY, customer=customer_id, status="all"
        ):
            Subscription.sync_from_stripe_data(stripe_subscription, api_key=settings.STRIPE_SECRET_KEY)
            subscriptions.append(stripe_subscription.to_dict())
    with transaction.atomic():
        gym = Gym.objects.select_for_update().get(pk=gym.pk)
        state = _state_for_update(gym)
        if not subscriptions:
            return state
        subscriptions.sort(key=lambda s: (s.get("status") not in ENDED_STATUSES, int(s.get("created") or 0)))
        current = subscriptions[-1]
        status = str(current.get("status") or "")
        _standing_apply(
            gym=gym,
            state=state,
            as_of=now,
            subscription_id=str(current["id"]),
            status=status,
            unpaid_since=_ended_on(current, now.date()) if status in ENDED_STATUSES else now.date(),
        )
    return state


def gym_platform_subscribe(*, gym: Gym, today: date) -> str:
    """Start the gym's FitFlow subscription for its tier on the platform account.

    Creates (or reuses) the gym's dj-stripe Customer (email = `Gym.billing_email`) and a
    Subscription to `settings.FITFLOW_TIER_PRICES[gym.tier]`; the idempotency key (gym,
    tier, `today`) makes a repeated click create one subscription. Returns the
    subscription id (sub_...). Its first status is recorded at once (as of the
    subscription's creation); later ones arrive by webhook (or `gym_platform_billing_sync`).
    Raises `BillingError` "tier_price_missing" (no price for the tier), "already_subscribed"
    (the gym has a subscription that has not ended) or "public_gym"; `stripe.StripeError`
    when Stripe refuses.
    """
    from djstripe.models import Customer, Subscription

    if gym.is_public:
        raise BillingError("public_gym", "The platform does not bill itself.")
    price = settings.FITFLOW_TIER_PRICES.get(gym.tier, "")
    if not price:
        raise BillingError("tier_price_missing", f"No Stripe price is set for the {gym.tier} tier.")
    state = GymStripeState.objects.filter(gym=gym).first()
    if state is not None and state.subscription_id and state.subscription_status not in ENDED_STATUSES:
        raise BillingError("already_subscribed", f"{gym.name} already has subscription {state.subscription_id}.")
    stripe_globals_configure()
    subscriber = GymSubscriber.objects.get(pk=gym.pk)
    customer, _created = Customer.get_or_create(subscriber=subscriber, api_key=settings.STRIPE_SECRET_KEY)
    stripe_subscription = Subscription._api_create(
        api_key=settings.STRIPE_SECRET_KEY,
        customer=customer.id,
        items=[{"price": price}],
        metadata={"fitflow_gym": gym.schema_name, "fitflow_tier": gym.tier},
        idempotency_key=f"fitflow-gym-{gym.pk}-subscribe-{gym.tier}-{today:%Y%m%d}",
    )
    Subscription.sync_from_stripe_data(stripe_subscription, api_key=settings.STRIPE_SECRET_KEY)
    status = str(stripe_subscription["status"] or "")
    with transaction.atomic():
        gym = Gym.objects.select_for_update().get(pk=gym.pk)
        state = _state_for_update(gym)
        as_of = datetime.fromtimestamp(int(stripe_subscription["created"]), tz=UTC)
        if state.billing_as_of is None or as_of >= state.billing_as_of:
            _standing_apply(
                gym=gym,
                state=state,
                as_of=as_of,
                subscription_id=str(stripe_subscription["id"]),
                status=status,
                unpaid_since=as_of.date(),
            )
    return str(stripe_subscription["id"])
