"""Card billing against the fake Stripe server (a real HTTP server; our gateway, charge
protocol and event handlers all run): charges, idempotency keys, every dunning step,
events replayed and out of order, the billing run repeated and run concurrently, and a
worker killed between the charge and the save."""

from __future__ import annotations

import datetime
import os
import signal
import time
import uuid
from datetime import date as D
from decimal import Decimal

import pytest
from django.db import connection
from django_tenants.utils import tenant_context

from apps.bookings.models import CreditEntry
from apps.bookings.tests.test_concurrency import committed, provision_with_retry, run_in_threads
from apps.checkins.services import checkin_create
from apps.memberships.models import Membership
from apps.notifications.models import Notification
from apps.tenants.models import Gym

from ..models import Invoice, Payment, StripeCustomer, StripeEvent
from ..services import billing_run, payment_record, stripe_event_apply, stripe_reconcile
from .factories import member_on_monthly, monthly

pytestmark = pytest.mark.django_db
M = Decimal
ACCOUNT = "acct_1Fg9jUA3kq9o1aTc"


def connect_stripe(gym: Gym, fake) -> None:
    fake.add_account(ACCOUNT)
    gym.stripe_account_id, gym.stripe_charges_enabled = ACCOUNT, True
    gym.save(update_fields=["stripe_account_id", "stripe_charges_enabled"])


def with_card(membership: Membership, fake, card: str = "pm_card_visa") -> str:
    """Save a card for the member on the fake's account (as after Checkout); returns its pm id."""
    customer, pm = fake.saved_card(account=ACCOUNT, card=card, email=membership.member.email or "m@example.com")
    StripeCustomer.objects.create(member=membership.member, customer_id=customer, payment_method_id=pm)
    return pm


def pay_sale(membership: Membership) -> None:
    sale = Invoice.objects.filter(membership=membership).order_by("pk").first()
    payment_record(invoice=sale, amount=sale.amount_due, method=Payment.Method.CASH, received_on=membership.start_date)


def payment_intents(fake) -> list[dict]:
    return fake.objects("payment_intent", account=ACCOUNT)


@pytest.fixture
def gym(gym_a: Gym, fake_stripe):
    with tenant_context(gym_a):
        connect_stripe(gym_a, fake_stripe)
        yield gym_a


def test_saved_card_is_charged_once_with_the_documented_key_and_the_period_is_paid(gym: Gym, fake_stripe) -> None:
    membership = member_on_monthly(D(2026, 1, 31), plan=monthly("500.00", class_credits=8))
    pay_sale(membership)
    with_card(membership, fake_stripe)
    result = billing_run(today=D(2026, 2, 28))
    assert (result.invoiced, result.charged, result.failed) == (1, 1, 0)
    invoice = Invoice.objects.get(membership=membership, period_start=D(2026, 2, 28))
    assert invoice.status == Invoice.Status.PAID and invoice.auto_collect and invoice.amount_paid == M("500.00")
    payment = invoice.payments.get()
    assert payment.idempotency_key == f"{gym.schema_name}-inv{invoice.pk}-a1"
    [pi] = payment_intents(fake_stripe)
    assert pi["id"] == payment.stripe_payment_intent_id and pi["amount"] == 50000 and pi["currency"] == "gbp"
    assert pi["metadata"]["payment_id"] == str(payment.pk)
    charge_request = next(r for r in fake_stripe.requests if r.path == "/v1/payment_intents")
    assert charge_request.params["off_session"] == "true" and charge_request.params["confirm"] == "true"
    assert charge_request.headers["stripe-account"] == ACCOUNT
    assert charge_request.headers["idempotency-key"] == payment.idempotency_key
    # the period's credits are granted in the ledger, the receipt is recorded
    grant = CreditEntry.objects.filter(membership=membership, kind=CreditEntry.Kind.GRANT).latest("id")
    assert grant.amount == 8 and grant.period_start == D(2026, 2, 28)
    assert Notification.objects.filter(kind="payment_received", data__invoice_id=invoice.pk).exists()
    # a second run that day charges nothing more
    again = billing_run(today=D(2026, 2, 28))
    assert (again.invoiced, again.charged) == (0, 0) and len(payment_intents(fake_stripe)) == 1


