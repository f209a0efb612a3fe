"""The billing run works in batches (`CHUNK_SIZE` memberships or invoices per
transaction): its statements do not grow with the batch, one bad membership never
stops its batch, number blocks stay gapless, and a batch of Stripe answers is applied
exactly as one-by-one answers would be."""

from __future__ import annotations

from datetime import date as D
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.memberships.models import Membership
from apps.notifications.models import Notification
from apps.notifications.services import NotificationInput, notifications_record
from apps.tenants.models import Gym

from .. import stripe_api
from ..models import DocumentSequence, Invoice, Payment
from ..services import billing_run, document_numbers_take, payment_intents_apply
from ..services.billing import memberships_due
from .factories import member_on_monthly
from .test_stripe_billing import connect_stripe, pay_sale, with_card

pytestmark = pytest.mark.django_db
M = Decimal
START, DUE = D(2026, 1, 10), D(2026, 2, 10)


@pytest.fixture
def gym(gym_a: Gym, fake_stripe):
    with tenant_context(gym_a):
        connect_stripe(gym_a, fake_stripe)
        yield gym_a


def members_with_cards(fake, n: int, *, declined: int = 0) -> list[Membership]:
    made = []
    for i in range(n):
        m = member_on_monthly(START)
        pay_sale(m)
        with_card(m, fake, card="pm_card_chargeDeclined" if i < declined else "pm_card_visa")
        made.append(m)
    return made


def billed_statements(today: D) -> tuple[int, dict[str, int]]:
    with CaptureQueriesContext(connection) as ctx:
        result = billing_run(today=today)
    return len(ctx.captured_queries), result.as_dict()


def test_billing_a_batch_takes_the_same_statements_for_3_or_12_memberships(gym: Gym, fake_stripe) -> None:
    # given 3 members with saved cards, billed on their day
    members_with_cards(fake_stripe, 3)
    few, result = billed_statements(DUE)
    assert (result["invoiced"], result["charged"]) == (3, 3)
    # when 12 more are due a day later
    for m in members_with_cards(fake_stripe, 12):
        Membership.objects.filter(pk=m.pk).update(next_billing_date=D(2026, 2, 11))
    many, result = billed_statements(D(2026, 2, 11))
    # then four times the members costs no more statements (no N+1)
    assert (result["invoiced"], result["charged"]) == (12, 12)
    assert many == few, (few, many)
    # and each run's invoice numbers are one consecutive block
    for day, count in ((DUE, 3), (D(2026, 2, 11), 12)):
        numbers = Invoice.objects.filter(period_start=day).order_by("number").values_list("number", flat=True)
        tails = [int(n.rsplit("-", 1)[1]) for n in numbers]
        assert tails == list(range(tails[0], tails[0] + count))


def test_one_bad_membership_does_not_stop_its_batch_and_its_numbers_are_given_back(gym: Gym, fake_stripe) -> None:
    good_1, bad, good_2 = members_with_cards(fake_stripe, 3)
    # a price the invoice rules refuse (a negative line) fails the batch
    Membership.objects.filter(pk=bad.pk).update(price=M("-1.00"))
    before = DocumentSequence.objects.get(kind="invoice", year=2026).last_number

    result = billing_run(today=DUE)

    assert (result.invoiced, result.charged, len(result.errors)) == (2, 2, 1)
    assert f"membership {bad.pk}" in result.errors[0]
    assert Invoice.objects.filter(membership__in=[good_1, good_2], period_start=DUE, status="paid").count() == 2
    assert not Invoice.objects.filter(membership=bad, period_start=DUE).exists()
    # the bad one stays due for the next run; the failed batch's numbers were given back
    assert Membership.objects.get(pk=bad.pk).next_billing_date == DUE
    assert bad.pk in memberships_due(today=DUE)
    assert DocumentSequence.objects.get(kind="invoice", year=2026).last_number == before + 2


