"""A real browser at the front desk: a receptionist has the desk open in two windows
(two logged-in browser contexts), plus a third desk whose websocket cannot connect and
so falls back to polling. A member's rotating QR is typed into the scan box of the
first, as a USB scanner does, then Enter. The first desk shows the green panel with
the member's name; the second desk's occupancy counter and feed go up with no reload
(the websocket `/ws/check-ins/`); the third catches up at its next poll. A frozen
member typed by name is red, "Membership frozen". The second desk checks the first
member out from its live feed, and the first desk's counter goes back down. Last, a
printed QR card is issued from the member's page and shown in its print layout. The
keyboard shortcuts ("/", arrows, Esc) and the focus returning to the scan box are
checked on the way.

Same set-up as `apps/classes/tests/test_browser_timetable.py`: the app runs as a
`uvicorn` subprocess (HTTP and websockets) on the test database and Redis, so the rows
it reads are committed, in a gym created for this module and dropped afterwards, schema
and all. Screenshots of the desk go to `/tmp/fitflow-screens/`.

Run alone with `pytest -m browser apps/checkins`.
"""

from __future__ import annotations

import datetime
import re
import secrets
import zoneinfo
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django_tenants.utils import tenant_context
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

from apps.accounts.models import User
from apps.accounts.tests.factories import TEST_PASSWORD, UserFactory
from apps.checkins.models import CheckIn, MemberCard
from apps.checkins.qr import member_rotating_qr_token
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
from apps.memberships.services import membership_assign, membership_freeze
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.staff.services import staff_role_assign
from apps.tenants.models import Domain, Gym
from apps.tenants.services import gym_provision

# `django_db` makes pytest-django set up the test database even when this module runs
# alone (it only does so for sessions holding a db-marked test). The test's own
# transaction only reads: what it checks was committed by the server and the fixture.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

SCREENS = Path("/tmp/fitflow-screens")
TIMEZONE = "Europe/London"
POLL_WAIT_MS = 25_000
"""The desk polls every 15 s while its socket is down: wait a poll and some slack."""


@dataclass
class DeskGym:
    slug: str
    desk_email: str
    regular_id: int
    frozen_id: int


def _seed() -> tuple[int, int]:
    """A dozen members on a monthly plan, one of them frozen from today."""
    today = datetime.datetime.now(zoneinfo.ZoneInfo(TIMEZONE)).date()
    plan = PlanFactory(name="Monthly unlimited", class_credits=None)
    names = [
        ("Ayanda", "Mokoena"),
        ("Ben", "Carter"),
        ("Chloe", "Dubois"),
        ("Dev", "Patel"),
        ("Emma", "Walsh"),
        ("Farah", "Haddad"),
        ("Frieda", "Frost"),
        ("Gus", "Okafor"),
    ]
    members = {}
    for first, last in names:
        member = MemberFactory(first_name=first, last_name=last, email=f"{first.lower()}@example.test")
        members[first] = (
            member,
            membership_assign(member=member, plan=plan, start_date=today - datetime.timedelta(days=10)),
        )
    frozen_member, frozen = members["Frieda"]
    membership_freeze(
        membership=frozen,
        start_date=today,
        end_date=today + datetime.timedelta(days=14),
        today=today,
        reason="Travelling",
    )
    return members["Ayanda"][0].pk, frozen_member.pk


