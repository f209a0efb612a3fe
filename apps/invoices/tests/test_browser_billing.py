"""A real browser through the billing pages: a member's monthly invoice went unpaid past
the gym's payment grace, so the front desk refuses them (red, "Payment overdue"). The
owner opens Billing, finds the invoice among the failed payments needing action, and
records the cash through the invoice's form (htmx). The invoice is paid, the member's
Invoices tab owes nothing, and at the desk the member's check-in turns green again.

Same set-up as `apps/members/tests/test_browser_members.py` (the `uvicorn_server`
fixture of `apps/core/tests/test_browser_signup.py`): the app runs as a `uvicorn`
subprocess on the test database, so the rows it reads are committed, in a gym created
for this module and dropped afterwards, schema and all. Screenshots go to
`/tmp/fitflow-screens/`.

Run alone with `pytest -m browser apps/invoices`.
"""

from __future__ import annotations

import datetime
import re
import secrets
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta
from django.contrib.sessions.models import Session
from django.db import connection
from django_tenants.utils import tenant_context
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

from apps.accounts.models import User
from apps.accounts.tests.factories import TEST_PASSWORD, UserFactory
from apps.checkins.models import CheckIn
from apps.core.tests.test_browser_signup import (  # noqa: F401  (uvicorn_server is a fixture)
    ASSERT_TIMEOUT_MS,
    CHROMIUM,
    CHROMIUM_ARGS,
    FIRST_NAVIGATION_TIMEOUT_MS,
    NAVIGATION_TIMEOUT_MS,
    LiveServer,
    uvicorn_server,
)
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.services import membership_assign
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.staff.services import staff_role_assign
from apps.tenants.models import Domain, Gym
from apps.tenants.services import gym_provision

from ..models import Invoice, Payment
from ..services import billing_run, invoices_mark_overdue, payment_record

# `django_db` makes pytest-django set up the test database even when this module runs
# alone; the test's own transaction only reads what the server and the fixture committed.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

SCREENS = Path("/tmp/fitflow-screens")
TIMEZONE = "Europe/London"


@dataclass
class BillingGym:
    slug: str
    owner_email: str
    desk_email: str
    member_id: int
    membership_id: int
    invoice_id: int
    invoice_number: str


def _seed(today: datetime.date) -> tuple[int, int, int, str]:
    """A monthly plan at £45 and a few members. Nomvula joined a month and 20 days ago
    and paid her first month; her second month's invoice (issued 20 days ago, due 13
    days ago) is unpaid, so she is past due beyond the 3 grace days."""
    plan = PlanFactory(
        name="Monthly unlimited",
        price=Decimal("45.00"),
        kind=Plan.Kind.RECURRING,
        billing_period="monthly",
        tax_rate=Decimal("20.00"),
        price_includes_tax=True,
        signup_fee=Decimal("0.00"),
        class_credits=None,
    )
    start = today - relativedelta(months=1) - datetime.timedelta(days=20)
    memberships = []
    for first, last in [("Nomvula", "Dlamini"), ("Ben", "Carter"), ("Chloe", "Dubois")]:
        member = MemberFactory(first_name=first, last_name=last, email=f"{first.lower()}@example.test")
        membership = membership_assign(member=member, plan=plan, start_date=start)
        sale = Invoice.objects.get(membership=membership)
        payment_record(invoice=sale, amount=sale.total, method=Payment.Method.CASH, received_on=start)
        memberships.append(membership)
    billing_run(today=start + relativedelta(months=1))  # three period invoices, due 7 days later
    nomvula, ben, _ = memberships
    for paid_on_time in (ben,):
        invoice = Invoice.objects.get(membership=paid_on_time, status=Invoice.Status.OPEN)
        payment_record(invoice=invoice, amount=invoice.total, method=Payment.Method.BANK_TRANSFER, reference="EFT")
    invoices_mark_overdue(today=today)  # Nomvula and Chloe go past due
    invoice = Invoice.objects.get(membership=nomvula, status=Invoice.Status.OPEN)
    nomvula.refresh_from_db()
    assert nomvula.status == Membership.Status.PAST_DUE
    assert nomvula.past_due_since is not None and nomvula.past_due_since + datetime.timedelta(days=3) < today
    return nomvula.member_id, nomvula.pk, invoice.pk, invoice.number or ""


