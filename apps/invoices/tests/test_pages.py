"""The billing pages: the overview's figures, the invoice list's filters, an invoice's
page and its actions (record a payment, refund, credit note, void, charge the saved
card, the PDF), a new manual invoice, the member page's Invoices tab, the settings
page's Billing section and Stripe Connect, and the member's self-serve links.

Roles (owner and manager: money; receptionist: the list and recording payments;
trainer: nothing), bad input re-rendered with field errors (never a 500), cross-gym
access refused by host and by id, and query counts with 30 invoices. Stripe is the
fake server at its HTTP boundary (`fake_stripe`, from this package's conftest)."""

from __future__ import annotations

import datetime
import itertools
import re
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from babel.numbers import format_currency
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context, tenant_context

from apps.conftest import host_of
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.staff.roles import Role
from apps.tenants.models import Gym

from .. import links
from ..models import CreditNote, Invoice, InvoiceLine, Payment, Refund, StripeCustomer
from ..pdf import invoice_pay_token
from ..services import (
    IssueOptions,
    LineInput,
    billing_run,
    invoice_create,
    invoice_refund,
    invoices_mark_overdue,
    payment_record,
    stripe_event_apply,
)
from .factories import member_on_monthly

pytestmark = pytest.mark.django_db

M = Decimal
HX = {"HTTP_HX_REQUEST": "true"}
ACCOUNT = "acct_1PagesTestAcct01"
STAFF = [Role.OWNER, Role.MANAGER, Role.TRAINER, Role.RECEPTIONIST]
FOREIGN_ID = itertools.count(900_000_001)


def gbp(amount: str | Decimal) -> str:
    """Money as the pages print it for gym A (GBP, Babel, English)."""
    return str(format_currency(Decimal(amount), "GBP", locale="en"))


def today() -> datetime.date:
    return timezone.localdate()


def manual_invoice(
    member: Member, amount: str, *, issued: datetime.date | None = None, due: datetime.date | None = None
) -> Invoice:
    """An open invoice for one manual item at `amount` (no tax), issued on `issued`."""
    issued = issued or today()
    return invoice_create(
        member=member,
        lines=[LineInput(description="Personal training", unit_price=M(amount))],
        options=IssueOptions(tax_rate=M("0"), tax_inclusive=True, due_date=due),
        today=issued,
    )


def cash(invoice: Invoice, amount: str, on: datetime.date | None = None) -> Payment:
    return payment_record(invoice=invoice, amount=M(amount), method=Payment.Method.CASH, received_on=on or today())


@pytest.fixture
def in_a(gym_a: Gym) -> Iterator[Gym]:
    with tenant_context(gym_a):
        yield gym_a


@pytest.fixture
def login(gym_a: Gym, make_staff) -> Callable[..., Client]:
    """`login(role, gym)` -> a client on `gym`'s host (gym A by default) logged in as new staff."""

    def make(role: Role = Role.OWNER, gym: Gym | None = None) -> Client:
        gym = gym or gym_a
        client = Client(HTTP_HOST=host_of(gym))
        client.force_login(make_staff(gym, role))
        return client

    return make


@pytest.fixture
def invoice(in_a: Gym) -> Invoice:
    member = MemberFactory(first_name="Thandi", last_name="Nkosi", email="thandi@example.test")
    return manual_invoice(member, "120.00")


def connect_stripe(gym: Gym, fake) -> None:
    fake.add_account(ACCOUNT)
    gym.stripe_account_id, gym.stripe_charges_enabled = ACCOUNT, True
    gym.save(update_fields=["stripe_account_id", "stripe_charges_enabled"])


def save_card(member: Member, fake, card: str = "pm_card_visa") -> StripeCustomer:
    customer, pm = fake.saved_card(account=ACCOUNT, card=card, email=member.email or "m@example.test")
    return StripeCustomer.objects.create(
        member=member,
        customer_id=customer,
        payment_method_id=pm,
        card_brand="visa",
        card_last4="4242" if card == "pm_card_visa" else "0002",
        card_exp_month=4,
        card_exp_year=2029,
    )


def fresh_gym(gym: Gym) -> Gym:
    with schema_context("public"):
        return Gym.objects.get(pk=gym.pk)


# --- access -------------------------------------------------------------------------------


def test_each_page_renders_for_an_owner(login, invoice: Invoice) -> None:
    client = login(Role.OWNER)
    pages = {
        "/billing/": "Failed payments needing action",
        "/billing/invoices/": invoice.number,
        f"/billing/invoices/{invoice.pk}/": "Record a payment",
        f"/billing/invoices/new/?member={invoice.member_id}": "New invoice",
        f"/members/{invoice.member_id}/?tab=invoices": invoice.number,
        "/settings/": "Connect Stripe",
    }
    for url, text in pages.items():
        response = client.get(url)
        assert response.status_code == 200, url
        assert text in response.content.decode(), url
    home = client.get("/").content.decode()
    assert 'href="/billing/"' in home  # the sidebar's Billing link