def test_dunning_retries_at_1_3_5_days_then_cancels(gym: Gym, fake_stripe) -> None:
    membership = member_on_monthly(D(2026, 1, 10))
    pay_sale(membership)
    pm = with_card(membership, fake_stripe, card="pm_card_chargeDeclined")
    day0 = D(2026, 2, 10)

    def at(day: D) -> datetime.datetime:
        return datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)

    first = billing_run(today=day0)
    assert (first.invoiced, first.failed) == (1, 1)
    invoice = Invoice.objects.get(membership=membership, period_start=day0)
    membership.refresh_from_db()
    assert (membership.status, membership.past_due_since) == (Membership.Status.PAST_DUE, day0)
    assert invoice.next_payment_attempt == day0 + datetime.timedelta(days=1)
    notice = Notification.objects.get(kind="payment_failed", member=membership.member)
    assert "/billing/card/" in notice.data["update_card_url"] and notice.data["number"] == invoice.number
    expected_next = {1: 3, 3: 5}
    for offset in (1, 2, 3, 4):
        day = day0 + datetime.timedelta(days=offset)
        billing_run(today=day)
        invoice.refresh_from_db()
        if offset in expected_next:
            assert invoice.next_payment_attempt == day0 + datetime.timedelta(days=expected_next[offset])
    assert invoice.attempt_count == 3
    # inside the grace days (3: day0 and the next two) check-in still lets them in; after, refused
    assert checkin_create(member=membership.member, now=at(day0 + datetime.timedelta(days=2))).allowed
    from apps.checkins.models import CheckIn

    CheckIn.objects.all().delete()
    refused = checkin_create(member=membership.member, now=at(day0 + datetime.timedelta(days=3)))
    assert refused.code == "payment_overdue"
    billing_run(today=day0 + datetime.timedelta(days=5))  # the last retry
    invoice.refresh_from_db()
    membership.refresh_from_db()
    assert invoice.attempt_count == 4 and invoice.status == Invoice.Status.UNCOLLECTIBLE
    assert membership.status == Membership.Status.CANCELLED
    keys = sorted(p.idempotency_key for p in invoice.payments.all())
    assert keys == [f"{gym.schema_name}-inv{invoice.pk}-a{n}" for n in (1, 2, 3, 4)]
    assert len(payment_intents(fake_stripe)) == 4 and pm


def test_final_failure_can_freeze_and_paying_later_reactivates(gym: Gym, fake_stripe) -> None:
    gym.dunning_final_action, gym.dunning_retry_days = Gym.DunningFinalAction.FREEZE, "2"
    gym.save(update_fields=["dunning_final_action", "dunning_retry_days"])
    membership = member_on_monthly(D(2026, 1, 10))
    pay_sale(membership)
    pm = with_card(membership, fake_stripe, card="pm_card_chargeDeclinedInsufficientFunds")
    day0 = D(2026, 2, 10)
    billing_run(today=day0)
    billing_run(today=day0 + datetime.timedelta(days=2))
    membership.refresh_from_db()
    invoice = Invoice.objects.get(membership=membership, period_start=day0)
    assert membership.status == Membership.Status.FROZEN and invoice.status == Invoice.Status.OPEN
    assert invoice.payments.first().failure_code == "insufficient_funds"
    # the member pays at the desk: the dunning freeze ends, the membership is active
    payment_record(invoice=invoice, amount=invoice.amount_due, method=Payment.Method.CARD_TERMINAL, reference="T1")
    membership.refresh_from_db()
    assert membership.status == Membership.Status.ACTIVE and membership.past_due_since is None
    assert membership.freezes.get().ended_on is not None and pm


def test_a_retry_that_succeeds_clears_past_due(gym: Gym, fake_stripe) -> None:
    membership = member_on_monthly(D(2026, 1, 10))
    pay_sale(membership)
    pm = with_card(membership, fake_stripe)
    fake_stripe.set_outcome(pm, "decline")
    day0 = D(2026, 2, 10)
    billing_run(today=day0)
    fake_stripe.set_outcome(pm, "succeed")  # the bank lifted the block
    result = billing_run(today=day0 + datetime.timedelta(days=1))
    membership.refresh_from_db()
    assert result.charged == 1 and result.retried == 1
    assert (membership.status, membership.past_due_since) == (Membership.Status.ACTIVE, None)
    assert Invoice.objects.get(membership=membership, period_start=day0).status == Invoice.Status.PAID