@pytest.fixture(scope="module")
def billing_gym(uvicorn_server: LiveServer, django_db_blocker) -> Iterator[BillingGym]:  # noqa: F811
    """A gym of its own with an owner, a receptionist and the members above (committed
    rows); dropped with its schema, and the users and their sessions deleted, afterwards."""
    slug = f"pw-b-{secrets.token_hex(3)}"
    emails = (f"owner-{slug}@fitflow.test", f"desk-{slug}@fitflow.test")
    today = datetime.datetime.now(zoneinfo.ZoneInfo(TIMEZONE)).date()
    with django_db_blocker.unblock():
        gym = gym_provision(
            name="Riverside Fitness",
            slug=slug,
            timezone=TIMEZONE,
            currency="GBP",
            country="GB",
            status=Gym.Status.ACTIVE,
        )
        owner = UserFactory(email=emails[0], first_name="Olivia")
        desk = UserFactory(email=emails[1], first_name="Dev")
        with tenant_context(gym):
            staff_role_assign(user=owner, role=Role.OWNER)
            staff_role_assign(user=desk, role=Role.RECEPTIONIST)
            member_id, membership_id, invoice_id, number = _seed(today)
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    try:
        yield BillingGym(slug, emails[0], emails[1], member_id, membership_id, invoice_id, number)
    finally:
        with django_db_blocker.unblock():
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            gym = Gym.objects.get(slug=slug)
            Domain.objects.filter(tenant=gym).delete()
            gym.delete(force_drop=True)
            user_ids = {str(pk) for pk in User.objects.filter(email__in=emails).values_list("pk", flat=True)}
            Session.objects.filter(
                pk__in=[s.pk for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") in user_ids]
            ).delete()
            User.objects.filter(email__in=emails).delete()
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            assert not Gym.objects.filter(slug=slug).exists()


def _log_in(browser: Browser, server: LiveServer, gym: BillingGym, email: str, bad: list[str]) -> Page:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    context.set_default_timeout(ASSERT_TIMEOUT_MS)
    page = context.new_page()

    def note(response: Response) -> None:
        if response.status >= 400:
            bad.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", note)
    page.on("pageerror", lambda exc: bad.append(f"page error: {exc}"))
    base = server.gym_url(gym.slug)
    page.goto(f"{base}/accounts/login/", timeout=FIRST_NAVIGATION_TIMEOUT_MS)
    form = page.locator("form[action$='/accounts/login/']")
    form.locator("input[name='login']").fill(email)
    form.locator("input[name='password']").fill(TEST_PASSWORD)
    form.locator("button[type='submit']").click()
    page.wait_for_url(f"{base}/")
    return page


def _check_in_by_name(desk: Page, name: str) -> None:
    box = desk.locator("#desk-q")
    box.fill("")
    box.press_sequentially(name, delay=30)
    expect(desk.get_by_role("button", name=f"Check in {name}")).to_be_visible()  # the live search
    box.press("Enter")


def test_owner_records_cash_on_an_overdue_invoice_and_the_member_gets_in_again(
    uvicorn_server: LiveServer,  # noqa: F811
    billing_gym: BillingGym,
    django_db_blocker,
) -> None:
    server, gym = uvicorn_server, billing_gym
    base = server.gym_url(gym.slug)
    bad: list[str] = []
    SCREENS.mkdir(exist_ok=True)

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                # 1. At the desk, the member is refused: past due beyond the grace days.
                desk = _log_in(browser, server, gym, gym.desk_email, bad)
                desk.get_by_role("link", name="Check-in", exact=True).click()
                desk.wait_for_url(f"{base}/check-in/")
                _check_in_by_name(desk, "Nomvula Dlamini")
                red = desk.locator("#desk-result .desk-panel.tone-red")
                expect(red).to_contain_text("Payment overdue")
                expect(red.locator(".panel-name")).to_have_text("Nomvula Dlamini")
                desk.screenshot(path=str(SCREENS / "billing-desk-red.png"), full_page=True)
                desk.keyboard.press("Escape")

                # 2. The owner finds the invoice among the failed payments needing action.
                owner = _log_in(browser, server, gym, gym.owner_email, bad)
                owner.get_by_role("link", name="Billing", exact=True).click()
                owner.wait_for_url(f"{base}/billing/")
                expect(owner.get_by_role("heading", level=1)).to_have_text("Billing")
                expect(owner.locator("#figure-overdue .value")).to_have_text("£90.00")  # Nomvula and Chloe
                row = owner.locator(f"#attention-{gym.invoice_id}")
                expect(row).to_contain_text("Nomvula Dlamini")
                expect(row).to_contain_text("Membership past due since")
                owner.screenshot(path=str(SCREENS / "billing-overview.png"), full_page=True)
                row.get_by_role("link", name=gym.invoice_number).click()
                owner.wait_for_url(f"{base}/billing/invoices/{gym.invoice_id}/")
                expect(owner.get_by_role("heading", level=1)).to_contain_text(f"Invoice {gym.invoice_number}")
                expect(owner.get_by_role("heading", level=1)).to_contain_text("Overdue")
                expect(owner.locator("#invoice-due")).to_have_text("£45.00")
                expect(owner.locator("#invoice-lines")).to_contain_text("Monthly unlimited")

                # 3. A wrong amount first: the form says so in place (htmx) and nothing is paid.
                form = owner.locator("#action-pay")
                expect(form.get_by_label("Amount")).to_have_value("45.00")  # defaults to what is due
                expect(form.get_by_label("Method")).to_have_value("cash")
                form.get_by_label("Amount").fill("50.00")
                form.get_by_role("button", name="Record payment").click()
                expect(owner.locator("#action-pay .errors")).to_contain_text("Only 45.00 GBP is due.")
                expect(owner.locator("#invoice-due")).to_have_text("£45.00")

                # 4. The right amount, cash, with the desk receipt's number.
                form = owner.locator("#action-pay")
                form.get_by_label("Amount").fill("45.00")
                form.get_by_label("Reference").fill("Receipt 0017")
                owner.screenshot(path=str(SCREENS / "billing-invoice-pay-form.png"), full_page=True)
                form.get_by_role("button", name="Record payment").click()
                expect(owner.locator(".messages")).to_contain_text(
                    "Cash payment of £45.00 recorded. The invoice is paid."
                )
                expect(owner.get_by_role("heading", level=1)).to_contain_text("Paid")
                expect(owner.locator("#invoice-due")).to_have_text("£0.00")
                expect(owner.locator("#invoice-payments")).to_contain_text("Receipt 0017")
                expect(owner.locator("#action-pay")).to_have_count(0)
                owner.screenshot(path=str(SCREENS / "billing-invoice-paid.png"), full_page=True)

                # The member's Invoices tab owes nothing now.
                owner.goto(f"{base}/members/{gym.member_id}/")
                owner.get_by_role("link", name="Invoices", exact=True).click()
                owner.wait_for_url(f"{base}/members/{gym.member_id}/?tab=invoices")
                expect(owner.locator("#member-owed")).to_contain_text("£0.00")
                expect(owner.locator(f"#invoice-{gym.invoice_id}")).to_contain_text("Paid")
                owner.screenshot(path=str(SCREENS / "billing-member-tab.png"), full_page=True)
                owner.goto(f"{base}/billing/invoices/?overdue=on")
                expect(owner.locator("#invoice-count")).to_have_text("1 invoice matches")  # Chloe's
                owner.screenshot(path=str(SCREENS / "billing-invoices.png"), full_page=True)
                owner.goto(f"{base}/settings/")
                owner.screenshot(path=str(SCREENS / "billing-settings.png"), full_page=True)
                owner.context.close()

                # 5. Back at the desk, the same member now checks in: green.
                _check_in_by_name(desk, "Nomvula Dlamini")
                green = desk.locator("#desk-result .desk-panel.tone-green")
                expect(green).to_contain_text("Checked in")
                expect(green.locator(".panel-name")).to_have_text("Nomvula Dlamini")
                expect(green).to_contain_text("Monthly unlimited")
                desk.screenshot(path=str(SCREENS / "billing-desk-green.png"), full_page=True)
                desk.context.close()
            finally:
                browser.close()
    except Exception:
        print(f"--- uvicorn log tail ---\n{server.log_tail()}")
        raise

    # The overpayment's 400 was the form's answer, not a failure.
    assert [b for b in bad if not re.match(rf"400 POST .*/billing/invoices/{gym.invoice_id}/pay/$", b)] == [], bad
    with django_db_blocker.unblock(), tenant_context(Gym.objects.get(slug=gym.slug)):
        invoice = Invoice.objects.get(pk=gym.invoice_id)
        assert invoice.status == Invoice.Status.PAID
        payment = invoice.payments.get()
        assert (payment.method, payment.amount, payment.reference) == ("cash", Decimal("45.00"), "Receipt 0017")
        assert Membership.objects.get(pk=gym.membership_id).status == Membership.Status.ACTIVE
        assert list(CheckIn.objects.values_list("member_id", flat=True)) == [gym.member_id]
    connection.set_schema_to_public()  # type: ignore[attr-defined]