def test_a_trainer_has_no_billing(login, invoice: Invoice) -> None:
    client = login(Role.TRAINER)
    for url in [
        "/billing/",
        "/billing/invoices/",
        f"/billing/invoices/{invoice.pk}/",
        f"/billing/invoices/{invoice.pk}/pdf/",
    ]:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "Billing is for the owner, managers and the front desk" in response.content.decode()
    response = client.post(f"/billing/invoices/{invoice.pk}/pay/", {"amount": "120.00", "method": "cash"})
    assert response.status_code == 403
    tab = client.get(f"/members/{invoice.member_id}/?tab=invoices").content.decode()
    assert invoice.number not in tab and "Billing is for the owner" in tab
    assert ">Billing</a>" not in client.get("/").content.decode()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OPEN and invoice.amount_paid == 0


def test_anonymous_visitors_are_sent_to_login(client_a: Client, invoice: Invoice) -> None:
    for url in ["/billing/", "/billing/invoices/", f"/billing/invoices/{invoice.pk}/"]:
        response = client_a.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_receptionist_records_a_payment_but_no_refund_credit_or_void(login, invoice: Invoice) -> None:
    client = login(Role.RECEPTIONIST)
    # The overview (revenue) is for managers; the desk lands on the list.
    assert client.get("/billing/").url == "/billing/invoices/"
    page = client.get(f"/billing/invoices/{invoice.pk}/").content.decode()
    assert "Record a payment" in page
    for key in ["refund", "credit", "void", "charge"]:
        assert f'id="action-{key}"' not in page
    for action in ["credit", "void", "refund", "charge"]:
        assert (
            client.post(f"/billing/invoices/{invoice.pk}/{action}/", {"amount": "1", "reason": "x"}).status_code == 403
        )
    assert client.get(f"/billing/invoices/new/?member={invoice.member_id}").status_code == 403

    response = client.post(
        f"/billing/invoices/{invoice.pk}/pay/",
        {"amount": "120.00", "method": "card_terminal", "reference": "slip 0042", "received_on": today().isoformat()},
    )

    assert response.status_code == 302 and response.url == f"/billing/invoices/{invoice.pk}/"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    payment = invoice.payments.get()
    assert (payment.method, payment.reference, payment.amount) == ("card_terminal", "slip 0042", M("120.00"))
    page = client.get(response.url).content.decode()
    assert f"Card terminal payment of {gbp('120.00')} recorded. The invoice is paid." in page


# --- the invoice's page and its actions --------------------------------------------------------


def test_invoice_page_shows_lines_totals_payments_and_credit_notes(login, in_a: Gym) -> None:
    member = MemberFactory(first_name="Lerato", last_name="Dube")
    inv = invoice_create(
        member=member,
        lines=[LineInput("Towel hire", M("5.00"), quantity=4), LineInput("Protein bar", M("3.50"))],
        options=IssueOptions(tax_rate=M("20"), tax_inclusive=False, discount=M("3.50")),
    )  # 23.50 - 3.50 = 20.00 + 20% = 24.00
    cash(inv, "24.00")
    invoice_refund(invoice=inv, amount=M("6.00"), reason="Bar was out of date")
    client = login(Role.MANAGER)

    html = client.get(f"/billing/invoices/{inv.pk}/").content.decode()

    assert "Towel hire" in html and "Protein bar" in html
    for money in ["£20.00", "£3.50", "£4.00", "£24.00", "£6.00"]:  # unit, discount, tax, total, refund
        assert money in html
    assert "Tax 20% (added)" in html
    note = CreditNote.objects.get(invoice=inv)
    assert note.number in html and "Bar was out of date" in html
    assert f'href="/billing/invoices/{inv.pk}/pdf/"' in html
    # A paid invoice may still be refunded (18.00 left), never paid or voided again.
    assert 'id="action-refund"' in html and 'id="action-pay"' not in html and 'id="action-void"' not in html
    assert 'value="18.00"' in html


