"""Invoices and the other money documents in the gym admin: owners and managers read
them (changelists cost the same few queries however many rows), nobody adds, edits or
deletes them (a paid invoice least of all), the actions go through the services, the
saved card's PaymentMethod id stays out, and desk staff and other gyms are kept out."""

from __future__ import annotations

import datetime
import zoneinfo
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

from ..models import CreditNote, Invoice, Payment, Refund, StripeCustomer, StripeEvent
from ..services import LineInput, invoice_create, invoice_refund, invoice_void, payment_record

pytestmark = pytest.mark.django_db
M = Decimal
ADMIN = "/admin/invoices/"
INVOICES = f"{ADMIN}invoice/"


def gym_today(gym: Gym) -> datetime.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(gym.timezone)).date()


def bill(member: Member, amount: str = "100.00", *, issued: datetime.date | None = None) -> Invoice:
    return invoice_create(member=member, lines=[LineInput("Personal training", M(amount))], today=issued)


def change_url(invoice: Invoice) -> str:
    return f"{INVOICES}{invoice.pk}/change/"


@pytest.fixture
def owner_client(gym_a: Gym, make_staff, client_a: Client) -> Client:
    client_a.force_login(make_staff(gym_a, Role.OWNER))
    return client_a


@pytest.fixture
def books(gym_a: Gym, make_staff) -> dict[str, Invoice]:
    """Gym A with 30 invoices of 10 members: open, part-paid, paid (cash and card),
    refunded, overdue and void; a saved card and an applied Stripe event."""
    desk = make_staff(gym_a, Role.RECEPTIONIST)
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        members = [MemberFactory() for _ in range(10)]
        invoices = [bill(members[n % 10], f"{50 + n}.00", issued=today - datetime.timedelta(days=n)) for n in range(30)]
        for n, invoice in enumerate(invoices):
            if n % 3 == 0:
                payment_record(invoice=invoice, amount=invoice.total, method="cash", actor=desk)
            elif n % 3 == 1 and n < 15:
                payment_record(invoice=invoice, amount=M("10.00"), method="card_terminal", reference=f"T{n}")
        invoice_refund(invoice=invoices[0], amount=M("5.00"), reason="Goodwill")
        Payment.objects.create(
            invoice=invoices[2],
            member=invoices[2].member,
            amount=invoices[2].amount_due,
            currency="GBP",
            method=Payment.Method.STRIPE,
            status=Payment.Status.FAILED,
            attempt=1,
            idempotency_key="gym_gym_a-inv-test-a1",
            reference="pm_secret_card_id",
            failure_message="Your card was declined.",
            received_on=today,
        )
        StripeCustomer.objects.create(
            member=members[0],
            customer_id="cus_admin_test",
            payment_method_id="pm_secret_card_id",
            card_brand="visa",
            card_last4="4242",
            card_exp_month=4,
            card_exp_year=2031,
        )
        StripeEvent.objects.create(id="evt_admin_test", type="payment_intent.succeeded", created=timezone.now())
    return {"paid": invoices[0], "open": invoices[2], "overdue": invoices[29], "part_paid": invoices[1]}


@pytest.mark.parametrize(
    "url",
    [
        INVOICES,
        f"{INVOICES}?status__exact=open",
        f"{INVOICES}?overdue=yes",
        f"{INVOICES}?overdue=no&auto_collect__exact=0",
        f"{INVOICES}?q=INV",
        f"{ADMIN}payment/",
        f"{ADMIN}payment/?method__exact=cash",
        f"{ADMIN}creditnote/",
        f"{ADMIN}refund/",
        f"{ADMIN}stripecustomer/",
        f"{ADMIN}stripeevent/",
    ],
)
def test_owner_opens_the_changelists_in_a_fixed_number_of_queries(
    books: dict[str, Invoice], owner_client: Client, url: str, django_assert_max_num_queries
) -> None:
    owner_client.get(url)

    # session, user, role, the page's rows with what they show joined, the date
    # hierarchy and filters; each after a SET search_path. Independent of rows.
    with django_assert_max_num_queries(20):
        response = owner_client.get(url)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) > 0