def test_events_replayed_five_times_and_out_of_order_are_applied_once(gym: Gym, fake_stripe) -> None:
    membership = member_on_monthly(D(2026, 1, 10))
    pay_sale(membership)
    pm = with_card(membership, fake_stripe)
    fake_stripe.set_outcome(pm, "decline")
    day0 = D(2026, 2, 10)
    billing_run(today=day0)
    fake_stripe.set_outcome(pm, "succeed")
    billing_run(today=day0 + datetime.timedelta(days=1))
    invoice = Invoice.objects.get(membership=membership, period_start=day0)
    events = [e for e in fake_stripe.events if e["type"].startswith(("payment_intent.", "charge."))]
    # newest first from Stripe's list; deliver them oldest-last (out of order), five times each
    for _ in range(5):
        for event in events:
            stripe_event_apply(event)
    invoice.refresh_from_db()
    membership.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_paid == invoice.total
    assert [p.status for p in invoice.payments.order_by("attempt")] == ["failed", "succeeded"]
    assert membership.status == Membership.Status.ACTIVE
    assert StripeEvent.objects.count() == len(events)
    # a late failure event of attempt 1 can never undo the success of attempt 2
    failed = next(e for e in events if e["type"] == "payment_intent.payment_failed")
    StripeEvent.objects.filter(pk=failed["id"]).delete()
    stripe_event_apply(failed)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_refund_and_dispute_events_are_recorded_once(gym: Gym, fake_stripe) -> None:
    from ..services import invoice_refund

    membership = member_on_monthly(D(2026, 1, 10))
    pay_sale(membership)
    with_card(membership, fake_stripe)
    billing_run(today=D(2026, 2, 10))
    invoice = Invoice.objects.get(membership=membership, period_start=D(2026, 2, 10))
    invoice_refund(invoice=invoice, amount=M("100.00"), reason="pro-rata refund")
    payment = invoice.payments.get(status=Payment.Status.SUCCEEDED)
    fake_stripe.dispute(payment.stripe_charge_id)
    for _ in range(5):
        for event in fake_stripe.events:
            stripe_event_apply(event)
    payment.refresh_from_db()
    assert payment.amount_refunded == M("100.00") and payment.refunds.count() == 1
    assert payment.disputed


@pytest.mark.parametrize("concurrent", [False, True])
def test_billing_run_twice_or_concurrently_makes_one_invoice_and_one_charge_per_period(
    fake_stripe, concurrent: bool
) -> None:
    gym = committed(
        lambda: provision_with_retry(
            name="Billing Race", slug=f"bill-{uuid.uuid4().hex[:8]}", status="active", timezone="Europe/London"
        )
    )
    try:

        def arrange() -> list[int]:
            with tenant_context(gym):
                connect_stripe(gym, fake_stripe)
                ids = []
                for _ in range(8):
                    m = member_on_monthly(D(2026, 1, 10))
                    pay_sale(m)
                    with_card(m, fake_stripe)
                    ids.append(m.pk)
                return ids

        ids = committed(arrange)

        def run() -> dict[str, int]:
            with tenant_context(Gym.objects.get(pk=gym.pk)):
                return billing_run(today=D(2026, 2, 10)).as_dict()

        outcomes = run_in_threads([run, run] if concurrent else [run]) + ([] if concurrent else run_in_threads([run]))
        assert all("error" not in o for o in outcomes), outcomes

        def count() -> tuple[int, int, int]:
            with tenant_context(gym):
                invoices = Invoice.objects.filter(membership_id__in=ids, period_start=D(2026, 2, 10))
                paid = invoices.filter(status=Invoice.Status.PAID).count()
                succeeded = Payment.objects.filter(invoice__in=invoices, status=Payment.Status.SUCCEEDED).count()
                return invoices.count(), paid, succeeded

        assert committed(count) == (8, 8, 8)
        assert sum(o["value"]["invoiced"] for o in outcomes) == 8
        assert len([pi for pi in payment_intents(fake_stripe) if pi["status"] == "succeeded"]) == 8
    finally:
        committed(lambda: gym.delete(force_drop=True))