def test_record_payment_defaults_to_the_amount_due_and_reactivates_a_past_due_membership(login, in_a: Gym) -> None:
    # Given a member past due for an invoice that fell due 10 days ago
    start = today() - datetime.timedelta(days=17)
    membership = member_on_monthly(start)
    inv = Invoice.objects.get(membership=membership)
    Invoice.objects.filter(pk=inv.pk).update(issue_date=start, due_date=start + datetime.timedelta(days=7))
    assert invoices_mark_overdue(today=today()) == 1
    membership.refresh_from_db()
    assert membership.status == Membership.Status.PAST_DUE
    client = login(Role.OWNER)
    page = client.get(f"/billing/invoices/{inv.pk}/").content.decode()
    assert f'value="{inv.total}"' in page and ">Overdue<" in page

    # When the owner records the cash, with htmx
    response = client.post(
        f"/billing/invoices/{inv.pk}/pay/",
        {"amount": str(inv.total), "method": "cash", "reference": "", "received_on": today().isoformat()},
        **HX,
    )

    # Then the browser is sent to the invoice, which is paid, and the membership is active
    assert response.status_code == 200 and response["HX-Redirect"] == f"/billing/invoices/{inv.pk}/"
    inv.refresh_from_db()
    membership.refresh_from_db()
    assert inv.status == Invoice.Status.PAID and membership.status == Membership.Status.ACTIVE


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"amount": "120.01"}, "amount", "Only 120.00 GBP is due."),
        ({"amount": "0"}, "amount", "The amount must be more than 0."),
        ({"amount": "ten"}, "amount", "Enter a number."),
        ({"method": "stripe"}, "method", "Select a valid choice."),
        ({"received_on": "2999-01-01"}, "received_on", "cannot be received in the future"),
    ],
)
def test_bad_payments_rerender_the_form_with_the_field_error(
    login, invoice: Invoice, data: dict[str, str], field: str, message: str
) -> None:
    client = login(Role.OWNER)
    post = {"amount": "50.00", "method": "cash", "reference": "", "received_on": today().isoformat()} | data
    for headers in ({}, HX):
        response = client.post(f"/billing/invoices/{invoice.pk}/pay/", post, **headers)
        html = response.content.decode()
        assert response.status_code == 400
        assert message in html
        assert f'id="id_{field}_errors"' in html
        assert "Nothing was changed." in html
        if headers:  # htmx gets the form alone, to swap in place
            assert "<html" not in html and 'id="action-pay"' in html
    invoice.refresh_from_db()
    assert invoice.amount_paid == 0 and not Payment.objects.filter(invoice=invoice).exists()


def test_a_payment_on_a_paid_invoice_is_refused_on_the_form(login, invoice: Invoice) -> None:
    cash(invoice, "120.00")
    response = login(Role.OWNER).post(
        f"/billing/invoices/{invoice.pk}/pay/",
        {"amount": "10.00", "method": "cash", "received_on": today().isoformat()},
    )
    assert response.status_code == 400
    assert "Only an open invoice can take a payment." in response.content.decode()
    assert invoice.payments.count() == 1


def test_refund_a_paid_invoice_and_refuse_too_much(login, invoice: Invoice) -> None:
    cash(invoice, "120.00")
    client = login(Role.MANAGER)

    too_much = client.post(f"/billing/invoices/{invoice.pk}/refund/", {"amount": "120.01", "reason": "Overcharged"})
    assert too_much.status_code == 400 and "At most 120.00 can be refunded." in too_much.content.decode()
    missing_reason = client.post(f"/billing/invoices/{invoice.pk}/refund/", {"amount": "20.00", "reason": ""}, **HX)
    assert missing_reason.status_code == 400 and 'id="id_reason_errors"' in missing_reason.content.decode()
    assert not CreditNote.objects.filter(invoice=invoice).exists()

    done = client.post(f"/billing/invoices/{invoice.pk}/refund/", {"amount": "20.00", "reason": "Overcharged"})

    assert done.status_code == 302
    note = CreditNote.objects.get(invoice=invoice)
    refund = Refund.objects.get(credit_note=note)
    assert (note.amount, refund.amount, refund.reason) == (M("20.00"), M("20.00"), "Overcharged")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID  # a paid invoice is never edited
    assert f"Refunded {gbp('20.00')} (credit note {note.number})." in client.get(done.url).content.decode()


def test_credit_note_then_void(login, in_a: Gym) -> None:
    member = MemberFactory()
    credited, voided, part_paid = (manual_invoice(member, a) for a in ("80.00", "60.00", "40.00"))
    cash(part_paid, "10.00")
    client = login(Role.OWNER)

    assert (
        client.post(f"/billing/invoices/{credited.pk}/credit/", {"amount": "30.00", "reason": "Goodwill"}).status_code
        == 302
    )
    credited.refresh_from_db()
    assert credited.amount_due == M("50.00") and credited.status == Invoice.Status.OPEN
    too_much = client.post(f"/billing/invoices/{credited.pk}/credit/", {"amount": "50.01", "reason": "x"})
    assert too_much.status_code == 400 and "At most 50.00 is still owed." in too_much.content.decode()

    assert client.post(f"/billing/invoices/{voided.pk}/void/", {"reason": "Entered twice"}).status_code == 302
    voided.refresh_from_db()
    assert (voided.status, voided.void_reason) == (Invoice.Status.VOID, "Entered twice")
    assert 'id="action-void"' not in client.get(f"/billing/invoices/{voided.pk}/").content.decode()

    refused = client.post(f"/billing/invoices/{part_paid.pk}/void/", {"reason": "Oops"}, **HX)
    assert refused.status_code == 400
    assert "Only an unpaid draft or open invoice can be voided" in refused.content.decode()
    part_paid.refresh_from_db()
    assert part_paid.status == Invoice.Status.OPEN


def test_action_urls_without_javascript_lead_back_to_the_invoice(login, invoice: Invoice) -> None:
    response = login(Role.OWNER).get(f"/billing/invoices/{invoice.pk}/pay/")
    assert response.status_code == 302 and response.url == f"/billing/invoices/{invoice.pk}/#action-pay"


