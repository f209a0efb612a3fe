"""Payments: recorded by staff, or charged to a saved card through Stripe; what a
payment does to its invoice and membership; and dunning after a failed charge.

The charge protocol (no member is ever charged twice, no payment is ever lost):
1. Under the invoice's row lock, a `pending` Payment is written with the attempt number
   and the idempotency key `<schema>-inv<invoice id>-a<attempt>`, and committed.
2. Stripe is called with that key (an off-session PaymentIntent on the gym's account).
3. The result is applied by `payment_intent_apply`, the same function the webhook and
   the daily reconciliation call. It is idempotent and final states win: a payment that
   succeeded never goes back to failed, whatever order the events arrive in.
If the worker dies between 2 and 3, the payment stays pending. The next billing run
and the reconciliation send the same request with the same key again; Stripe answers
with the same PaymentIntent instead of charging again (Stripe keeps idempotency keys for
at least 24 hours: https://docs.stripe.com/api/idempotent_requests), and the
`payment_intent.succeeded` webhook carries the payment's id in its metadata.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import pgbulk
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts.models import User
from apps.memberships.models import Freeze, Membership, MembershipEvent
from apps.notifications.services import NotificationInput, notification_record, notifications_record
from apps.tenants.models import Gym
from apps.tenants.selectors import current_gym, current_schema_name

from .. import stripe_api
from ..errors import InvoiceError
from ..links import member_card_link
from ..models import Invoice, Payment, StripeCustomer
from .totals import round_money

logger = logging.getLogger(__name__)

Status = Invoice.Status
MStatus = Membership.Status

MANUAL_METHODS = [
    Payment.Method.CASH,
    Payment.Method.CARD_TERMINAL,
    Payment.Method.BANK_TRANSFER,
    Payment.Method.OTHER,
]


# --- manual payments -----------------------------------------------------------------------


@transaction.atomic
def payment_record(
    *,
    invoice: Invoice,
    amount: Decimal,
    method: str,
    reference: str = "",
    received_on: datetime.date | None = None,
    actor: User | None = None,
) -> Payment:
    """Record money staff received for an open invoice: cash, card terminal, bank
    transfer / EFT or other, with a reference. Part payments are allowed; when the
    invoice is covered it becomes paid (see `invoice_settle_if_paid`).

    Raises `InvoiceError`: `invoice_not_open`, `invalid_amount` (0 or less, or an
    unknown method), `overpayment` (more than the amount due).
    """
    today = received_on or timezone.localdate()
    locked = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if locked.status != Status.OPEN:
        raise InvoiceError("invoice_not_open", "Only an open invoice can take a payment.")
    if method not in MANUAL_METHODS:
        raise InvoiceError("invalid_amount", "Choose cash, card terminal, bank transfer or other.", "method")
    amount = round_money(amount, locked.currency)
    if amount <= 0:
        raise InvoiceError("invalid_amount", "The amount must be more than 0.", "amount")
    if amount > locked.amount_due:
        raise InvoiceError("overpayment", f"Only {locked.amount_due} {locked.currency} is due.", "amount")
    payment = Payment.objects.create(
        invoice=locked,
        member_id=locked.member_id,
        amount=amount,
        currency=locked.currency,
        method=method,
        status=Payment.Status.SUCCEEDED,
        reference=(reference or "")[:120],
        received_on=today,
        recorded_by=actor,
    )
    _add_paid(locked, amount)
    invoice_settle_if_paid(locked, today=today, actor=actor)
    return payment


def _add_paid(invoice: Invoice, amount: Decimal) -> None:
    Invoice.objects.filter(pk=invoice.pk).update(amount_paid=F("amount_paid") + amount, updated_at=timezone.now())
    invoice.amount_paid += amount


# --- what a paid invoice does ----------------------------------------------------------------


def invoice_notification(invoice: Invoice, kind: str) -> NotificationInput:
    """The member's `kind` notification about `invoice` (`invoice_issued`,
    `payment_received`), keyed `<kind>:invoice:<id>` so it is recorded once, with the
    invoice's id, number and total for the template."""
    data = {"invoice_id": invoice.pk, "number": invoice.number, "total": str(invoice.total)}
    return NotificationInput(invoice.member_id, kind, f"{kind}:invoice:{invoice.pk}", data)


