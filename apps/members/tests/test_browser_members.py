"""A real browser on the members pages: a receptionist searches a member and opens them;
an owner freezes a membership and sees the new end and next-billing dates.

Same set-up as `apps/core/tests/test_browser_signup.py` (whose `uvicorn_server`
fixture this module reuses): the app runs as a `uvicorn` subprocess on the test
database, so the rows it reads must be committed. They live in a gym created for this
module (not gym A, which other test runs may be using) and are dropped afterwards,
schema and all. Screenshots of the members list, a member and the plans page go to
`/tmp/fitflow-screens/`.

Run alone with `pytest -m browser apps/members`.
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
from django.db import connection
from django_tenants.utils import tenant_context
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

from apps.accounts.models import User
from apps.accounts.tests.factories import TEST_PASSWORD, UserFactory
from apps.core.tests.test_browser_signup import (  # noqa: F401  (uvicorn_server is a fixture)
    ASSERT_TIMEOUT_MS,
    CHROMIUM,
    CHROMIUM_ARGS,
    FIRST_NAVIGATION_TIMEOUT_MS,
    NAVIGATION_TIMEOUT_MS,
    LiveServer,
    uvicorn_server,
)
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.staff.services import staff_role_assign
from apps.tenants.models import Domain, Gym
from apps.tenants.services import gym_provision

pytestmark = pytest.mark.browser

SCREENS = Path("/tmp/fitflow-screens")
TIMEZONE = "Europe/London"


@dataclass
class BrowserGym:
    slug: str
    owner_email: str
    desk_email: str
    member_id: int
    membership_id: int
    next_billing: datetime.date


def _seed(gym: Gym) -> tuple[int, int, datetime.date]:
    """Plans, ~30 members with memberships in several states, and the one the test uses."""
    today = datetime.datetime.now(zoneinfo.ZoneInfo(TIMEZONE)).date()
    monthly = PlanFactory(name="Monthly unlimited", price=Decimal("45.00"), description="Everything, any time")
    PlanFactory(
        name="Annual", price=Decimal("450.00"), billing_period=Plan.BillingPeriod.YEARLY, signup_fee=Decimal("25")
    )
    off_peak = PlanFactory(
        name="Off-peak",
        price=Decimal("29.00"),
        access_hours=[{"weekdays": [0, 1, 2, 3, 4], "start": "09:00", "end": "16:00"}],
    )
    pack = PlanFactory(
        name="10-class pack",
        kind=Plan.Kind.CLASS_PACK,
        billing_period="",
        price=Decimal("80.00"),
        class_credits=10,
        pack_expiry_days=90,
    )
    PlanFactory(name="Student (2024)", price=Decimal("25.00"), is_active=False)
    plans = [monthly, off_peak, pack]
    tags = [["morning"], ["student"], [], ["referral", "morning"], []]
    statuses = [
        Membership.Status.ACTIVE,
        Membership.Status.ACTIVE,
        Membership.Status.FROZEN,
        Membership.Status.PAST_DUE,
    ]
    for i in range(28):
        member = MemberFactory(
            tags=tags[i % len(tags)],
            joined_on=today - datetime.timedelta(days=17 * i + 3),
            status=Member.Status.INACTIVE if i % 9 == 8 else Member.Status.ACTIVE,
        )
        if i % 9 != 8:
            plan = plans[i % 3]
            MembershipFactory(
                member=member,
                plan=plan,
                status=statuses[i % 4] if plan != pack else Membership.Status.ACTIVE,
                start_date=today - datetime.timedelta(days=20),
                next_billing_date=None if plan == pack else today + datetime.timedelta(days=10),
            )
    target = MemberFactory(
        first_name="Nomvula",
        last_name="Dlamini",
        email="nomvula@example.test",
        phone="+447700900123",
        tags=["morning"],
        medical_notes="Asthma: inhaler in locker",
        joined_on=today - datetime.timedelta(days=40),
    )
    next_billing = today + datetime.timedelta(days=12)
    membership = MembershipFactory(
        member=target, plan=monthly, start_date=next_billing - relativedelta(months=1), next_billing_date=next_billing
    )
    return target.pk, membership.pk, next_billing


@pytest.fixture(scope="module")
def browser_gym(uvicorn_server: LiveServer, django_db_blocker) -> Iterator[BrowserGym]:  # noqa: F811
    """A gym of its own with an owner, a receptionist and seeded members (committed rows);
    dropped with its schema, and the two users deleted, afterwards."""
    slug = f"pw-m-{secrets.token_hex(3)}"
    emails = (f"owner-{slug}@fitflow.test", f"desk-{slug}@fitflow.test")
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
            member_id, membership_id, next_billing = _seed(gym)
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    try:
        yield BrowserGym(slug, emails[0], emails[1], member_id, membership_id, next_billing)
    finally:
        with django_db_blocker.unblock():
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            gym = Gym.objects.get(slug=slug)
            Domain.objects.filter(tenant=gym).delete()
            gym.delete(force_drop=True)
            User.objects.filter(email__in=emails).delete()
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            assert not Gym.objects.filter(slug=slug).exists()


def _log_in(browser: Browser, server: LiveServer, gym: BrowserGym, email: str, bad: list[str]) -> Page:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    context.set_default_timeout(ASSERT_TIMEOUT_MS)
    page = context.new_page()

    def note(response: Response) -> None:
        if response.status >= 400:
            bad.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", note)
    page.goto(f"{server.gym_url(gym.slug)}/accounts/login/", timeout=FIRST_NAVIGATION_TIMEOUT_MS)
    form = page.locator("form[action$='/accounts/login/']")
    form.locator("input[name='login']").fill(email)
    form.locator("input[name='password']").fill(TEST_PASSWORD)
    form.locator("button[type='submit']").click()
    page.wait_for_url(f"{server.gym_url(gym.slug)}/")
    return page


def d(day: datetime.date) -> str:
    return f"{day.day} {day:%b %Y}"


def test_receptionist_finds_a_member_and_owner_freezes_their_membership(
    uvicorn_server: LiveServer,  # noqa: F811
    browser_gym: BrowserGym,
) -> None:
    server, gym = uvicorn_server, browser_gym
    base = server.gym_url(gym.slug)
    bad: list[str] = []
    SCREENS.mkdir(exist_ok=True)
    today = datetime.datetime.now(zoneinfo.ZoneInfo(TIMEZONE)).date()

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                # 1. The receptionist searches as they type and opens the member.
                desk = _log_in(browser, server, gym, gym.desk_email, bad)
                desk.get_by_role("link", name="Members", exact=True).click()
                desk.wait_for_url(f"{base}/members/")
                rows = desk.locator("table.members tbody tr")
                expect(rows).to_have_count(29)
                desk.get_by_label("Search").press_sequentially("nomvu", delay=40)
                expect(rows).to_have_count(1)
                desk.wait_for_url(re.compile(r"/members/\?q=nomvu"))  # hx-push-url
                desk.get_by_role("link", name="Nomvula Dlamini").click()
                desk.wait_for_url(f"{base}/members/{gym.member_id}/")
                expect(desk.get_by_role("heading", level=1)).to_have_text("Nomvula Dlamini")
                expect(desk.locator("main")).to_contain_text("nomvula@example.test")
                expect(desk.locator("main")).not_to_contain_text("Asthma")  # no medical notes at the desk
                desk.context.close()

                # 2. The owner freezes the membership for two weeks and sees the new dates.
                owner = _log_in(browser, server, gym, gym.owner_email, bad)
                owner.goto(f"{base}/members/")
                owner.screenshot(path=str(SCREENS / "members.png"), full_page=True)
                owner.goto(f"{base}/members/{gym.member_id}/")
                expect(owner.locator("main")).to_contain_text("Asthma")  # the owner does see them
                owner.screenshot(path=str(SCREENS / "member-profile.png"), full_page=True)
                owner.get_by_role("link", name="Membership history").click()
                owner.wait_for_url(f"{base}/members/{gym.member_id}/?tab=memberships")  # htmx tab, URL pushed
                card = owner.locator(f"#membership-{gym.membership_id}")
                expect(card.locator(".next-billing")).to_have_text(d(gym.next_billing))
                card.get_by_role("link", name="Freeze").click()
                panel = owner.locator("#action-panel")
                expect(panel.get_by_role("heading", name="Freeze membership")).to_be_visible()
                panel.get_by_label("Frozen from").fill(today.isoformat())
                panel.get_by_label("Frozen to").fill((today + datetime.timedelta(days=13)).isoformat())
                panel.get_by_label("Reason").fill("Knee surgery")
                owner.screenshot(path=str(SCREENS / "member-freeze-form.png"), full_page=True)
                panel.get_by_role("button", name="Freeze").click()

                new_billing = gym.next_billing + datetime.timedelta(days=14)
                owner.wait_for_url(re.compile(rf"/members/{gym.member_id}/\?tab=memberships"))
                expect(owner.locator(".messages")).to_contain_text(
                    f"Frozen from {d(today)} to {d(today + datetime.timedelta(days=13))} (14 days)"
                )
                expect(owner.locator(".messages")).to_contain_text(f"New next billing date: {d(new_billing)}")
                card = owner.locator(f"#membership-{gym.membership_id}")
                expect(card.locator(".next-billing")).to_have_text(d(new_billing))
                expect(card.locator(".pill").first).to_have_text("Frozen")
                expect(card).to_contain_text("Knee surgery")
                owner.screenshot(path=str(SCREENS / "member-history.png"), full_page=True)

                owner.goto(f"{base}/plans/")
                expect(owner.get_by_role("heading", level=1)).to_have_text("Plans")
                owner.screenshot(path=str(SCREENS / "plans.png"), full_page=True)
                owner.goto(f"{base}/plans/new/")
                owner.screenshot(path=str(SCREENS / "plan-form.png"), full_page=True)
                owner.goto(f"{base}/members/{gym.member_id}/edit/")
                owner.screenshot(path=str(SCREENS / "member-form.png"), full_page=True)
                owner.context.close()
            finally:
                browser.close()
    except Exception:
        print(f"--- uvicorn log tail ---\n{server.log_tail()}")
        raise

    assert not bad, f"the browser saw failed requests: {bad}"