def test_charge_the_saved_card_now(login, gym_a: Gym, fake_stripe) -> None:
    with tenant_context(gym_a):
        connect_stripe(gym_a, fake_stripe)
        good, bad = MemberFactory(), MemberFactory(first_name="Declan")
        save_card(good, fake_stripe)
        save_card(bad, fake_stripe, card="pm_card_chargeDeclined")
        paid_by_card, declined = manual_invoice(good, "45.00"), manual_invoice(bad, "45.00")
    client = login(Role.OWNER)
    assert 'id="action-charge"' in client.get(f"/billing/invoices/{paid_by_card.pk}/").content.decode()

    ok = client.post(f"/billing/invoices/{paid_by_card.pk}/charge/")
    assert ok.status_code == 302 and "The card was charged." in client.get(ok.url).content.decode()
    no = client.post(f"/billing/invoices/{declined.pk}/charge/")
    assert no.status_code == 302
    page = client.get(no.url).content.decode()
    assert "The card was declined: Your card was declined." in page and ">Failed<" in page

    paid_by_card.refresh_from_db()
    declined.refresh_from_db()
    assert paid_by_card.status == Invoice.Status.PAID
    assert paid_by_card.payments.get().method == Payment.Method.STRIPE
    assert declined.status == Invoice.Status.OPEN
    assert declined.payments.get().status == Payment.Status.FAILED