def invoice_settle_if_paid(invoice: Invoice, *, today: datetime.date, actor: User | None = None) -> bool:
    """If the (locked) open invoice is covered by payments and credit notes, mark it paid
    (see `invoices_settle_if_paid`). Returns True when it became paid."""
    return bool(invoices_settle_if_paid([invoice], today=today, actor=actor))


def invoices_settle_if_paid(
    invoices: Sequence[Invoice], *, today: datetime.date, actor: User | None = None
) -> list[Invoice]:
    """Mark paid each of the (locked) open invoices that payments and credit notes now
    cover: retries stop, its membership leaves past_due (or a dunning freeze) when
    nothing else is overdue, the period's class credits are granted in the ledger, and
    a `payment_received` receipt is recorded once. A few statements for the whole batch.
    Returns the invoices that became paid. Call inside the transaction that changed the
    amounts."""
    covered = {i.pk: i for i in invoices if i.status == Status.OPEN and i.amount_paid + i.amount_credited >= i.total}
    settled = list(covered.values())
    if not settled:
        return []
    now = timezone.now()
    for invoice in settled:
        invoice.status, invoice.paid_at, invoice.next_payment_attempt = Status.PAID, now, None
        invoice.last_payment_error, invoice.updated_at = "", now
    Invoice.objects.filter(pk__in=[i.pk for i in settled]).update(
        status=Status.PAID, paid_at=now, next_payment_attempt=None, last_payment_error="", updated_at=now
    )
    membership_ids = sorted({i.membership_id for i in settled if i.membership_id})
    if membership_ids:
        unsettled = Membership.objects.filter(pk__in=membership_ids, status__in=[MStatus.PAST_DUE, MStatus.FROZEN])
        for membership_id in unsettled.order_by("pk").values_list("pk", flat=True):
            membership_settle_if_clear(membership_id=membership_id, actor=actor, today=today)
        _grant_period_credits(membership_ids, today=today)
    notifications_record([invoice_notification(invoice, "payment_received") for invoice in settled])
    return settled


def _overdue_open(membership_id: int, *, today: datetime.date) -> bool:
    """True when the membership still has an open invoice that a card charge failed
    on or whose due date has passed."""
    return (
        Invoice.objects.filter(membership_id=membership_id, status=Status.OPEN)
        .filter(Q(attempt_count__gt=0) | Q(due_date__lt=today))
        .exists()
    )


def membership_settle_if_clear(
    *, membership_id: int, actor: User | None = None, today: datetime.date | None = None
) -> bool:
    """Return a past-due membership to active (and a membership frozen by dunning to
    active, ending that freeze) once none of its invoices is overdue any more. Writes a
    `reactivated` event. Returns True when it changed."""
    today = today or timezone.localdate()
    # Only past-due and frozen memberships can change: lock nothing for the rest.
    m = (
        Membership.objects.select_for_update(of=("self",))
        .filter(pk=membership_id, status__in=[MStatus.PAST_DUE, MStatus.FROZEN])
        .first()
    )
    if m is None:
        return False
    dunning_freeze = None
    if m.status == MStatus.FROZEN:
        dunning_freeze = Freeze.objects.filter(
            membership=m, ended_on__isnull=True, reason__startswith=DUNNING_FREEZE_REASON
        ).first()
        if dunning_freeze is None:
            return False
    elif m.status != MStatus.PAST_DUE:
        return False
    if _overdue_open(membership_id, today=today):
        return False
    was = m.status
    m.status, m.past_due_since = MStatus.ACTIVE, None
    m.save(update_fields=["status", "past_due_since", "updated_at"])
    if dunning_freeze is not None:
        dunning_freeze.ended_on = today
        dunning_freeze.save(update_fields=["ended_on"])
        from apps.memberships.services import freeze_notices

        freeze_notices([(m.pk, "membership_unfrozen", dunning_freeze.pk, m.member_id)])
    MembershipEvent.objects.create(
        membership=m, kind=MembershipEvent.Kind.REACTIVATED, actor=actor, reason="Paid", data={"from": was}
    )
    return True