def test_invoice_list_search_and_overdue_filter(gym_a: Gym, books: dict[str, Invoice], owner_client: Client) -> None:
    overdue, paid = books["overdue"], books["paid"]

    by_number = owner_client.get(INVOICES, {"q": overdue.number})
    by_member = owner_client.get(INVOICES, {"q": paid.member.last_name})
    late = list(owner_client.get(INVOICES, {"overdue": "yes"}).context["cl"].result_list)

    assert [i.pk for i in by_number.context["cl"].result_list] == [overdue.pk]
    assert paid.pk in {i.pk for i in by_member.context["cl"].result_list}
    assert overdue.pk in {i.pk for i in late} and paid.pk not in {i.pk for i in late}
    assert all(i.status == "open" and i.due_date < gym_today(gym_a) for i in late)


def test_invoice_page_shows_lines_payments_and_credit_notes_read_only(
    gym_a: Gym, books: dict[str, Invoice], owner_client: Client
) -> None:
    paid = books["paid"]
    with tenant_context(gym_a):
        note = CreditNote.objects.get(invoice=paid)
        before = Invoice.objects.values().get(pk=paid.pk)

    page = owner_client.get(change_url(paid))

    assert page.status_code == 200
    html = page.content.decode()
    assert paid.number in html and "Personal training" in html and note.number in html and "Goodwill" in html
    assert 'name="notes"' not in html and 'name="status"' not in html and 'name="total"' not in html
    assert 'name="lines-0-amount"' not in html and 'name="payments-0-amount"' not in html
    # Posting to the change page, adding and deleting are refused; there is no bulk delete.
    assert owner_client.post(change_url(paid), {"notes": "edited", "status": "open"}).status_code == 403
    assert owner_client.get(f"{INVOICES}add/").status_code == 403
    assert owner_client.get(f"{INVOICES}{paid.pk}/delete/").status_code == 403
    bulk_delete = owner_client.post(INVOICES, {"action": "delete_selected", "_selected_action": [paid.pk]}, follow=True)
    assert "No action selected." in [str(m) for m in bulk_delete.context["messages"]]  # there is no delete action
    with tenant_context(gym_a):
        assert Invoice.objects.values().get(pk=paid.pk) == before


@pytest.mark.parametrize("model", ["payment", "creditnote", "refund", "stripecustomer", "stripeevent"])
def test_other_money_records_are_read_only(
    gym_a: Gym, books: dict[str, Invoice], owner_client: Client, model: str
) -> None:
    with tenant_context(gym_a):
        rows = {
            "payment": Payment.objects.first(),
            "creditnote": CreditNote.objects.first(),
            "refund": Refund.objects.first(),
            "stripecustomer": StripeCustomer.objects.first(),
            "stripeevent": StripeEvent.objects.first(),
        }
    row = rows[model]
    assert row is not None
    url = f"{ADMIN}{model}/{row.pk}/change/"

    assert owner_client.get(url).status_code == 200
    assert owner_client.post(url, {"amount": "1.00"}).status_code == 403
    assert owner_client.get(f"{ADMIN}{model}/add/").status_code == 403
    assert owner_client.get(f"{ADMIN}{model}/{row.pk}/delete/").status_code == 403


def test_stripe_ids_of_saved_cards_stay_out(gym_a: Gym, books: dict[str, Invoice], owner_client: Client) -> None:
    with tenant_context(gym_a):
        customer = StripeCustomer.objects.get(customer_id="cus_admin_test")
        card_payment = Payment.objects.get(method="stripe")

    listing = owner_client.get(f"{ADMIN}stripecustomer/").content.decode()
    page = owner_client.get(f"{ADMIN}stripecustomer/{customer.pk}/change/").content.decode()
    inline = owner_client.get(change_url(books["open"])).content.decode()

    assert "4242" in listing and "04/2031" in listing
    for html in (listing, page):
        assert "pm_secret_card_id" not in html
    assert card_payment.invoice_id == books["open"].pk and "Your card was declined." in inline