def test_overview_lists_failed_charges_past_due_memberships_and_disputes(login, in_a: Gym, fake_stripe) -> None:
    connect_stripe(in_a, fake_stripe)
    start = today() - datetime.timedelta(days=40)
    declined, disputed = member_on_monthly(start), member_on_monthly(start)
    for membership, card in ((declined, "pm_card_chargeDeclined"), (disputed, "pm_card_visa")):
        sale = Invoice.objects.get(membership=membership)
        cash(sale, sale.total, on=start)
        save_card(membership.member, fake_stripe, card=card)
    membership_charge_day = Membership.objects.get(pk=declined.pk).next_billing_date
    billing_run(today=membership_charge_day)
    failed = Invoice.objects.get(membership=declined, period_start=membership_charge_day)
    charged = Invoice.objects.get(membership=disputed, period_start=membership_charge_day)
    fake_stripe.dispute(charged.payments.get(status=Payment.Status.SUCCEEDED).stripe_charge_id)
    for event in fake_stripe.events:
        stripe_event_apply(event)
    quiet = manual_invoice(MemberFactory(), "10.00", issued=today() - datetime.timedelta(days=30))  # just overdue

    html = login(Role.OWNER).get("/billing/").content.decode()

    failed_row = re.search(rf'<tr id="attention-{failed.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "Card charge failed: Your card was declined." in failed_row and "Membership past due since" in failed_row
    assert f'href="/billing/invoices/{failed.pk}/"' in failed_row
    disputed_row = re.search(rf'<tr id="attention-{charged.pk}">(.*?)</tr>', html, re.S).group(1)
    assert "A payment is disputed" in disputed_row
    assert f'id="attention-{quiet.pk}"' not in html  # overdue by hand is in the Overdue figure instead


def test_pdf_download(login, invoice: Invoice) -> None:
    response = login(Role.RECEPTIONIST).get(f"/billing/invoices/{invoice.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert response.content.startswith(b"%PDF")


def test_new_invoice_for_manual_items(login, in_a: Gym) -> None:
    member = MemberFactory(first_name="Sipho")
    client = login(Role.MANAGER)
    url = f"/billing/invoices/new/?member={member.pk}"
    form = {
        "lines-TOTAL_FORMS": "3",
        "lines-INITIAL_FORMS": "0",
        "lines-0-description": "Locker rental (3 months)",
        "lines-0-quantity": "3",
        "lines-0-unit_price": "10.00",
        "lines-1-description": "",
        "lines-1-quantity": "1",
        "lines-1-unit_price": "",
        "discount": "5.00",
        "tax_rate": "15",
        "tax_mode": "exclusive",
        "due_date": "",
        "notes": "Thanks!",
    }
    bad = client.post(url, form | {"discount": "31.00"})
    assert bad.status_code == 400 and "The discount must be between 0 and the subtotal." in bad.content.decode()
    no_price = client.post(url, form | {"lines-1-description": "Water"})
    assert no_price.status_code == 400 and "Enter the price." in no_price.content.decode()
    assert not Invoice.objects.filter(member=member).exists()

    response = client.post(url, form)

    inv = Invoice.objects.get(member=member)
    assert response.status_code == 302 and response.url == f"/billing/invoices/{inv.pk}/"
    assert (inv.subtotal, inv.discount, inv.tax, inv.total) == (M("30.00"), M("5.00"), M("3.75"), M("28.75"))
    assert inv.status == Invoice.Status.OPEN and inv.lines.get().quantity == 3 and inv.notes == "Thanks!"


# --- the list -----------------------------------------------------------------------------------


def _numbers(response) -> list[str]:
    return re.findall(
        r'<tr id="invoice-\d+">\s*<td class="nowrap"><a href="[^"]+">([^<]+)</a>', response.content.decode()
    )


def test_list_filters(login, in_a: Gym) -> None:
    ayanda = MemberFactory(first_name="Ayanda", last_name="Mokoena", email="ayanda@example.test")
    ben = MemberFactory(first_name="Ben", last_name="Carter", email="ben@carter.test")
    old = manual_invoice(ayanda, "50.00", issued=today() - datetime.timedelta(days=40))  # due 33 days ago
    recent = manual_invoice(ayanda, "60.00")
    paid = manual_invoice(ben, "70.00", issued=today() - datetime.timedelta(days=3))
    cash(paid, "70.00")
    client = login(Role.RECEPTIONIST)

    assert set(_numbers(client.get("/billing/invoices/"))) >= {old.number, recent.number, paid.number}
    assert _numbers(client.get("/billing/invoices/", {"status": "paid"})) == [paid.number]
    assert _numbers(client.get("/billing/invoices/", {"overdue": "on"})) == [old.number]
    assert _numbers(client.get("/billing/invoices/", {"q": "mokoena"})) == [recent.number, old.number]
    assert _numbers(client.get("/billing/invoices/", {"q": "carter.test"})) == [paid.number]
    assert _numbers(client.get("/billing/invoices/", {"q": paid.number})) == [paid.number]
    assert _numbers(client.get("/billing/invoices/", {"q": str(ben.pk)})) == [paid.number]
    issued = {"issued_from": (today() - datetime.timedelta(days=5)).isoformat(), "issued_to": today().isoformat()}
    assert _numbers(client.get("/billing/invoices/", issued | {"q": "ayanda"})) == [recent.number]
    # htmx gets the results alone
    partial = client.get("/billing/invoices/", {"status": "paid"}, **HX).content.decode()
    assert "<html" not in partial and paid.number in partial
    # A bad date is shown on its field and that filter alone is left out
    response = client.get("/billing/invoices/", {"issued_from": "2026-05-01", "issued_to": "2026-04-01", "q": "ben"})
    assert response.status_code == 200 and "The end date is before the start date." in response.content.decode()
    assert _numbers(response) == [paid.number]


def test_list_overview_and_member_tab_query_counts_with_30_invoices(
    login, in_a: Gym, django_assert_max_num_queries
) -> None:
    members = [MemberFactory() for _ in range(6)]
    for i in range(30):
        inv = manual_invoice(members[i % 6], f"{10 + i}.00", issued=today() - datetime.timedelta(days=i))
        if i % 3 == 0:
            cash(inv, inv.total)
    client = login(Role.OWNER)
    for url in ["/billing/", "/billing/invoices/", f"/members/{members[0].pk}/?tab=invoices"]:
        client.get(url)  # warm up the session and content types

    # Request overhead (domain, session, user, staff role) plus: the list's count and
    # page; the overview's four; the member page's member and the tab's three.
    for url, most in [
        ("/billing/invoices/", 6),
        ("/billing/invoices/?overdue=on&q=a", 6),
        ("/billing/", 8),
        (f"/members/{members[0].pk}/?tab=invoices", 8),
    ]:
        with django_assert_max_num_queries(most + 10) as captured:
            response = client.get(url)
        assert response.status_code == 200
        real = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]
        assert len(real) <= most, (url, real)
    assert len(_numbers(client.get("/billing/invoices/"))) == 30


# --- the overview ----------------------------------------------------------------------------


def test_overview_figures(login, in_a: Gym) -> None:
    member = MemberFactory()
    last_month = today().replace(day=1) - datetime.timedelta(days=1)
    not_due = manual_invoice(member, "100.00")  # open 100
    overdue = manual_invoice(member, "200.00", issued=today() - datetime.timedelta(days=20))  # due 13 days ago
    cash(overdue, "50.00")  # open 150, overdue 150; money in this month 50
    paid = manual_invoice(member, "300.00")
    cash(paid, "300.00")  # paid this month 300; money in 300
    invoice_refund(invoice=paid, amount=M("40.00"), reason="Class cancelled")  # money out this month 40
    earlier = manual_invoice(member, "80.00")
    cash(earlier, "40.00", on=last_month)  # open 40; money in last month 40
    assert not_due.status == Invoice.Status.OPEN

    html = login(Role.MANAGER).get("/billing/").content.decode()

    def figure(name: str) -> str:
        match = re.search(rf'id="figure-{name}".*?<div class="value">([^<]+)</div>', html, re.S)
        assert match, name
        return match.group(1)

    assert figure("open") == gbp("290.00")
    assert figure("overdue") == gbp("150.00")
    assert figure("paid") == gbp("300.00")
    assert figure("revenue") == gbp("310.00")  # 50 + 300 - 40
    assert re.search(r'id="revenue-last-month">([^<]+)<', html).group(1) == gbp("40.00")
    assert "3 invoices waiting for payment" in html and "1 past the due date" in html


# --- the member's Invoices tab -------------------------------------------------------------------


def test_member_tab_shows_invoices_amount_owed_and_the_saved_card(login, in_a: Gym, fake_stripe) -> None:
    connect_stripe(in_a, fake_stripe)
    member = MemberFactory(first_name="Naledi")
    a = manual_invoice(member, "30.00", issued=today() - datetime.timedelta(days=30))  # overdue
    b = manual_invoice(member, "20.00")
    cash(b, "5.00")
    save_card(member, fake_stripe)
    other = manual_invoice(MemberFactory(), "99.00")

    html = login(Role.RECEPTIONIST).get(f"/members/{member.pk}/?tab=invoices", **HX).content.decode()

    assert a.number in html and b.number in html and other.number not in html
    assert gbp("45.00") in re.search(r'id="member-owed">(.*?)</dd>', html, re.S).group(1)
    assert gbp("30.00") in re.search(r'id="member-overdue">(.*?)</dd>', html, re.S).group(1)
    assert re.search(r'id="member-card">Visa •••• 4242 · expires 04/2029</dd>', html)
    link = re.search(r'value="(http://gym-a\.[^"]+/billing/card/[^"]+/)"', html).group(1)
    token = link.rsplit("/", 2)[1]
    assert links.member_card_token_read(token) == member.pk
    assert "New invoice" not in html  # manual invoices are for managers


# --- cross-gym --------------------------------------------------------------------------------------


def test_gym_b_staff_cannot_see_or_pay_gym_a_invoices(gym_a: Gym, gym_b: Gym, make_staff, invoice: Invoice) -> None:
    intruder = make_staff(gym_b, Role.OWNER)
    # On gym A's host, gym B's owner has no role.
    on_a = Client(HTTP_HOST=host_of(gym_a))
    on_a.force_login(intruder)
    for url in ["/billing/", f"/billing/invoices/{invoice.pk}/", f"/billing/invoices/{invoice.pk}/pdf/"]:
        assert on_a.get(url).status_code == 403
    assert on_a.post(f"/billing/invoices/{invoice.pk}/pay/", {"amount": "1", "method": "cash"}).status_code == 403
    assert on_a.post("/billing/stripe/connect/").status_code == 403
    # On gym B's own host, gym A's ids name nothing.
    on_b = Client(HTTP_HOST=host_of(gym_b))
    on_b.force_login(intruder)
    for url in [f"/billing/invoices/{invoice.pk}/", f"/billing/invoices/{invoice.pk}/pdf/"]:
        assert on_b.get(url).status_code == 404
    for action, data in [
        ("pay", {"amount": "1.00", "method": "cash", "received_on": today().isoformat()}),
        ("void", {"reason": "x"}),
        ("credit", {"amount": "1.00", "reason": "x"}),
        ("refund", {"amount": "1.00", "reason": "x"}),
        ("charge", {}),
    ]:
        assert on_b.post(f"/billing/invoices/{invoice.pk}/{action}/", data).status_code == 404
    assert invoice.number not in on_b.get("/billing/invoices/").content.decode()
    assert on_b.get(f"/members/{invoice.member_id}/?tab=invoices").status_code == 404
    with tenant_context(gym_a):
        invoice.refresh_from_db()
        assert invoice.status == Invoice.Status.OPEN and invoice.amount_paid == 0


def test_a_gym_b_row_with_a_foreign_id_is_not_found_on_gym_a(login, gym_b: Gym) -> None:
    with tenant_context(gym_b):
        member = MemberFactory()
        foreign = invoice_create(
            member=member, lines=[LineInput("Gym B item", M("10"))], options=IssueOptions(tax_rate=M("0"))
        )
        foreign_id = next(FOREIGN_ID)
        Invoice.objects.filter(pk=foreign.pk).update(id=foreign_id)
        InvoiceLine.objects.filter(invoice_id=foreign.pk).update(invoice_id=foreign_id)
    client = login(Role.OWNER)
    assert client.get(f"/billing/invoices/{foreign_id}/").status_code == 404
    assert client.post(f"/billing/invoices/{foreign_id}/pay/", {"amount": "10", "method": "cash"}).status_code == 404


# --- gym settings: Billing and Stripe Connect --------------------------------------------------------


def billing_post(gym: Gym, **changes: str) -> dict[str, str]:
    """The whole settings page as it posts, with billing `changes`."""
    data = {
        "name": gym.name,
        "timezone": gym.timezone,
        "currency": gym.currency,
        "country": str(gym.country or ""),
        "billing_section": "1",
        "legal_name": "Gym A Fitness (Pty) Ltd",
        "address": "1 Main Road\nCape Town",
        "tax_number": "4123456789",
        "tax_rate": "15",
        "prices_include_tax": "on",
        "invoice_prefix": "gya",
        "invoice_due_days": "10",
        "dunning_retry_days": "2, 4,7",
        "dunning_final_action": "freeze",
        "billing_hour": "5",
        "billing_email": "accounts@gym-a.test",
    }
    return data | changes


def test_owner_saves_the_billing_settings(login, gym_a: Gym) -> None:
    client = login(Role.MANAGER)
    page = client.get("/settings/").content.decode()
    assert 'id="settings-billing"' in page and 'name="dunning_retry_days" value="1,3,5"' in page

    response = client.post("/settings/", billing_post(gym_a))

    assert response.status_code == 302
    gym = fresh_gym(gym_a)
    assert (gym.legal_name, gym.address, gym.tax_number) == (
        "Gym A Fitness (Pty) Ltd",
        "1 Main Road\nCape Town",
        "4123456789",
    )
    assert (gym.tax_rate, gym.prices_include_tax, gym.invoice_prefix) == (M("15.00"), True, "GYA")
    assert (gym.invoice_due_days, gym.dunning_retry_days, gym.dunning_final_action) == (10, "2,4,7", "freeze")
    assert (gym.billing_hour, gym.billing_email) == (5, "accounts@gym-a.test")
    # An unticked box is False when the section is posted ...
    client.post("/settings/", {k: v for k, v in billing_post(gym_a).items() if k != "prices_include_tax"})
    assert fresh_gym(gym_a).prices_include_tax is False
    # ... and a post without the section keeps every billing setting.
    general = {k: billing_post(gym_a)[k] for k in ("name", "timezone", "currency", "country")}
    assert client.post("/settings/", general).status_code == 302
    assert fresh_gym(gym_a).legal_name == "Gym A Fitness (Pty) Ltd" and fresh_gym(gym_a).dunning_retry_days == "2,4,7"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("dunning_retry_days", "1,3,3", "ascending order"),
        ("dunning_retry_days", "5,3", "ascending order"),
        ("dunning_retry_days", "1,2,3,4,5,6", "At most 5 retries"),
        ("dunning_retry_days", "0,2", "not a day from 1 to 60"),
        ("dunning_retry_days", "1,x", "not a day from 1 to 60"),
        ("dunning_retry_days", "", "This field is required."),
        ("billing_hour", "24", "less than or equal to 23"),
        ("tax_rate", "101", "less than or equal to 100"),
        ("invoice_prefix", "INV-", "1 to 12 letters or digits"),
        ("invoice_prefix", "cn", "used for credit notes"),
        ("dunning_final_action", "delete", "Select a valid choice"),
        ("billing_email", "accounts", "Enter a valid email address."),
    ],
)
def test_bad_billing_settings_rerender_with_the_field_error_and_save_nothing(
    login, gym_a: Gym, field: str, value: str, message: str
) -> None:
    client = login(Role.OWNER)
    before = fresh_gym(gym_a)
    for headers in ({}, HX):
        response = client.post("/settings/", billing_post(gym_a, **{field: value}), **headers)
        html = response.content.decode()
        assert response.status_code == 400
        assert message in html and f'id="id_{field}_errors"' in html
    after = fresh_gym(gym_a)
    assert (after.legal_name, after.dunning_retry_days, after.billing_hour) == (
        before.legal_name,
        before.dunning_retry_days,
        before.billing_hour,
    )