def _grant_period_credits(membership_ids: Sequence[int], *, today: datetime.date) -> None:
    """Bring the class-credit buckets of those memberships that have class credits up to
    date, which writes the current period's `grant` row where it is not there yet
    (apps.bookings.credits)."""
    from apps.bookings.credits import bucket_states, memberships_lock

    limited = Membership.objects.filter(pk__in=membership_ids, class_credits__isnull=False, status=MStatus.ACTIVE)
    limited_ids = list(limited.values_list("pk", flat=True))
    if not limited_ids:
        return
    locked = memberships_lock(membership_ids=limited_ids)
    bucket_states([m for m in locked if m.class_credits is not None and m.status == MStatus.ACTIVE], today=today)


# --- card charges -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargeOutcome:
    """What `invoice_charge` did: `status` is `succeeded`, `failed`, `unknown` (Stripe
    did not answer; the pending payment is retried with the same key later) or
    `skipped` (nothing to charge: not open, nothing due, or no saved card)."""

    status: str
    payment_id: int | None = None
    message: str = ""


def idempotency_key(gym: Gym, invoice_id: int, attempt: int) -> str:
    """The Stripe idempotency key of charge attempt `attempt` of an invoice: gym schema,
    invoice id and attempt number (DESIGN.md 7), e.g. `gym_harbour-inv42-a2`."""
    return f"{gym.schema_name}-inv{invoice_id}-a{attempt}"


def invoice_charge(*, invoice_id: int, today: datetime.date | None = None, new_attempt: bool = True) -> ChargeOutcome:
    """Charge the member's saved card for what the invoice still owes (see
    `invoices_charge`). Returns a `ChargeOutcome`; never raises for Stripe trouble."""
    return invoices_charge(invoice_ids=[invoice_id], today=today, new_attempt=new_attempt)[invoice_id]


# Charges in flight at once per worker process. Stripe's default rate limit is 100
# operations per second per account in live mode (https://docs.stripe.com/rate-limits);
# at Stripe's usual few hundred milliseconds per confirmed PaymentIntent, 8 stays well
# under it. A 429 is `StripeUnavailable`: the payment stays pending and is retried.
CHARGE_CONCURRENCY = 8


@lru_cache(maxsize=1)
def _charge_pool(pid: int) -> ThreadPoolExecutor:
    """This process's pool of charging threads (made after a prefork worker forks; each
    thread keeps its own keep-alive connection to Stripe)."""
    return ThreadPoolExecutor(max_workers=CHARGE_CONCURRENCY, thread_name_prefix=f"stripe-charge-{pid}")


@dataclass(frozen=True)
class _Send:
    payment: Payment
    customer_id: str
    invoice_number: str