def test_a_block_of_numbers_is_consecutive_and_a_rollback_gives_it_back(gym: Gym) -> None:
    with transaction.atomic():
        first = document_numbers_take(kind="invoice", prefix="INV", year=2031, count=3)
    assert first == ["INV-2031-000001", "INV-2031-000002", "INV-2031-000003"]
    with pytest.raises(RuntimeError), transaction.atomic():
        document_numbers_take(kind="invoice", prefix="INV", year=2031, count=5)
        raise RuntimeError("rolled back")
    with transaction.atomic():
        assert document_numbers_take(kind="invoice", prefix="INV", year=2031, count=1) == ["INV-2031-000004"]
    with pytest.raises(ValueError), transaction.atomic():
        document_numbers_take(kind="invoice", prefix="INV", year=2031, count=0)


def test_notifications_recorded_together_are_new_only_once(gym: Gym) -> None:
    a, b = member_on_monthly(START), member_on_monthly(START)
    items = [
        NotificationInput(a.member_id, "invoice_issued", "k:1", {"n": 1}),
        NotificationInput(b.member_id, "invoice_issued", "k:2"),
    ]
    assert notifications_record(items) == {"k:1", "k:2"}
    assert notifications_record([*items, NotificationInput(a.member_id, "invoice_issued", "k:3")]) == {"k:3"}
    assert Notification.objects.filter(idempotency_key__startswith="k:").count() == 3
    assert Notification.objects.get(idempotency_key="k:1").data == {"n": 1}


def test_a_batch_of_stripe_answers_applies_each_once_whatever_the_mix(gym: Gym, fake_stripe) -> None:
    # given two charges Stripe never answered (connections dropped): both payments pending
    paid_m, declined_m = members_with_cards(fake_stripe, 2)
    fake_stripe.fail_next(2, status=0)
    assert billing_run(today=DUE).unknown == 2
    paid = Invoice.objects.get(membership=paid_m, period_start=DUE)
    declined = Invoice.objects.get(membership=declined_m, period_start=DUE)
    ok_payment, failed_payment = paid.payments.get(), declined.payments.get()
    assert {ok_payment.status, failed_payment.status} == {Payment.Status.PENDING}

    def answer(payment: Payment, status: str, **extra: str) -> stripe_api.PaymentIntentResult:
        return stripe_api.PaymentIntentResult(
            id=f"pi_{payment.pk}", status=status, amount=payment.amount, currency="GBP",
            metadata={"payment_id": str(payment.pk)}, **extra,
        )  # fmt: skip

    succeeded = answer(ok_payment, "succeeded", charge_id=f"ch_{ok_payment.pk}")
    failed = answer(failed_payment, "requires_payment_method", failure_code="card_declined", failure_message="Declined")
    stranger = stripe_api.PaymentIntentResult(id="pi_notours", status="succeeded", amount=M("5.00"), currency="GBP")

    # when their events arrive together, each twice, with one that is not ours
    statuses = payment_intents_apply([succeeded, failed, stranger, succeeded, failed], today=DUE)

    # then each is applied once: paid once, one receipt, one failure notice, one dunning step
    assert statuses == ["succeeded", "failed", "ignored", "succeeded", "failed"]
    paid.refresh_from_db()
    declined.refresh_from_db()
    assert paid.status == Invoice.Status.PAID and paid.amount_paid == paid.total
    assert Payment.objects.get(pk=ok_payment.pk).stripe_charge_id == f"ch_{ok_payment.pk}"
    assert declined.status == Invoice.Status.OPEN and declined.amount_paid == 0
    assert declined.last_payment_error == "Declined" and declined.next_payment_attempt == D(2026, 2, 11)
    assert Notification.objects.filter(kind="payment_received", data__invoice_id=paid.pk).count() == 1
    assert Notification.objects.filter(kind="payment_failed", member_id=declined_m.member_id).count() == 1
    assert Membership.objects.get(pk=declined_m.pk).status == Membership.Status.PAST_DUE
    assert Membership.objects.get(pk=paid_m.pk).next_billing_date == D(2026, 3, 10)