def test_owner_connects_stripe(login, gym_a: Gym, fake_stripe) -> None:
    with schema_context("public"):
        Gym.objects.filter(pk=gym_a.pk).update(country="GB", billing_email="money@gym-a.test")
    client = login(Role.OWNER)
    assert 'action="/billing/stripe/connect/"' in client.get("/settings/").content.decode()

    first = client.post("/billing/stripe/connect/")

    assert first.status_code == 302 and first.url.startswith("https://connect.stripe.com/setup/s/acct_")
    account = fresh_gym(gym_a).stripe_account_id
    assert account and account in first.url
    created = [r for r in fake_stripe.requests if r.method == "POST" and r.path == "/v1/accounts"]
    assert created[0].params["country"] == "GB" and created[0].params["email"] == "money@gym-a.test"
    link = next(r for r in fake_stripe.requests if r.path == "/v1/account_links")
    assert link.params["return_url"] == "http://gym-a.localhost/billing/stripe/return/"
    assert link.params["refresh_url"] == "http://gym-a.localhost/billing/stripe/connect/"
    # Stripe's refresh_url (an expired link) makes a new link for the same account.
    again = client.get("/billing/stripe/connect/")
    assert again.status_code == 302 and account in again.url and fresh_gym(gym_a).stripe_account_id == account
    assert len([r for r in fake_stripe.requests if r.method == "POST" and r.path == "/v1/accounts"]) == 1

    # Back from Stripe before finishing: not yet.
    back = client.get("/billing/stripe/return/")
    assert back.url == "/settings/#settings-stripe" and fresh_gym(gym_a).stripe_charges_enabled is False
    assert "onboarding is not finished yet" in client.get("/settings/").content.decode()
    # Finished: charges are enabled.
    fake_stripe.account_update(account, charges_enabled=True, details_submitted=True)
    client.get("/billing/stripe/return/")
    assert fresh_gym(gym_a).stripe_charges_enabled is True
    page = client.get("/settings/").content.decode()
    assert "Stripe is connected." in page and ">Connected<" in page