def test_void_action_goes_through_the_service(gym_a: Gym, books: dict[str, Invoice], owner_client: Client) -> None:
    open_invoice, paid = books["open"], books["paid"]
    selected = {"action": "void", "_selected_action": [open_invoice.pk, paid.pk]}

    ask = owner_client.post(INVOICES, selected)
    assert ask.status_code == 200 and 'name="reason"' in ask.content.decode()
    missing = owner_client.post(INVOICES, {**selected, "apply": "yes", "reason": ""})
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()
    done = owner_client.post(INVOICES, {**selected, "apply": "yes", "reason": "Billed twice"}, follow=True)

    messages = [str(m) for m in done.context["messages"]]
    assert "1 invoice(s) voided." in messages
    assert any(paid.number in m and "refund" in m.lower() for m in messages)
    with tenant_context(gym_a):
        open_invoice.refresh_from_db()
        paid.refresh_from_db()
    assert open_invoice.status == "void" and open_invoice.void_reason == "Billed twice" and open_invoice.voided_at
    assert paid.status == "paid" and paid.voided_at is None


def test_mark_uncollectible_action(gym_a: Gym, books: dict[str, Invoice], owner_client: Client) -> None:
    overdue = books["overdue"]

    owner_client.post(
        INVOICES,
        {"action": "mark_uncollectible", "_selected_action": [overdue.pk], "apply": "yes", "reason": "Moved abroad"},
    )

    with tenant_context(gym_a):
        overdue.refresh_from_db()
    assert overdue.status == "uncollectible" and overdue.void_reason == "Moved abroad"


def test_render_and_email_again_queues_delivery_after_commit(
    gym_a: Gym, books: dict[str, Invoice], owner_client: Client, django_capture_on_commit_callbacks
) -> None:
    gym = gym_a
    paid = books["paid"]
    with tenant_context(gym):
        void = bill(MemberFactory(), "10.00")
        Invoice.objects.filter(pk=paid.pk).update(emailed_at=timezone.now(), pdf_rendered_at=timezone.now())
        invoice_void(invoice=void, reason="x")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(
            INVOICES, {"action": "deliver_again", "_selected_action": [paid.pk, void.pk]}, follow=True
        )

    assert len(callbacks) == 1  # the paid invoice; a void one is not emailed
    messages = [str(m) for m in response.context["messages"]]
    assert "1 invoice(s) queued to render and email." in messages and any("not emailed" in m for m in messages)
    with tenant_context(gym):
        paid.refresh_from_db()
    assert paid.emailed_at is None and paid.pdf_rendered_at is None and paid.status == "paid"


@pytest.mark.parametrize("role", [Role.RECEPTIONIST, Role.TRAINER])
def test_desk_staff_cannot_open_them(gym_a: Gym, make_staff, role: Role) -> None:
    client = Client(HTTP_HOST="gym-a.localhost")
    client.force_login(make_staff(gym_a, role))

    for url in (INVOICES, f"{ADMIN}payment/", f"{ADMIN}stripecustomer/"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_gym_b_admin_cannot_see_gym_a_invoices(
    gym_a: Gym, books: dict[str, Invoice], gym_b: Gym, make_staff, client_b: Client
) -> None:
    client_b.force_login(make_staff(gym_b, Role.OWNER))
    paid = books["paid"]
    with tenant_context(gym_b):
        assert not Invoice.objects.filter(pk=paid.pk).exists()

    listing = client_b.get(INVOICES)

    assert listing.status_code == 200 and len(listing.context["cl"].result_list) == 0
    assert client_b.get(change_url(paid)).status_code == 302  # "does not exist" -> back to the list
    client_b.post(INVOICES, {"action": "void", "_selected_action": [paid.pk], "apply": "yes", "reason": "x"})
    with tenant_context(gym_a):
        assert Invoice.objects.get(pk=paid.pk).status == "paid"