def test_worker_killed_between_charge_and_save_is_recovered_by_webhook_or_reconciliation(
    fake_stripe, django_db_blocker
) -> None:
    """A real Celery worker charges the card; the fake Stripe takes the charge and never
    answers; the worker is killed (SIGKILL). The payment stays pending. Then: the
    reconciliation lists the missed events and applies them, and a later billing run
    sends the same key again and gets the same PaymentIntent: one charge in all."""
    from apps.conftest import start_celery_worker, stop_process

    from ..tasks import billing_run_task

    gym = committed(
        lambda: provision_with_retry(
            name="Killed Worker", slug=f"kill-{uuid.uuid4().hex[:8]}", status="active", timezone="Europe/London"
        )
    )
    proc = None
    try:

        def arrange() -> int:
            with tenant_context(gym):
                connect_stripe(gym, fake_stripe)
                m = member_on_monthly(D(2026, 1, 10))
                pay_sale(m)
                with_card(m, fake_stripe)
                return m.pk

        membership_id = committed(arrange)
        fake_stripe.hang_after_charge = True
        with django_db_blocker.unblock():
            proc, _ = start_celery_worker(queues="celery")
        billing_run_task.apply_async(args=[gym.pk, "2026-02-10"], headers={"_schema_name": gym.schema_name})
        deadline = time.monotonic() + 60
        while not payment_intents(fake_stripe) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert payment_intents(fake_stripe), "the worker never reached Stripe"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        fake_stripe.hang_after_charge = False

        def state() -> tuple[str, str, int]:
            with tenant_context(gym):
                invoice = Invoice.objects.get(membership_id=membership_id, period_start=D(2026, 2, 10))
                payment = invoice.payments.get()
                return invoice.status, payment.status, Payment.objects.filter(invoice=invoice).count()

        assert committed(state) == (Invoice.Status.OPEN, Payment.Status.PENDING, 1)  # charged, not saved

        def reconcile() -> dict[str, int]:
            with tenant_context(Gym.objects.get(pk=gym.pk)):
                return stripe_reconcile()

        counts = committed(reconcile)
        assert counts["applied"] >= 1
        assert committed(state) == (Invoice.Status.PAID, Payment.Status.SUCCEEDED, 1)

        def rerun() -> dict[str, int]:
            with tenant_context(Gym.objects.get(pk=gym.pk)):
                return billing_run(today=D(2026, 2, 10)).as_dict()

        assert committed(rerun)["charged"] == 0
        assert len(payment_intents(fake_stripe)) == 1  # one charge, ever
    finally:
        if proc is not None and proc.poll() is None:
            stop_process(proc)
        fake_stripe.hang_after_charge = False
        committed(lambda: gym.delete(force_drop=True))
    assert connection is not None


def test_pending_charge_is_finished_with_the_same_key_when_no_event_arrives(gym: Gym, fake_stripe) -> None:
    """Stripe took the charge but the answer was lost and no webhook came: the next
    run after 10 minutes sends the same idempotency key and gets the same PaymentIntent."""
    membership = member_on_monthly(D(2026, 1, 10))
    pay_sale(membership)
    with_card(membership, fake_stripe)
    fake_stripe.fail_next(1, status=0)  # the connection drops before Stripe answers
    first = billing_run(today=D(2026, 2, 10))
    assert first.unknown == 1 or first.charged == 1
    invoice = Invoice.objects.get(membership=membership, period_start=D(2026, 2, 10))
    Payment.objects.filter(invoice=invoice).update(created_at=datetime.datetime(2026, 2, 10, 5, tzinfo=datetime.UTC))
    billing_run(today=D(2026, 2, 10))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.payments.count() == 1
    assert len([pi for pi in payment_intents(fake_stripe) if pi["status"] == "succeeded"]) == 1


def test_a_pending_charge_is_not_sent_again_once_the_invoice_was_paid_another_way(gym: Gym, fake_stripe) -> None:
    """The answer to a charge was lost; the member then paid at the desk. Sending the
    charge again could take money for a charge that never happened, so it is left to
    the events: none came, so nothing more is charged."""
    membership = member_on_monthly(D(2026, 1, 10))
    pay_sale(membership)
    with_card(membership, fake_stripe)
    fake_stripe.fail_next(1, status=500)  # Stripe errors before charging: outcome unknown to us
    assert billing_run(today=D(2026, 2, 10)).unknown == 1
    invoice = Invoice.objects.get(membership=membership, period_start=D(2026, 2, 10))
    payment_record(invoice=invoice, amount=invoice.amount_due, method=Payment.Method.CASH, received_on=D(2026, 2, 10))
    Payment.objects.filter(invoice=invoice, status=Payment.Status.PENDING).update(
        created_at=datetime.datetime(2026, 2, 10, 5, tzinfo=datetime.UTC)
    )
    billing_run(today=D(2026, 2, 11))
    assert stripe_reconcile()["pending"] == 0  # the reconciliation does not send it either
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.amount_paid == invoice.total
    assert payment_intents(fake_stripe) == []