def test_stripe_connect_is_owner_only_and_needs_a_country(login, gym_a: Gym, fake_stripe) -> None:
    manager = login(Role.MANAGER)
    assert manager.post("/billing/stripe/connect/").status_code == 403
    assert manager.get("/billing/stripe/return/").status_code == 403
    assert "Only the owner can connect Stripe." in manager.get("/settings/").content.decode()

    owner = login(Role.OWNER)
    with schema_context("public"):
        Gym.objects.filter(pk=gym_a.pk).update(country="")
    response = owner.post("/billing/stripe/connect/")
    assert response.url == "/settings/#settings-stripe"
    assert "Set the gym&#x27;s country first" in owner.get("/settings/").content.decode()

    with schema_context("public"):
        Gym.objects.filter(pk=gym_a.pk).update(country="GB")
    fake_stripe.fail_next(1, status=503)
    owner.post("/billing/stripe/connect/")
    assert "Stripe could not be reached" in owner.get("/settings/").content.decode()
    assert fresh_gym(gym_a).stripe_account_id == ""
    assert not [r for r in fake_stripe.requests if r.path == "/v1/account_links"]


# --- the member's self-serve links ---------------------------------------------------------------------


def test_card_update_link_sends_the_member_to_stripe_checkout(client_a: Client, in_a: Gym, fake_stripe) -> None:
    member = MemberFactory(email="lindiwe@example.test")
    token = links.member_card_token(member=member)
    # Without Stripe the member is told to pay at the desk.
    response = client_a.get(f"/billing/card/{token}/")
    assert response.status_code == 409 and "Please pay at the front desk." in response.content.decode()

    connect_stripe(in_a, fake_stripe)
    response = client_a.get(f"/billing/card/{token}/")

    assert response.status_code == 302 and response.url.startswith("https://checkout.stripe.com/")
    session = fake_stripe.objects("checkout.session", account=ACCOUNT)[-1]
    assert session["mode"] == "setup" and session["customer"] == StripeCustomer.objects.get(member=member).customer_id
    assert session["success_url"] == "http://gym-a.localhost/billing/card/done/"
    assert session["cancel_url"] == f"http://gym-a.localhost/billing/card/{token}/?cancelled=1"
    cancelled = client_a.get(f"/billing/card/{token}/?cancelled=1").content.decode()
    assert "No card was saved" in cancelled and "Try again" in cancelled
    assert "Your card is saved" in client_a.get("/billing/card/done/").content.decode()
    fake_stripe.fail_next(1, status=503)
    other_member = MemberFactory()
    down = client_a.get(f"/billing/card/{links.member_card_token(member=other_member)}/")
    assert down.status_code == 503 and "Please try again in a minute." in down.content.decode()


