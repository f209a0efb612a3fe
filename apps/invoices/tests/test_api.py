"""`/api/v1/` of invoices and payments: a member's own invoices only, staff filters and
actions by role, the PDF, saving a card and paying now against the fake Stripe server,
error shapes for bad input, isolation between gyms, query counts and the schema."""

from __future__ import annotations

import datetime
import zoneinfo
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from apps.accounts.tokens import gym_refresh_token_for
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.members.tests.test_api_members import assert_error, auth, member_user
from apps.memberships.models import Membership
from apps.memberships.services import membership_assign
from apps.staff.roles import Role
from apps.tenants.models import Gym

from ..apis import member_billing_summary
from ..models import Invoice, Payment, Refund, StripeCustomer
from ..serializers import MemberBillingSerializer
from ..services import (
    LineInput,
    billing_run,
    invoice_create,
    invoice_credit,
    invoice_void,
    payment_record,
)
from .factories import member_on_monthly, monthly

pytestmark = pytest.mark.django_db
M = Decimal
ACCOUNT = "acct_1Fg9jUA3kq9o1aTc"
INVOICES = "/api/v1/invoices/"
SETUP_INTENT = "/api/v1/payments/setup-intent/"


def gym_today(gym: Gym) -> datetime.date:
    """Today in the gym's timezone: what the API takes as today."""
    return timezone.now().astimezone(zoneinfo.ZoneInfo(gym.timezone)).date()


def days(n: int) -> datetime.timedelta:
    return datetime.timedelta(days=n)


def bill(member: Member, amount: str = "100.00", *, issued: datetime.date | None = None, issue: bool = True) -> Invoice:
    """An invoice with one manual line for `member`, issued on `issued` (due 7 days later)."""
    return invoice_create(member=member, lines=[LineInput("Personal training", M(amount))], today=issued, issue=issue)


def post(client: Client, url: str, body: dict | None = None, headers: dict | None = None):
    return client.post(url, body or {}, content_type="application/json", **(headers or {}))


def detail(pk: int) -> str:
    return f"{INVOICES}{pk}/"


def pay_url(membership_id: int) -> str:
    return f"/api/v1/memberships/{membership_id}/pay/"


@pytest.fixture
def staff(gym_a: Gym, make_staff):
    """`staff(role)` -> bearer headers of a new user with `role` at gym A."""

    def make(role: Role = Role.RECEPTIONIST) -> dict[str, str]:
        return auth(gym_a, make_staff(gym_a, role))

    return make


class Caller:
    """A member of gym A with a login: `user`, `member` and bearer `headers`."""

    def __init__(self, gym: Gym) -> None:
        self.user, self.member = member_user(gym)
        self.headers = auth(gym, self.user)


@pytest.fixture
def mia(gym_a: Gym) -> Caller:
    return Caller(gym_a)


# --- a member sees only their own -------------------------------------------------------------------