def invoices_charge(
    *, invoice_ids: Sequence[int], today: datetime.date | None = None, new_attempt: bool = True
) -> dict[int, ChargeOutcome]:
    """Charge the members' saved cards for what the invoices (ids) still owe.

    1. Under the invoices' row locks, in one transaction: a pending attempt (a crash or
       a Stripe outage left it unanswered) is picked up to be sent again with its own
       key; otherwise, with `new_attempt`, a new pending attempt is written for each
       open invoice with something due and a saved card (`attempt_count` + 1).
    2. Stripe is called outside any transaction, `CHARGE_CONCURRENCY` at a time.
    3. The answers are applied together by `payment_intents_apply`.
    Returns a `ChargeOutcome` per invoice id asked for (`skipped` for an unknown id).
    Never raises for Stripe trouble: an unanswered payment stays pending for the next
    run (`unknown`).
    """
    gym = current_gym()
    today = today or timezone.localdate()
    ids = list(dict.fromkeys(invoice_ids))
    outcomes = {pk: ChargeOutcome("skipped", message="nothing to charge") for pk in ids}
    sends: list[_Send] = []
    with transaction.atomic():
        invoices = list(Invoice.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
        pending: dict[int, Payment] = {}
        unanswered = Payment.objects.filter(invoice_id__in=ids, status=Payment.Status.PENDING, attempt__isnull=False)
        for p in unanswered.order_by("pk"):
            pending.setdefault(p.invoice_id, p)
        customers = {
            c.member_id: c for c in StripeCustomer.objects.filter(member_id__in={i.member_id for i in invoices})
        }
        new_payments, tried, now = [], [], timezone.now()
        for invoice in invoices:
            payment, customer = pending.get(invoice.pk), customers.get(invoice.member_id)
            if payment is not None:
                if invoice.status != Status.OPEN:
                    # Settled another way since: sending the request again could make a charge
                    # that never happened. If it did happen, its event (webhook or
                    # reconciliation) records it, and the surplus shows for staff to refund.
                    outcomes[invoice.pk] = ChargeOutcome("skipped", payment.pk, "invoice no longer open")
                else:  # sending a pending attempt again, with its own key
                    sends.append(_Send(payment, customer.customer_id if customer else "", invoice.number or ""))
                continue
            if not new_attempt or invoice.status != Status.OPEN or invoice.amount_due <= 0:
                continue
            if not gym.stripe_connected or customer is None or not customer.has_card:
                outcomes[invoice.pk] = ChargeOutcome("skipped", message="no saved card")
                continue
            invoice.attempt_count += 1
            invoice.updated_at = now
            payment = Payment(
                invoice=invoice,
                member_id=invoice.member_id,
                amount=invoice.amount_due,
                currency=invoice.currency,
                method=Payment.Method.STRIPE,
                status=Payment.Status.PENDING,
                attempt=invoice.attempt_count,
                idempotency_key=idempotency_key(gym, invoice.pk, invoice.attempt_count),
                reference=customer.payment_method_id,
                received_on=today,
            )
            new_payments.append(payment)
            tried.append(invoice)
            sends.append(_Send(payment, customer.customer_id, invoice.number or ""))
        Payment.objects.bulk_create(new_payments)
        Invoice.objects.filter(pk__in=[i.pk for i in tried]).update(
            attempt_count=F("attempt_count") + 1, updated_at=now
        )
    if not sends:
        return outcomes
    schema = current_schema_name()
    answers = _charge_pool(os.getpid()).map(lambda send: _charge_send(send, gym=gym, schema=schema), sends)
    answered: list[tuple[_Send, stripe_api.PaymentIntentResult]] = []
    for send, answer in zip(sends, answers, strict=True):
        if isinstance(answer, stripe_api.StripeUnavailable):
            logger.warning("charge of invoice %s left pending: %s", send.payment.invoice_id, answer)
            outcomes[send.payment.invoice_id] = ChargeOutcome("unknown", send.payment.pk, str(answer))
        else:
            answered.append((send, answer))
    statuses = payment_intents_apply([answer for _, answer in answered], today=today)
    for (send, answer), status in zip(answered, statuses, strict=True):
        outcomes[send.payment.invoice_id] = ChargeOutcome(status, send.payment.pk, answer.failure_message)
    return outcomes


def _charge_send(
    send: _Send, *, gym: Gym, schema: str
) -> stripe_api.PaymentIntentResult | stripe_api.StripeUnavailable:
    """One off-session charge on Stripe (no database access: runs in a pool thread)."""
    payment = send.payment
    try:
        return stripe_api.payment_intent_charge(
            account=gym.stripe_account_id,
            customer=send.customer_id,
            payment_method=payment.reference,
            amount=payment.amount,
            currency=payment.currency,
            idempotency_key=payment.idempotency_key or "",
            metadata={
                "fitflow_schema": schema,
                "invoice_id": str(payment.invoice_id),
                "payment_id": str(payment.pk),
                "attempt": str(payment.attempt),
            },
            description=f"Invoice {send.invoice_number}",
        )
    except stripe_api.StripeUnavailable as exc:
        return exc


def _metadata_payment_id(result: stripe_api.PaymentIntentResult) -> int | None:
    pid = str((result.metadata or {}).get("payment_id") or "")
    return int(pid) if pid.isdigit() else None


def _payments_for(results: Sequence[stripe_api.PaymentIntentResult]) -> list[Payment | None]:
    """The locked payment of each result: by the `payment_id` in its metadata, else by
    its PaymentIntent id. Two statements at most."""
    wanted = {pid for r in results if (pid := _metadata_payment_id(r)) is not None}
    by_pk = {p.pk: p for p in Payment.objects.select_for_update().filter(pk__in=wanted).order_by("pk")}
    found = [by_pk.get(_metadata_payment_id(r) or 0) for r in results]
    missing = [r.id for r, p in zip(results, found, strict=True) if p is None]
    by_intent: dict[str, Payment] = {}
    if missing:
        for p in Payment.objects.select_for_update().filter(stripe_payment_intent_id__in=missing).order_by("pk"):
            by_intent.setdefault(p.stripe_payment_intent_id or "", by_pk.setdefault(p.pk, p))
    return [p or by_intent.get(r.id) for r, p in zip(results, found, strict=True)]


def payment_intent_apply(result: stripe_api.PaymentIntentResult, *, today: datetime.date | None = None) -> str:
    """Apply a PaymentIntent's outcome to the payment it belongs to (see
    `payment_intents_apply`). Returns the payment's status after, or `ignored`."""
    return payment_intents_apply([result], today=today)[0]


@transaction.atomic
def payment_intents_apply(
    results: Sequence[stripe_api.PaymentIntentResult], *, today: datetime.date | None = None
) -> list[str]:
    """Apply PaymentIntents' outcomes to the payments they belong to (found by the
    `payment_id` in their metadata, else by their id), in one transaction. Idempotent
    and order-tolerant:
    - succeeded: the payment succeeds (once), the invoice's amount paid rises, and it
      settles when covered (`invoices_settle_if_paid`: receipt, credits, past_due
      cleared);
    - requires_payment_method / canceled: a pending payment fails, and dunning moves on
      (`dunning_after_failure`); a payment already succeeded stays succeeded;
    - processing and other states: nothing yet.
    A PaymentIntent paid through a pay link (Checkout) with `invoice_id` metadata and no
    payment yet gets a payment written. Returns, per result, the payment's status after,
    or `ignored` when the intent is not ours.
    """
    today = today or timezone.localdate()
    payments = _payments_for(results)
    for i, (result, payment) in enumerate(zip(results, payments, strict=True)):
        if payment is None:
            payments[i] = _payment_from_pay_link(result, today=today)
    open_payments = {p.invoice_id for p in payments if p is not None and p.status != Payment.Status.SUCCEEDED}
    locked = Invoice.objects.select_for_update().select_related("member").filter(pk__in=open_payments)
    invoices = {invoice.pk: invoice for invoice in locked.order_by("pk")}
    statuses: list[str] = []
    changed: dict[int, Payment] = {}
    credited: dict[int, Invoice] = {}
    failed: list[tuple[Invoice, Payment]] = []
    for result, payment in zip(results, payments, strict=True):
        if payment is None:
            statuses.append("ignored")
            continue
        if payment.status == Payment.Status.SUCCEEDED:
            statuses.append(payment.status)
            continue
        invoice = invoices[payment.invoice_id]
        if result.succeeded:
            payment.status = Payment.Status.SUCCEEDED
            payment.stripe_payment_intent_id = result.id
            payment.stripe_charge_id = result.charge_id
            payment.failure_code = payment.failure_message = ""
            changed[payment.pk] = payment
            if invoice.status in (Status.UNCOLLECTIBLE, Status.VOID):
                # Money arrived after a write-off or void (a late webhook): never lose it;
                # reopen so it is counted, and staff can refund from the invoice. Money for
                # an invoice already paid another way is recorded too; staff refund the surplus.
                invoice.status = Status.OPEN
            invoice.amount_paid += payment.amount
            credited[invoice.pk] = invoice
        elif result.status in ("requires_payment_method", "canceled") and payment.status == Payment.Status.PENDING:
            payment.status = Payment.Status.FAILED
            payment.stripe_payment_intent_id = result.id
            payment.failure_code = (result.failure_code or "")[:64]
            payment.failure_message = (result.failure_message or "Card declined")[:255]
            changed[payment.pk] = payment
            if invoice.status == Status.OPEN and invoice.auto_collect:
                failed.append((invoice, payment))
        statuses.append(payment.status)
    now = timezone.now()
    for payment in changed.values():
        payment.updated_at = now
    for invoice in credited.values():
        invoice.updated_at = now
    # One UPDATE ... FROM (VALUES ...) per table (Django's bulk_update builds a CASE per
    # row and field, which cost ~10 ms of CPU per row here: bench/billing_run.py --cprofile).
    pgbulk.update(
        Payment,
        changed.values(),
        ["status", "stripe_payment_intent_id", "stripe_charge_id", "failure_code", "failure_message", "updated_at"],
    )
    pgbulk.update(Invoice, credited.values(), ["status", "amount_paid", "updated_at"])
    invoices_settle_if_paid(list(credited.values()), today=today)
    for invoice, payment in failed:
        dunning_after_failure(invoice, payment=payment, today=today)
    return statuses


def _payment_from_pay_link(result: stripe_api.PaymentIntentResult, *, today: datetime.date) -> Payment | None:
    invoice_id = (result.metadata or {}).get("invoice_id")
    if not result.succeeded or not invoice_id or not str(invoice_id).isdigit():
        return None
    invoice = Invoice.objects.select_for_update().filter(pk=int(invoice_id)).first()
    if invoice is None:
        return None
    return Payment.objects.create(
        invoice=invoice,
        member_id=invoice.member_id,
        amount=result.amount,
        currency=invoice.currency,
        method=Payment.Method.STRIPE,
        status=Payment.Status.PENDING,
        stripe_payment_intent_id=result.id,
        received_on=today,
    )


# --- dunning --------------------------------------------------------------------------------

DUNNING_FREEZE_REASON = "Unpaid invoice"


def dunning_after_failure(invoice: Invoice, *, payment: Payment, today: datetime.date) -> None:
    """What follows a failed charge of `invoice` (locked), by the gym's settings:
    - the membership goes `past_due` (from the first failure's date, kept on later ones)
      and the member is sent a `payment_failed` notice with the link to update the card;
    - while retries are left, the next one is due `Gym.dunning_retry_offsets[n]` days
      after the first failure (default +1, +3, +5 days, as Stripe's Smart Retries
      default schedule spreads them: https://docs.stripe.com/billing/revenue-recovery/smart-retries);
    - after the last retry fails, the membership is cancelled (the invoice is written
      off as uncollectible) or frozen (the invoice stays open), as the gym chooses.
    Check-in and booking refuse the member after `Gym.payment_grace_days`.
    """
    gym = current_gym()
    offsets = gym.dunning_retry_offsets
    membership = (
        Membership.objects.select_for_update(of=("self",)).get(pk=invoice.membership_id)
        if invoice.membership_id
        else None
    )
    first_failure = today
    if membership is not None and membership.past_due_since is not None:
        first_failure = membership.past_due_since
    invoice.last_payment_error = payment.failure_message[:255]
    retries_done = invoice.attempt_count - 1
    final = retries_done >= len(offsets)
    invoice.next_payment_attempt = (
        None
        if final
        else max(today + datetime.timedelta(days=1), first_failure + datetime.timedelta(days=offsets[retries_done]))
    )
    invoice.save(update_fields=["last_payment_error", "next_payment_attempt", "updated_at"])
    notification_record(
        member=invoice.member,
        kind="payment_failed",
        idempotency_key=f"payment_failed:payment:{payment.pk}",
        data={
            "invoice_id": invoice.pk,
            "number": invoice.number,
            "amount": str(payment.amount),
            "reason": payment.failure_message,
            "next_attempt": invoice.next_payment_attempt.isoformat() if invoice.next_payment_attempt else None,
            "update_card_url": member_card_link(member=invoice.member, gym=gym),
        },
    )
    if membership is None:
        return
    if membership.status == MStatus.ACTIVE:
        membership.status, membership.past_due_since = MStatus.PAST_DUE, today
        membership.save(update_fields=["status", "past_due_since", "updated_at"])
        MembershipEvent.objects.create(
            membership=membership,
            kind=MembershipEvent.Kind.PAST_DUE,
            reason=payment.failure_message[:255],
            data={"invoice": invoice.number},
        )
    if final and membership.status == MStatus.PAST_DUE:
        dunning_final_action(membership, invoice=invoice, gym=gym, today=today)


def dunning_final_action(membership: Membership, *, invoice: Invoice, gym: Gym, today: datetime.date) -> None:
    """The last retry failed: cancel the membership (and write the invoice off as
    uncollectible) or freeze it until the member pays (the invoice stays open; paying
    it ends the freeze), by `Gym.dunning_final_action`."""
    from apps.memberships.services import membership_cancel

    if gym.dunning_final_action == Gym.DunningFinalAction.FREEZE:
        from apps.memberships.services import MAX_FREEZE_DAYS, freeze_notices

        freeze = Freeze.objects.create(
            membership=membership,
            start_date=today,
            end_date=today + datetime.timedelta(days=MAX_FREEZE_DAYS),
            reason=f"{DUNNING_FREEZE_REASON} {invoice.number}",
        )
        freeze_notices([(membership.pk, "membership_frozen", freeze.pk, membership.member_id)])
        membership.status = MStatus.FROZEN
        membership.save(update_fields=["status", "updated_at"])
        MembershipEvent.objects.create(
            membership=membership,
            kind=MembershipEvent.Kind.FROZEN,
            reason=f"Unpaid after {invoice.attempt_count} attempts",
            data={"invoice": invoice.number},
        )
        return
    membership_cancel(
        membership=membership,
        immediately=True,
        reason=f"Unpaid after {invoice.attempt_count} attempts (invoice {invoice.number})",
        today=today,
    )
    invoice.status, invoice.next_payment_attempt = Status.UNCOLLECTIBLE, None
    invoice.save(update_fields=["status", "next_payment_attempt", "updated_at"])


def invoices_mark_overdue(*, today: datetime.date) -> int:
    """Invoices paid by hand (no saved card) that passed their due date unpaid put
    their active membership `past_due` from the day after the due date, with a
    `payment_failed`-style `invoice_overdue` notice once. Returns how many memberships
    changed."""
    changed = 0
    overdue = (
        Invoice.objects.filter(
            status=Status.OPEN,
            auto_collect=False,
            due_date__lt=today,
            membership__status=MStatus.ACTIVE,
        )
        .values_list("pk", "membership_id", "due_date")
        .order_by("membership_id", "due_date")
    )
    seen: set[int] = set()
    for invoice_id, membership_id, due_date in overdue:
        if membership_id in seen:
            continue
        seen.add(membership_id)
        with transaction.atomic():
            m = Membership.objects.select_for_update(of=("self",)).select_related("member").get(pk=membership_id)
            if m.status != MStatus.ACTIVE:
                continue
            m.status, m.past_due_since = MStatus.PAST_DUE, due_date + datetime.timedelta(days=1)
            m.save(update_fields=["status", "past_due_since", "updated_at"])
            MembershipEvent.objects.create(
                membership=m,
                kind=MembershipEvent.Kind.PAST_DUE,
                reason="Invoice overdue",
                data={"invoice_id": invoice_id},
            )
            notification_record(
                member=m.member,
                kind="invoice_overdue",
                idempotency_key=f"invoice_overdue:invoice:{invoice_id}",
                data={"invoice_id": invoice_id, "due_date": due_date.isoformat()},
            )
            changed += 1
    return changed


__all__ = [
    "MANUAL_METHODS",
    "ChargeOutcome",
    "dunning_after_failure",
    "idempotency_key",
    "invoice_charge",
    "invoice_notification",
    "invoice_settle_if_paid",
    "invoices_charge",
    "invoices_mark_overdue",
    "invoices_settle_if_paid",
    "membership_settle_if_clear",
    "payment_intent_apply",
    "payment_intents_apply",
    "payment_record",
]