def test_card_links_that_are_forged_expired_or_from_another_gym_are_refused(
    client_a: Client, gym_b: Gym, in_a: Gym, monkeypatch
) -> None:
    member = MemberFactory()
    token = links.member_card_token(member=member)
    assert client_a.get(f"/billing/card/{token[:-2]}xx/").status_code == 404
    with tenant_context(gym_b):
        b_token = links.member_card_token(member=MemberFactory())
    refused = client_a.get(f"/billing/card/{b_token}/")
    assert refused.status_code == 404 and "This link is not valid" in refused.content.decode()
    monkeypatch.setattr(links, "CARD_TOKEN_MAX_AGE", datetime.timedelta(seconds=-1))
    expired = client_a.get(f"/billing/card/{token}/")
    assert expired.status_code == 410 and "This link has expired" in expired.content.decode()


def test_pay_link_of_the_invoice_pdf(client_a: Client, in_a: Gym, fake_stripe) -> None:
    connect_stripe(in_a, fake_stripe)
    member = MemberFactory()
    inv = manual_invoice(member, "75.00")
    token = invoice_pay_token(inv)

    response = client_a.get(f"/billing/pay/{token}/")

    assert response.status_code == 302 and response.url.startswith("https://checkout.stripe.com/")
    session = fake_stripe.objects("checkout.session", account=ACCOUNT)[-1]
    assert session["mode"] == "payment" and session["amount_total"] == 7500
    assert session["success_url"] == f"http://gym-a.localhost/billing/pay/{token}/?done=1"
    assert "Nothing was paid" in client_a.get(f"/billing/pay/{token}/?cancelled=1").content.decode()
    cash(inv, "75.00")
    paid = client_a.get(f"/billing/pay/{token}/")
    assert paid.status_code == 200 and f"Invoice {inv.number} is paid" in paid.content.decode()
    assert client_a.get(f"/billing/pay/{token}x/").status_code == 404


def test_pay_links_of_another_gym_or_expired_are_refused(client_a: Client, gym_b: Gym, in_a: Gym, monkeypatch) -> None:
    with tenant_context(gym_b):
        foreign = manual_invoice(MemberFactory(), "10.00")
        token = invoice_pay_token(foreign)
    response = client_a.get(f"/billing/pay/{token}/")
    assert response.status_code == 404 and "This link is not valid" in response.content.decode()
    mine = invoice_pay_token(manual_invoice(MemberFactory(), "10.00"))
    monkeypatch.setattr("apps.invoices.pdf.PAY_TOKEN_MAX_AGE", datetime.timedelta(seconds=-1))
    assert client_a.get(f"/billing/pay/{mine}/").status_code == 410