@pytest.fixture(scope="module")
def desk_gym(uvicorn_server: LiveServer, django_db_blocker) -> Iterator[DeskGym]:  # noqa: F811
    """A gym of its own with a receptionist and seeded members (committed rows);
    dropped with its schema, and the user deleted, afterwards."""
    slug = f"pw-d-{secrets.token_hex(3)}"
    email = f"desk-{slug}@fitflow.test"
    with django_db_blocker.unblock():
        gym = gym_provision(
            name="Riverside Fitness",
            slug=slug,
            timezone=TIMEZONE,
            currency="GBP",
            country="GB",
            status=Gym.Status.ACTIVE,
        )
        desk = UserFactory(email=email, first_name="Dev", last_name="Desk")
        with tenant_context(gym):
            staff_role_assign(user=desk, role=Role.RECEPTIONIST)
            regular_id, frozen_id = _seed()
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    try:
        yield DeskGym(slug, email, regular_id, frozen_id)
    finally:
        with django_db_blocker.unblock():
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            gym = Gym.objects.get(slug=slug)
            Domain.objects.filter(tenant=gym).delete()
            gym.delete(force_drop=True)
            # The browsers' logins through the server are committed sessions too.
            user_ids = {str(pk) for pk in User.objects.filter(email=email).values_list("pk", flat=True)}
            Session.objects.filter(
                pk__in=[s.pk for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") in user_ids]
            ).delete()
            User.objects.filter(email=email).delete()
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            assert not Gym.objects.filter(slug=slug).exists()
            assert not User.objects.filter(email=email).exists()


def _open_desk(
    browser: Browser, server: LiveServer, gym: DeskGym, bad: list[str], *, socket_down: bool = False
) -> Page:
    """A new browser context: log in as the receptionist and open the desk, with its
    websocket connected (or, with `socket_down`, every attempt to open it closed at
    once, as when Redis or the ASGI server is down)."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    context.set_default_timeout(ASSERT_TIMEOUT_MS)
    page = context.new_page()
    if socket_down:
        page.route_web_socket(re.compile(r"/ws/check-ins/$"), lambda ws: ws.close())

    def note(response: Response) -> None:
        if response.status >= 400:
            bad.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", note)
    page.on("pageerror", lambda exc: bad.append(f"page error: {exc}"))
    base = server.gym_url(gym.slug)
    page.goto(f"{base}/accounts/login/", timeout=FIRST_NAVIGATION_TIMEOUT_MS)
    form = page.locator("form[action$='/accounts/login/']")
    form.locator("input[name='login']").fill(gym.desk_email)
    form.locator("input[name='password']").fill(TEST_PASSWORD)
    form.locator("button[type='submit']").click()
    page.wait_for_url(f"{base}/")
    page.get_by_role("link", name="Check-in", exact=True).click()
    page.wait_for_url(f"{base}/check-in/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Check-in")
    expect(page.locator("#desk-live-status")).to_have_attribute("data-state", "down" if socket_down else "live")
    return page


def _rotating_token(gym: DeskGym) -> str:
    """The member app's QR of the regular member, fresh now (valid 60 s). Made on a
    worker thread: Playwright's sync API runs an event loop on this one, where Django
    refuses database calls."""

    def make() -> str:
        try:
            with tenant_context(Gym.objects.get(slug=gym.slug)):
                return member_rotating_qr_token(member=Member.objects.get(pk=gym.regular_id))
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(make).result()


def test_scan_on_one_desk_updates_the_other_live(
    uvicorn_server: LiveServer,  # noqa: F811
    desk_gym: DeskGym,
    django_db_blocker,
) -> None:
    server, gym = uvicorn_server, desk_gym
    bad: list[str] = []
    SCREENS.mkdir(exist_ok=True)

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                desk1 = _open_desk(browser, server, gym, bad)
                desk2 = _open_desk(browser, server, gym, bad)
                offline = _open_desk(browser, server, gym, bad, socket_down=True)
                expect(offline.locator("#desk-live-status")).to_contain_text("refreshing every 15 s")
                for desk in (desk1, desk2, offline):
                    expect(desk.locator("[data-occupancy] [data-count]")).to_have_text("0")
                    expect(desk.locator(".desk-idle")).to_be_visible()

                # 1. A scanner types the member's rotating QR into desk 1, then Enter.
                box = desk1.locator("#desk-q")
                expect(box).to_be_focused()
                with django_db_blocker.unblock():
                    token = _rotating_token(gym)
                desk1.keyboard.type(token)
                desk1.keyboard.press("Enter")

                green = desk1.locator("#desk-result .desk-panel.tone-green")
                expect(green).to_contain_text("Checked in")
                expect(green.locator(".panel-name")).to_have_text("Ayanda Mokoena")
                expect(green).to_contain_text("Monthly unlimited")
                expect(box).to_be_focused()
                expect(box).to_have_value("")
                desk1.screenshot(path=str(SCREENS / "desk-green.png"), full_page=True)

                # 2. Desk 2 hears it over the websocket: counter and feed, no reload.
                expect(desk2.locator("[data-occupancy] [data-count]")).to_have_text("1")
                row = desk2.locator("#desk-feed .feed-row", has_text="Ayanda Mokoena")
                expect(row).to_have_count(1)
                expect(row).to_contain_text("Monthly unlimited")
                expect(row).to_contain_text("Member app QR")
                expect(desk2.locator(".desk-idle")).to_be_visible()  # its own panel is untouched
                # A desk whose socket is down catches up at its next poll (every 15 s).
                expect(offline.locator("[data-occupancy] [data-count]")).to_have_text("1", timeout=POLL_WAIT_MS)
                expect(offline.locator("#desk-feed .feed-row", has_text="Ayanda Mokoena")).to_have_count(1)
                offline.context.close()
                desk2.screenshot(path=str(SCREENS / "desk-live-feed.png"), full_page=True)

                # The camera button on a machine with no camera says so plainly.
                desk2.get_by_role("button", name="Camera").click()
                expect(desk2.locator("#desk-camera-msg")).to_have_text(
                    re.compile(r"refused|No camera|in use|could not start|https")
                )
                desk2.get_by_role("button", name="Close camera").click()
                expect(desk2.locator("#desk-camera")).to_be_hidden()
                expect(desk2.locator("#desk-q")).to_be_focused()

                # 3. A frozen member, typed by name: red, "Membership frozen".
                # (desk 1's green panel has cleared itself meanwhile, without Esc)
                expect(desk1.locator("#desk-result .desk-idle")).to_be_visible()
                desk1.locator("h1").click()  # focus on nothing interactive ...
                desk1.keyboard.press("/")  # ... "/" brings it back to the scan box
                expect(box).to_be_focused()
                desk1.get_by_role("button", name="Sound on").focus()  # focus on a button ...
                desk1.keyboard.type("Frieda Fr", delay=30)  # ... typing still lands in the box
                expect(box).to_be_focused()
                expect(box).to_have_value("Frieda Fr")
                pick = desk1.get_by_role("button", name="Check in Frieda Frost")
                expect(pick).to_be_visible()  # the live search, as she types
                box.press("ArrowDown")  # arrow keys move between the matches and the box
                expect(pick).to_be_focused()
                desk1.keyboard.press("ArrowUp")
                expect(box).to_be_focused()
                box.press("Enter")
                red = desk1.locator("#desk-result .desk-panel.tone-red")
                expect(red).to_contain_text("Membership frozen")
                expect(red.locator(".panel-name")).to_have_text("Frieda Frost")
                expect(red).to_contain_text("The membership is frozen")
                expect(red).not_to_contain_text("Override")  # a receptionist cannot override
                expect(box).to_be_focused()
                desk1.screenshot(path=str(SCREENS / "desk-red.png"), full_page=True)
                desk1.keyboard.press("Escape")
                expect(desk1.locator(".desk-idle")).to_be_visible()
                expect(box).to_be_focused()

                # 4. Desk 2 checks Ayanda out from its live feed (a row the socket built);
                # desk 1's counter drops, again without a reload.
                row.get_by_role("button", name="Check out Ayanda Mokoena").click()
                expect(desk2.locator("#desk-result .desk-panel")).to_contain_text("Checked out")
                expect(desk1.locator("[data-occupancy] [data-count]")).to_have_text("0")
                expect(desk1.locator("#desk-feed .feed-row", has_text="Ayanda Mokoena")).to_contain_text("Left ")
                expect(desk2.locator("[data-occupancy] [data-count]")).to_have_text("0")
                desk2.set_viewport_size({"width": 768, "height": 1024})
                desk2.screenshot(path=str(SCREENS / "desk-768.png"), full_page=True)

                # 5. A printed card from the member's page: issue, then the print layout.
                base = server.gym_url(gym.slug)
                desk1.goto(f"{base}/members/{gym.regular_id}/")
                desk1.get_by_role("link", name="QR card").click()
                desk1.wait_for_url(f"{base}/check-in/members/{gym.regular_id}/card/")
                desk1.get_by_role("button", name="Issue a card").click()
                expect(desk1.locator(".messages")).to_contain_text("A new QR card was issued to Ayanda Mokoena.")
                card = desk1.locator("article.member-card")
                expect(card).to_contain_text("Riverside Fitness")
                expect(card).to_contain_text("Ayanda Mokoena")
                expect(card.get_by_role("img", name="Check-in QR code of Ayanda Mokoena")).to_be_visible()
                desk1.emulate_media(media="print")
                expect(desk1.locator("aside.sidebar")).to_be_hidden()
                desk1.screenshot(path=str(SCREENS / "member-card-print.png"))
                desk1.context.close()
                desk2.context.close()
            finally:
                browser.close()
    except Exception:
        print(f"--- uvicorn log tail ---\n{server.log_tail()}")
        raise

    assert not bad, f"the browser saw failed requests or page errors: {bad}"
    with django_db_blocker.unblock(), tenant_context(Gym.objects.get(slug=gym.slug)):
        visits = list(CheckIn.objects.values_list("member_id", "method", "check_out_kind"))
        assert visits == [(gym.regular_id, "member_qr", "manual")]
        assert list(MemberCard.objects.values_list("member_id", "revoked_at")) == [(gym.regular_id, None)]
    connection.set_schema_to_public()  # type: ignore[attr-defined]