def test_member_lists_and_reads_only_their_own_issued_invoices(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    with tenant_context(gym_a):
        mine = bill(mia.member, "120.00")
        draft = bill(mia.member, "15.00", issue=False)
        theirs = bill(MemberFactory(), "80.00")

    listed = client_a.get(INVOICES, **mia.headers)

    assert listed.status_code == 200, listed.content
    assert [row["id"] for row in listed.json()["results"]] == [mine.pk]
    row = listed.json()["results"][0]
    assert row["number"] == mine.number and row["status"] == "open" and row["total"] == "120.00"
    assert row["member"] == {"id": mia.member.pk, "full_name": mia.member.full_name}
    assert row["pdf_url"] == f"http://gym-a.localhost/api/v1/invoices/{mine.pk}/pdf/"
    # Filters narrow the member's own invoices; they never widen them.
    assert client_a.get(INVOICES, {"member": theirs.member_id}, **mia.headers).json()["count"] == 0
    assert client_a.get(detail(mine.pk), **mia.headers).status_code == 200
    for hidden in (theirs, draft):
        assert_error(client_a.get(detail(hidden.pk), **mia.headers), 404, "not_found")
        assert_error(client_a.get(f"{detail(hidden.pk)}pdf/", **mia.headers), 404, "not_found")
    assert_error(client_a.get(detail(999_999), **mia.headers), 404, "not_found")


def test_detail_has_lines_payments_credit_notes_and_amount_due(
    gym_a: Gym, client_a: Client, mia: Caller, make_staff
) -> None:
    desk = make_staff(gym_a, Role.RECEPTIONIST)
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        invoice = invoice_create(
            member=mia.member,
            lines=[LineInput("Personal training", M("40.00"), quantity=3), LineInput("Towel", M("5.50"))],
            today=today,
        )
        payment_record(invoice=invoice, amount=M("50.00"), method="cash", reference="R-17", actor=desk)
        invoice_credit(invoice=invoice, amount=M("10.00"), reason="Goodwill", actor=desk)
        invoice.refresh_from_db()

    body = client_a.get(detail(invoice.pk), **mia.headers).json()

    assert [(line["description"], line["quantity"], line["amount"]) for line in body["lines"]] == [
        ("Personal training", 3, "120.00"),
        ("Towel", 1, "5.50"),
    ]
    assert body["total"] == "125.50" and body["subtotal"] == "125.50"
    assert body["amount_paid"] == "50.00" and body["amount_credited"] == "10.00"
    assert body["amount_due"] == str(invoice.total - M("60.00")) == "65.50"
    assert body["currency"] == gym_a.currency and body["tax_rate"] == str(invoice.tax_rate)
    [payment] = body["payments"]
    assert payment["method"] == "cash" and payment["amount"] == "50.00" and payment["status"] == "succeeded"
    assert payment["received_on"] == today.isoformat() and payment["reference"] == "R-17"
    [note] = body["credit_notes"]
    assert note["number"].startswith("CN-") and note["amount"] == "10.00" and note["refunds"] == []
    assert body["seller"]["name"] == gym_a.name and "schema" not in body["seller"]
    assert body["bill_to"]["name"] == mia.member.full_name
    assert body["overdue"] is False and body["pdf_url"].endswith(f"/api/v1/invoices/{invoice.pk}/pdf/")


def test_pdf_download(gym_a: Gym, client_a: Client, mia: Caller, staff) -> None:
    with tenant_context(gym_a):
        invoice = bill(mia.member, "42.00")

    response = client_a.get(f"{detail(invoice.pk)}pdf/", HTTP_ACCEPT="application/pdf", **mia.headers)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert f'filename="{invoice.number}.pdf"' in response["Content-Disposition"]
    assert client_a.get(f"{detail(invoice.pk)}pdf/", **staff()).content.startswith(b"%PDF")


# --- staff: list with filters -----------------------------------------------------------------------


def test_staff_list_filters(gym_a: Gym, client_a: Client, staff, mia: Caller) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        ann = MemberFactory(first_name="Ann")
        overdue = bill(ann, issued=today - days(30))  # due 23 days ago
        current = bill(ann, issued=today)
        paid = bill(mia.member, issued=today - days(40))
        payment_record(invoice=paid, amount=paid.total, method="bank_transfer", received_on=today - days(35))
        void = bill(mia.member, issued=today - days(20))
        invoice_void(invoice=void, reason="Duplicate")
        membership = member_on_monthly(today)
        sale = Invoice.objects.get(membership=membership)
    desk = staff(Role.RECEPTIONIST)

    def ids(**params) -> set[int]:
        response = client_a.get(INVOICES, params, **desk)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {overdue.pk, current.pk, paid.pk, void.pk, sale.pk}
    assert ids(status="paid") == {paid.pk}
    assert ids(status="open") == {overdue.pk, current.pk, sale.pk}
    assert ids(overdue="true") == {overdue.pk}
    assert ids(overdue="false") == {current.pk, paid.pk, void.pk, sale.pk}
    assert ids(member=ann.pk) == {overdue.pk, current.pk}
    assert ids(member=ann.pk, overdue="true") == {overdue.pk}
    assert ids(membership=membership.pk) == {sale.pk}
    assert ids(q=overdue.number) == {overdue.pk}
    assert ids(q="Ann") >= {overdue.pk, current.pk}
    assert ids(issued_from=(today - days(25)).isoformat(), issued_to=(today - days(15)).isoformat()) == {void.pk}
    first = client_a.get(INVOICES, {"ordering": "due_date"}, **desk).json()["results"][0]
    assert first["id"] == paid.pk and first["overdue"] is False
    row = client_a.get(INVOICES, {"overdue": "true"}, **desk).json()["results"][0]
    assert row["overdue"] is True and row["amount_due"] == "100.00"
    error = assert_error(client_a.get(INVOICES, {"status": "late"}, **desk), 400, "validation_error")
    assert "status" in error["details"]
    assert_error(client_a.get(INVOICES, {"member": "x"}, **desk), 400, "validation_error")
    # A member's filters apply to their own invoices only.
    assert {r["id"] for r in client_a.get(INVOICES, {"status": "paid"}, **mia.headers).json()["results"]} == {paid.pk}


def test_list_query_count_does_not_grow_with_invoices(
    gym_a: Gym, client_a: Client, staff, mia: Caller, django_assert_max_num_queries
) -> None:
    today = gym_today(gym_a)
    desk = staff(Role.RECEPTIONIST)
    with tenant_context(gym_a):
        bill(mia.member, issued=today)
    client_a.get(INVOICES, **desk)
    # session of one invoice: the host's gym, user, role (a member: their record too),
    # the count and the page with its members, each after a SET search_path
    with django_assert_max_num_queries(10) as staff_one:
        assert client_a.get(INVOICES, **desk).json()["count"] == 1
    with django_assert_max_num_queries(12) as member_one:
        assert client_a.get(INVOICES, **mia.headers).json()["count"] == 1
    with tenant_context(gym_a):
        members = [MemberFactory() for _ in range(10)]
        for n in range(29):
            invoice = bill(members[n % 10] if n % 3 else mia.member, f"{20 + n}.00", issued=today - days(n))
            if n % 2:
                payment_record(invoice=invoice, amount=M("5.00"), method="cash", received_on=today - days(n))

    with django_assert_max_num_queries(len(staff_one.captured_queries)):
        staff_page = client_a.get(INVOICES, **desk).json()
    with django_assert_max_num_queries(len(member_one.captured_queries)):
        member_page = client_a.get(INVOICES, **mia.headers).json()
    with django_assert_max_num_queries(len(staff_one.captured_queries)):
        overdue = client_a.get(INVOICES, {"overdue": "true", "status": "open"}, **desk).json()

    assert staff_page["count"] == 30 and len(staff_page["results"]) == 30
    assert len({row["member"]["id"] for row in staff_page["results"]}) == 11
    assert member_page["count"] == 11
    assert overdue["count"] > 0 and all(row["overdue"] for row in overdue["results"])


def test_detail_query_count_is_fixed(
    gym_a: Gym, client_a: Client, mia: Caller, staff, django_assert_max_num_queries
) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        invoice = invoice_create(
            member=mia.member, lines=[LineInput(f"Line {n}", M("30.00")) for n in range(10)], today=today
        )
        for _ in range(6):
            payment_record(invoice=invoice, amount=M("20.00"), method="cash")
        for _ in range(4):
            invoice_credit(invoice=invoice, amount=M("5.00"), reason="Goodwill")

    # auth and role as for the list, then the invoice with its member, lines, payments,
    # credit notes and their refunds: one query each, however many rows
    with django_assert_max_num_queries(18):
        body = client_a.get(detail(invoice.pk), **mia.headers).json()

    assert len(body["lines"]) == 10 and len(body["payments"]) == 6 and len(body["credit_notes"]) == 4


# --- staff: record a payment, void, refund ----------------------------------------------------------


def test_receptionist_records_cash_and_the_invoice_is_paid_when_covered(
    gym_a: Gym, client_a: Client, staff, mia: Caller
) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        invoice = bill(mia.member, "100.00", issued=today)
    desk = staff(Role.RECEPTIONIST)
    url = f"{detail(invoice.pk)}payments/"

    first = post(client_a, url, {"amount": "30.00", "method": "cash", "reference": "Till 2"}, desk)

    assert first.status_code == 201, first.content
    assert first.json()["payment"]["amount"] == "30.00" and first.json()["payment"]["method"] == "cash"
    assert first.json()["invoice"]["amount_due"] == "70.00" and first.json()["invoice"]["status"] == "open"
    second = post(
        client_a,
        url,
        {"amount": "70.00", "method": "card_terminal", "received_on": (today - days(1)).isoformat()},
        desk,
    )
    assert second.status_code == 201, second.content
    assert second.json()["invoice"]["status"] == "paid" and second.json()["invoice"]["amount_due"] == "0.00"
    with tenant_context(gym_a):
        payments = list(Payment.objects.filter(invoice=invoice).order_by("pk"))
    assert [(p.method, p.amount, p.reference) for p in payments] == [
        ("cash", M("30.00"), "Till 2"),
        ("card_terminal", M("70.00"), ""),
    ]
    assert payments[1].received_on == today - days(1) and payments[0].recorded_by_id is not None
    assert_error(post(client_a, url, {"amount": "1.00", "method": "cash"}, desk), 409, "invoice_not_open")


def test_cash_on_an_overdue_invoice_ends_past_due(gym_a: Gym, client_a: Client, staff) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        membership = member_on_monthly(today - days(40))
        sale = Invoice.objects.get(membership=membership)
        # The sale invoice was issued on the test's date; bill it as due 10 days ago.
        Invoice.objects.filter(pk=sale.pk).update(due_date=today - days(10))
        billing_run(today=today)
        membership.refresh_from_db()
        assert membership.status == Membership.Status.PAST_DUE
        owed = list(Invoice.objects.filter(membership=membership, status="open"))
    desk = staff(Role.RECEPTIONIST)

    for invoice in owed:
        paid = post(client_a, f"{detail(invoice.pk)}payments/", {"amount": str(invoice.total), "method": "cash"}, desk)
        assert paid.status_code == 201, paid.content

    with tenant_context(gym_a):
        membership.refresh_from_db()
    assert membership.status == Membership.Status.ACTIVE


def test_record_payment_bad_input(gym_a: Gym, client_a: Client, staff, mia: Caller) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        invoice = bill(mia.member, "100.00", issued=today)
    desk = staff(Role.RECEPTIONIST)
    url = f"{detail(invoice.pk)}payments/"

    negative = assert_error(post(client_a, url, {"amount": "-5.00", "method": "cash"}, desk), 400, "invalid_amount")
    assert "amount" in negative["details"]
    assert_error(post(client_a, url, {"amount": "0", "method": "cash"}, desk), 400, "invalid_amount")
    over = assert_error(post(client_a, url, {"amount": "100.01", "method": "cash"}, desk), 400, "overpayment")
    assert "amount" in over["details"]
    unknown = assert_error(post(client_a, url, {"amount": "10", "method": "bitcoin"}, desk), 400, "validation_error")
    assert set(unknown["details"]) == {"method"}
    # Card charges come from Stripe, never from a form.
    assert_error(post(client_a, url, {"amount": "10", "method": "stripe"}, desk), 400, "validation_error")
    for amount in ("ten", "1.005", ""):
        error = assert_error(post(client_a, url, {"amount": amount, "method": "cash"}, desk), 400, "validation_error")
        assert "amount" in error["details"]
    future = {"amount": "10", "method": "cash", "received_on": (today + days(1)).isoformat()}
    assert "received_on" in assert_error(post(client_a, url, future, desk), 400, "validation_error")["details"]
    missing = assert_error(post(client_a, url, {}, desk), 400, "validation_error")
    assert set(missing["details"]) == {"amount", "method"}
    bad_json = client_a.post(url, "{not json", content_type="application/json", **desk)
    assert_error(bad_json, 400, "parse_error")
    with tenant_context(gym_a):
        assert not Payment.objects.filter(invoice=invoice).exists()


def test_roles_for_payments_void_and_refund(gym_a: Gym, client_a: Client, staff, mia: Caller) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        invoice = bill(mia.member, issued=today)
    body = {"amount": "10.00", "method": "cash"}

    # a member cannot record money, void or refund, even on their own invoice
    for action, data in (("payments", body), ("void", {"reason": "x"}), ("refund", {"amount": "1", "reason": "x"})):
        assert_error(post(client_a, f"{detail(invoice.pk)}{action}/", data, mia.headers), 403, "role_too_low")
    # the front desk records money, but corrections need a manager
    desk = staff(Role.RECEPTIONIST)
    assert post(client_a, f"{detail(invoice.pk)}payments/", body, desk).status_code == 201
    assert_error(post(client_a, f"{detail(invoice.pk)}void/", {"reason": "x"}, desk), 403, "role_too_low")
    refund = {"amount": "1.00", "reason": "x"}
    assert_error(post(client_a, f"{detail(invoice.pk)}refund/", refund, desk), 403, "role_too_low")
    manager = staff(Role.MANAGER)
    assert post(client_a, f"{detail(invoice.pk)}refund/", refund, manager).status_code == 201
    # anonymous
    assert_error(client_a.get(INVOICES), 401, "not_authenticated")


def test_void(gym_a: Gym, client_a: Client, staff, mia: Caller) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        unpaid = bill(mia.member, issued=today)
        paid = bill(mia.member, "20.00", issued=today)
        payment_record(invoice=paid, amount=paid.total, method="cash")
    manager = staff(Role.MANAGER)

    assert_error(post(client_a, f"{detail(unpaid.pk)}void/", {}, manager), 400, "validation_error")
    voided = post(client_a, f"{detail(unpaid.pk)}void/", {"reason": "Entered twice"}, manager)

    assert voided.status_code == 200, voided.content
    assert voided.json()["status"] == "void" and voided.json()["void_reason"] == "Entered twice"
    assert voided.json()["amount_due"] == "0.00" and voided.json()["number"] == unpaid.number
    assert_error(post(client_a, f"{detail(unpaid.pk)}void/", {"reason": "again"}, manager), 409, "invoice_not_voidable")
    assert_error(post(client_a, f"{detail(paid.pk)}void/", {"reason": "x"}, manager), 409, "invoice_not_voidable")
    with tenant_context(gym_a):
        assert Invoice.objects.get(pk=paid.pk).status == Invoice.Status.PAID


def test_refund_of_manual_payments(gym_a: Gym, client_a: Client, staff, mia: Caller) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        invoice = bill(mia.member, "100.00", issued=today)
        payment_record(invoice=invoice, amount=M("60.00"), method="cash")
        payment_record(invoice=invoice, amount=M("40.00"), method="bank_transfer")
    manager = staff(Role.MANAGER)
    url = f"{detail(invoice.pk)}refund/"

    assert_error(post(client_a, url, {"amount": "-1", "reason": "x"}, manager), 400, "invalid_amount")
    too_much = assert_error(post(client_a, url, {"amount": "100.01", "reason": "x"}, manager), 400, "refund_too_large")
    assert "amount" in too_much["details"]
    assert set(assert_error(post(client_a, url, {}, manager), 400, "validation_error")["details"]) == {
        "amount",
        "reason",
    }
    refunded = post(client_a, url, {"amount": "50.00", "reason": "Moved away"}, manager)

    assert refunded.status_code == 201, refunded.content
    note = refunded.json()["credit_note"]
    assert note["number"].startswith("CN-") and note["amount"] == "50.00" and note["reason"] == "Moved away"
    # newest payment first: the 40.00 transfer, then 10.00 of the cash
    assert sorted(r["amount"] for r in note["refunds"]) == ["10.00", "40.00"]
    after = refunded.json()["invoice"]
    assert after["status"] == "paid" and after["amount_credited"] == "50.00"
    assert [p["amount_refunded"] for p in after["payments"]] == ["40.00", "10.00"]
    assert_error(post(client_a, url, {"amount": "50.01", "reason": "x"}, manager), 400, "refund_too_large")


# --- Stripe: save a card, pay now ---------------------------------------------------------------------


def connect_stripe(gym: Gym, fake) -> None:
    fake.add_account(ACCOUNT)
    gym.stripe_account_id, gym.stripe_charges_enabled = ACCOUNT, True
    gym.save(update_fields=["stripe_account_id", "stripe_charges_enabled"])


def save_card(member: Member, fake, card: str = "pm_card_visa") -> StripeCustomer:
    """The member's card saved on the fake's account (as after the setup flow)."""
    customer, pm = fake.saved_card(account=ACCOUNT, card=card, email=member.email or "m@example.com")
    saved, _ = StripeCustomer.objects.update_or_create(
        member=member, defaults={"customer_id": customer, "payment_method_id": pm, "card_last4": "4242"}
    )
    return saved


def own_membership(gym: Gym, member: Member, start: datetime.date) -> Membership:
    """`member` sold a monthly plan from `start`; its sale invoice is open."""
    with tenant_context(gym):
        return membership_assign(member=member, plan=monthly("450.00"), start_date=start)


def test_setup_intent(gym_a: Gym, client_a: Client, mia: Caller, staff, fake_stripe) -> None:
    with tenant_context(gym_a):
        connect_stripe(gym_a, fake_stripe)

    first = post(client_a, SETUP_INTENT, headers=mia.headers)
    second = post(client_a, SETUP_INTENT, headers=mia.headers)

    assert first.status_code == 201, first.content
    body = first.json()
    assert body["setup_intent"].startswith("seti_") and body["client_secret"].startswith(body["setup_intent"])
    assert body["account"] == ACCOUNT and body["customer"].startswith("cus_")
    assert second.json()["customer"] == body["customer"] and second.json()["setup_intent"] != body["setup_intent"]
    [customer] = fake_stripe.objects("customer", account=ACCOUNT)
    assert customer["id"] == body["customer"] and customer["metadata"]["member_id"] == str(mia.member.pk)
    assert fake_stripe.get(body["setup_intent"])["customer"] == body["customer"]
    with tenant_context(gym_a):
        saved = StripeCustomer.objects.get(member=mia.member)
    assert saved.customer_id == body["customer"] and not saved.has_card
    # staff without a member record here have no card to save
    assert_error(post(client_a, SETUP_INTENT, headers=staff(Role.OWNER)), 403, "not_a_member")


def test_setup_intent_errors(gym_a: Gym, client_a: Client, mia: Caller, fake_stripe) -> None:
    assert_error(post(client_a, SETUP_INTENT, headers=mia.headers), 409, "stripe_not_connected")
    with tenant_context(gym_a):
        connect_stripe(gym_a, fake_stripe)
    fake_stripe.fail_next(1, status=500)
    assert_error(post(client_a, SETUP_INTENT, headers=mia.headers), 503, "stripe_unavailable")
    fake_stripe.fail_next(1, status=0)  # connection dropped
    assert_error(post(client_a, SETUP_INTENT, headers=mia.headers), 503, "stripe_unavailable")
    assert post(client_a, SETUP_INTENT, headers=mia.headers).status_code == 201


def test_pay_now_with_a_saved_card(gym_a: Gym, client_a: Client, mia: Caller, fake_stripe) -> None:
    today = gym_today(gym_a)
    membership = own_membership(gym_a, mia.member, today)
    with tenant_context(gym_a):
        connect_stripe(gym_a, fake_stripe)
        save_card(mia.member, fake_stripe)
        sale = Invoice.objects.get(membership=membership)

    response = post(client_a, pay_url(membership.pk), headers=mia.headers)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["paid"] is True and body["membership"] == membership.pk and body["membership_status"] == "active"
    [outcome] = body["outcomes"]
    assert outcome["invoice"] == sale.pk and outcome["status"] == "succeeded" and outcome["payment"]
    assert body["invoices"] == [
        {
            "id": sale.pk,
            "number": sale.number,
            "status": "paid",
            "currency": "GBP",
            "total": "450.00",
            "amount_due": "0.00",
        }
    ]
    [intent] = fake_stripe.objects("payment_intent", account=ACCOUNT)
    assert intent["status"] == "succeeded" and intent["amount"] == 45000 and intent["currency"] == "gbp"
    assert intent["metadata"]["invoice_id"] == str(sale.pk)
    with tenant_context(gym_a):
        payment = Payment.objects.get(invoice=sale)
    assert payment.method == "stripe" and payment.status == "succeeded" and payment.stripe_payment_intent_id
    # Paying again: nothing is owed, nothing is charged.
    assert_error(post(client_a, pay_url(membership.pk), headers=mia.headers), 409, "invoice_not_open")
    assert len(fake_stripe.objects("payment_intent", account=ACCOUNT)) == 1
    detail_payments = client_a.get(detail(sale.pk), **mia.headers).json()["payments"]
    assert detail_payments[0]["method"] == "stripe" and detail_payments[0]["reference"] == ""


def test_pay_now_declined_then_paid_with_a_new_card(gym_a: Gym, client_a: Client, mia: Caller, fake_stripe) -> None:
    today = gym_today(gym_a)
    membership = own_membership(gym_a, mia.member, today)
    with tenant_context(gym_a):
        connect_stripe(gym_a, fake_stripe)
        save_card(mia.member, fake_stripe, card="pm_card_chargeDeclined")

    declined = post(client_a, pay_url(membership.pk), headers=mia.headers)

    assert declined.status_code == 200, declined.content
    body = declined.json()
    [outcome] = body["outcomes"]
    assert outcome["status"] == "failed" and "declined" in outcome["message"].lower()
    assert body["paid"] is False and body["invoices"][0]["status"] == "open"
    assert body["membership_status"] == "past_due"
    invoice = client_a.get(detail(outcome["invoice"]), **mia.headers).json()
    assert invoice["overdue"] is True and invoice["attempt_count"] == 1
    assert invoice["last_payment_error"] == "Your card was declined."
    assert [row["id"] for row in client_a.get(INVOICES, {"overdue": "true"}, **mia.headers).json()["results"]] == [
        outcome["invoice"]
    ]

    with tenant_context(gym_a):
        save_card(mia.member, fake_stripe, card="pm_card_visa")
    paid = post(client_a, pay_url(membership.pk), headers=mia.headers)

    assert paid.status_code == 200, paid.content
    assert paid.json()["outcomes"][0]["status"] == "succeeded" and paid.json()["paid"] is True
    assert paid.json()["membership_status"] == "active"
    with tenant_context(gym_a):
        attempts = list(Payment.objects.filter(invoice__membership=membership).values_list("attempt", "status"))
    assert sorted(attempts) == [(1, "failed"), (2, "succeeded")]


def test_pay_now_errors_and_access(gym_a: Gym, client_a: Client, mia: Caller, staff, fake_stripe) -> None:
    today = gym_today(gym_a)
    mine = own_membership(gym_a, mia.member, today)
    with tenant_context(gym_a):
        theirs = member_on_monthly(today)

    # no card yet, and the gym has no Stripe
    assert_error(post(client_a, pay_url(mine.pk), headers=mia.headers), 409, "no_saved_card")
    with tenant_context(gym_a):
        connect_stripe(gym_a, fake_stripe)
    assert_error(post(client_a, pay_url(mine.pk), headers=mia.headers), 409, "no_saved_card")
    # someone else's membership is not found; a missing one neither
    assert_error(post(client_a, pay_url(theirs.pk), headers=mia.headers), 404, "not_found")
    assert_error(post(client_a, pay_url(999_999), headers=mia.headers), 404, "not_found")
    # staff may pay any membership with its member's card
    with tenant_context(gym_a):
        save_card(theirs.member, fake_stripe)
    by_desk = post(client_a, pay_url(theirs.pk), headers=staff(Role.RECEPTIONIST))
    assert by_desk.status_code == 200 and by_desk.json()["paid"] is True
    # Stripe down: the outcome is unknown, the payment stays pending, nothing is lost
    with tenant_context(gym_a):
        save_card(mia.member, fake_stripe)
    fake_stripe.fail_next(1, status=503)
    unknown = post(client_a, pay_url(mine.pk), headers=mia.headers)
    assert unknown.status_code == 200 and unknown.json()["outcomes"][0]["status"] == "unknown"
    with tenant_context(gym_a):
        assert Payment.objects.get(invoice__membership=mine).status == Payment.Status.PENDING
    assert len(fake_stripe.objects("payment_intent", account=ACCOUNT)) == 1  # only the desk's charge went through


def test_refund_of_a_card_payment_goes_through_stripe(
    gym_a: Gym, client_a: Client, mia: Caller, staff, fake_stripe
) -> None:
    membership = own_membership(gym_a, mia.member, gym_today(gym_a))
    with tenant_context(gym_a):
        connect_stripe(gym_a, fake_stripe)
        save_card(mia.member, fake_stripe)
        sale = Invoice.objects.get(membership=membership)
    assert post(client_a, pay_url(membership.pk), headers=mia.headers).json()["paid"] is True

    refunded = post(client_a, f"{detail(sale.pk)}refund/", {"amount": "150.00", "reason": "Injury"}, staff(Role.OWNER))

    assert refunded.status_code == 201, refunded.content
    [refund] = refunded.json()["credit_note"]["refunds"]
    assert refund["amount"] == "150.00"
    with tenant_context(gym_a):
        row = Refund.objects.get(pk=refund["id"])
    [stripe_refund] = fake_stripe.objects("refund", account=ACCOUNT)
    assert row.stripe_refund_id == stripe_refund["id"] and stripe_refund["amount"] == 15000


# --- billing at a glance (for me/) -------------------------------------------------------------------


def test_member_billing_summary(gym_a: Gym, mia: Caller, django_assert_max_num_queries) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        old = bill(mia.member, "30.00", issued=today - days(20))
        bill(mia.member, "12.50", issued=today)
        paid = bill(mia.member, "99.00", issued=today)
        payment_record(invoice=paid, amount=paid.total, method="cash")
        payment_record(invoice=old, amount=M("10.00"), method="cash")
        bill(MemberFactory(), "70.00", issued=today - days(20))
        StripeCustomer.objects.create(
            member=mia.member, customer_id="cus_x", payment_method_id="pm_x", card_brand="visa", card_last4="4242"
        )
        with django_assert_max_num_queries(4):  # two queries, each after a SET search_path
            summary = member_billing_summary(member=mia.member, gym=gym_a, today=today)

    assert summary["amount_due"] == M("32.50") and summary["amount_overdue"] == M("20.00")
    assert summary["open_invoices"] == 2 and summary["currency"] == "GBP"
    assert summary["card"].card_last4 == "4242" and summary["online_payments"] is False
    data = MemberBillingSerializer(summary).data
    assert data["amount_due"] == "32.50" and data["card"] == {
        "brand": "visa",
        "last4": "4242",
        "exp_month": None,
        "exp_year": None,
    }


# --- isolation ------------------------------------------------------------------------------------


def test_gym_b_tokens_are_refused_on_gym_a(gym_a: Gym, gym_b: Gym, client_a: Client, make_staff) -> None:
    b_owner = auth(gym_b, make_staff(gym_b, Role.OWNER))
    b_user, _ = member_user(gym_b)
    b_headers = auth(gym_b, b_user)
    with tenant_context(gym_a):
        membership = member_on_monthly(gym_today(gym_a))
        invoice = Invoice.objects.get(membership=membership)

    for headers in (b_owner, b_headers):
        assert_error(client_a.get(INVOICES, **headers), 401, "token_wrong_gym")
        assert_error(client_a.get(detail(invoice.pk), **headers), 401, "token_wrong_gym")
        assert_error(client_a.get(f"{detail(invoice.pk)}pdf/", **headers), 401, "token_wrong_gym")
        assert_error(post(client_a, SETUP_INTENT, headers=headers), 401, "token_wrong_gym")
        assert_error(post(client_a, pay_url(membership.pk), headers=headers), 401, "token_wrong_gym")
        for action, body in (
            ("payments", {"amount": "1.00", "method": "cash"}),
            ("void", {"reason": "x"}),
            ("refund", {"amount": "1.00", "reason": "x"}),
        ):
            assert_error(post(client_a, f"{detail(invoice.pk)}{action}/", body, headers), 401, "token_wrong_gym")
    with tenant_context(gym_a):
        invoice.refresh_from_db()
        assert invoice.status == "open" and not Payment.objects.filter(invoice=invoice).exists()


def test_gym_a_ids_are_unknown_on_gym_b(gym_a: Gym, gym_b: Gym, client_b: Client, make_staff) -> None:
    b_owner = auth(gym_b, make_staff(gym_b, Role.OWNER))
    with tenant_context(gym_a):
        membership = member_on_monthly(gym_today(gym_a))
        invoice = Invoice.objects.get(membership=membership)
    with tenant_context(gym_b):
        assert not Invoice.objects.filter(pk=invoice.pk).exists()
        assert not Membership.objects.filter(pk=membership.pk).exists()

    assert client_b.get(INVOICES, **b_owner).json()["count"] == 0
    assert_error(client_b.get(detail(invoice.pk), **b_owner), 404, "not_found")
    assert_error(client_b.get(f"{detail(invoice.pk)}pdf/", **b_owner), 404, "not_found")
    for action, body in (
        ("payments", {"amount": "1.00", "method": "cash"}),
        ("void", {"reason": "x"}),
        ("refund", {"amount": "1.00", "reason": "x"}),
    ):
        assert_error(post(client_b, f"{detail(invoice.pk)}{action}/", body, b_owner), 404, "not_found")
    assert_error(post(client_b, pay_url(membership.pk), headers=b_owner), 404, "not_found")
    with tenant_context(gym_a):
        invoice.refresh_from_db()
        assert invoice.status == "open" and not Payment.objects.filter(invoice=invoice).exists()


def test_a_user_without_a_role_here_is_refused(gym_a: Gym, gym_b: Gym, client_a: Client) -> None:
    """A global user who is a member at gym B only, with a token for gym A."""
    user, _ = member_user(gym_b)
    with tenant_context(gym_a):
        token = str(gym_refresh_token_for(user=user).access_token)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    assert_error(client_a.get(INVOICES, **headers), 403, "no_gym_access")
    assert_error(post(client_a, SETUP_INTENT, headers=headers), 403, "no_gym_access")


# --- schema -------------------------------------------------------------------------------------------

OPERATIONS = {
    ("/api/v1/invoices/", "get"): "invoices_list",
    ("/api/v1/invoices/{id}/", "get"): "invoices_retrieve",
    ("/api/v1/invoices/{id}/pdf/", "get"): "invoices_pdf",
    ("/api/v1/invoices/{id}/payments/", "post"): "invoices_payments_create",
    ("/api/v1/invoices/{id}/void/", "post"): "invoices_void",
    ("/api/v1/invoices/{id}/refund/", "post"): "invoices_refund",
    ("/api/v1/payments/setup-intent/", "post"): "payments_setup_intent",
    ("/api/v1/memberships/{id}/pay/", "post"): "memberships_pay",
}


def test_every_endpoint_is_in_the_schema_with_a_description(client_a: Client) -> None:
    schema = client_a.get("/api/schema/", {"format": "json"}).json()

    for (path, method), operation_id in OPERATIONS.items():
        operation = schema["paths"][path][method]
        assert operation["operationId"] == operation_id
        assert operation["description"] and operation["summary"]
    pdf = schema["paths"]["/api/v1/invoices/{id}/pdf/"]["get"]["responses"]["200"]["content"]
    assert "application/pdf" in pdf
    components = schema["components"]["schemas"]
    assert {"InvoiceDetail", "InvoiceListItem", "PaginatedInvoiceListItemList", "PayNowResult"} <= set(components)
    assert "payments" in components["InvoiceDetail"]["properties"]


def test_schema_generates_without_warnings() -> None:
    GENERATOR_STATS.reset()
    SchemaGenerator(urlconf="fitflow.urls_tenants").get_schema(request=None, public=True)

    assert not GENERATOR_STATS, (GENERATOR_STATS._warn_cache, GENERATOR_STATS._error_cache)
