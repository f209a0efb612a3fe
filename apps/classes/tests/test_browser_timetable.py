"""A real browser on the schedule pages: an owner creates a class and its weekly
recurring schedule through the class pages (with the htmx date preview) and sees it on
the timetable; a receptionist books a member into a full class's waitlist from the
session roster and marks attendance with one click.

Same set-up as `apps/members/tests/test_browser_members.py`: the app runs as a
`uvicorn` subprocess on the test database, so the rows it reads are committed, in a gym
created for this module and dropped afterwards, schema and all. Screenshots of the
timetable (desktop, 1024x768 and 768 wide), the schedule preview and the roster go to
`/tmp/fitflow-screens/`.

Run alone with `pytest -m browser apps/classes`.
"""

from __future__ import annotations

import datetime
import re
import secrets
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Browser, Page, Response, expect, sync_playwright

from apps.accounts.models import User
from apps.accounts.tests.factories import TEST_PASSWORD, UserFactory
from apps.bookings.services import booking_create
from apps.classes.models import ClassSession, GymClass
from apps.classes.services import class_create, schedule_create, session_create
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
from apps.memberships.services import membership_assign
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.staff.services import staff_role_assign
from apps.tenants.models import Domain, Gym
from apps.tenants.services import gym_provision

pytestmark = pytest.mark.browser

SCREENS = Path("/tmp/fitflow-screens")
TIMEZONE = "Europe/London"
ZONE = zoneinfo.ZoneInfo(TIMEZONE)


@dataclass
class BrowserGym:
    slug: str
    owner_email: str
    desk_email: str
    full_session_id: int
    soon_session_id: int
    tomorrow: datetime.date


def _seed(trainers: list[User]) -> tuple[int, int, datetime.date]:
    """A week of classes (about 30 sessions), members on an unlimited plan, a full
    class tomorrow evening and a class starting in a quarter of an hour."""
    now = datetime.datetime.now(ZONE)
    today = now.date()
    monday = today - datetime.timedelta(days=today.weekday())
    plan = PlanFactory(name="Monthly unlimited", class_credits=None)
    members = []
    for first, last in [
        ("Ayanda", "Mokoena"),
        ("Ben", "Carter"),
        ("Chloe", "Dubois"),
        ("Dev", "Patel"),
        ("Emma", "Walsh"),
        ("Nomvula", "Dlamini"),
    ]:
        member = MemberFactory(first_name=first, last_name=last, email=f"{first.lower()}@example.test")
        membership_assign(member=member, plan=plan, start_date=today - datetime.timedelta(days=10))
        members.append(member)
    timetable = [
        ("Vinyasa Flow", GymClass.Type.YOGA, "#7c3aed", 60, 16, [0, 2, 4], datetime.time(7, 0), trainers[0]),
        ("HIIT Express", GymClass.Type.HIIT, "#dc2626", 30, 20, [0, 1, 2, 3, 4], datetime.time(12, 15), trainers[1]),
        ("Reformer Pilates", GymClass.Type.PILATES, "#db2777", 50, 8, [1, 3], datetime.time(9, 30), trainers[2]),
        ("Power Cycle", GymClass.Type.CYCLING, "#2563eb", 45, 24, [0, 2, 4, 5], datetime.time(18, 0), trainers[1]),
        ("Strength Club", GymClass.Type.STRENGTH, "#ea580c", 60, 12, [1, 3, 6], datetime.time(17, 30), trainers[0]),
        ("Salsa Fit", GymClass.Type.DANCE, "#0d9488", 55, 30, [5], datetime.time(10, 0), trainers[2]),
    ]
    for name, kind, colour, minutes, capacity, weekdays, at, teacher in timetable:
        gym_class = class_create(
            name=name,
            type=kind,
            colour=colour,
            duration_minutes=minutes,
            capacity=capacity,
            default_instructor=teacher,
            location="Studio 1",
        )
        schedule_create(
            gym_class=gym_class,
            frequency="weekly",
            interval=1,
            weekdays=weekdays,
            start_date=monday,
            start_time=at,
            count=len(weekdays) * 2,
        )
    tomorrow = today + datetime.timedelta(days=1)
    full_class = class_create(name="Full House HIIT", type=GymClass.Type.HIIT, colour="#f59e0b", capacity=2)
    full = session_create(
        gym_class=full_class, starts_at=datetime.datetime.combine(tomorrow, datetime.time(19, 0), tzinfo=ZONE)
    )
    booking_create(member=members[0], session=full)
    booking_create(member=members[1], session=full)
    booking_create(member=members[2], session=full, join_waitlist=True)
    soon_class = class_create(name="Lunch Spin", type=GymClass.Type.CYCLING, colour="#0891b2", capacity=10)
    start = (timezone.now() + datetime.timedelta(minutes=15)).replace(second=0, microsecond=0)
    soon = session_create(gym_class=soon_class, starts_at=start)
    booking_create(member=members[3], session=soon)
    booking_create(member=members[4], session=soon)
    return full.pk, soon.pk, tomorrow


@pytest.fixture(scope="module")
def browser_gym(uvicorn_server: LiveServer, django_db_blocker) -> Iterator[BrowserGym]:  # noqa: F811
    """A gym of its own with an owner, a receptionist, two trainers and a seeded week
    (committed rows); dropped with its schema, and the users deleted, afterwards."""
    slug = f"pw-t-{secrets.token_hex(3)}"
    emails = [f"{who}-{slug}@fitflow.test" for who in ("owner", "desk", "sam", "priya")]
    with django_db_blocker.unblock():
        gym = gym_provision(
            name="Riverside Fitness",
            slug=slug,
            timezone=TIMEZONE,
            currency="GBP",
            country="GB",
            status=Gym.Status.ACTIVE,
        )
        owner = UserFactory(email=emails[0], first_name="Olivia", last_name="Owens")
        desk = UserFactory(email=emails[1], first_name="Dev", last_name="Desk")
        sam = UserFactory(email=emails[2], first_name="Sam", last_name="Okafor")
        priya = UserFactory(email=emails[3], first_name="Priya", last_name="Shah")
        with tenant_context(gym):
            staff_role_assign(user=owner, role=Role.OWNER)
            staff_role_assign(user=desk, role=Role.RECEPTIONIST)
            staff_role_assign(user=sam, role=Role.TRAINER)
            staff_role_assign(user=priya, role=Role.TRAINER)
            full_id, soon_id, tomorrow = _seed([sam, priya, owner])
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    try:
        yield BrowserGym(slug, emails[0], emails[1], full_id, soon_id, tomorrow)
    finally:
        with django_db_blocker.unblock():
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            gym = Gym.objects.get(slug=slug)
            Domain.objects.filter(tenant=gym).delete()
            gym.delete(force_drop=True)
            User.objects.filter(email__in=emails).delete()
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            assert not Gym.objects.filter(slug=slug).exists()
            assert not User.objects.filter(email__in=emails).exists()


def _log_in(browser: Browser, server: LiveServer, gym: BrowserGym, email: str, bad: list[str]) -> Page:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    context.set_default_timeout(ASSERT_TIMEOUT_MS)
    page = context.new_page()

    def note(response: Response) -> None:
        # The schedule form's live preview answers 400 while the rule is still incomplete.
        if response.status >= 400 and not (response.status == 400 and "/schedule/classes/" in response.url):
            bad.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", note)
    page.goto(f"{server.gym_url(gym.slug)}/accounts/login/", timeout=FIRST_NAVIGATION_TIMEOUT_MS)
    form = page.locator("form[action$='/accounts/login/']")
    form.locator("input[name='login']").fill(email)
    form.locator("input[name='password']").fill(TEST_PASSWORD)
    form.locator("button[type='submit']").click()
    page.wait_for_url(f"{server.gym_url(gym.slug)}/")
    return page


def test_owner_schedules_a_weekly_class_and_receptionist_books_a_full_class_waitlist(
    uvicorn_server: LiveServer,  # noqa: F811
    browser_gym: BrowserGym,
    django_db_blocker,
) -> None:
    server, gym = uvicorn_server, browser_gym
    base = server.gym_url(gym.slug)
    bad: list[str] = []
    SCREENS.mkdir(exist_ok=True)
    first_day = gym.tomorrow
    second_day = gym.tomorrow + datetime.timedelta(days=1)
    weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                # 1. The owner creates a class through the class pages ...
                owner = _log_in(browser, server, gym, gym.owner_email, bad)
                owner.get_by_role("link", name="Schedule", exact=True).click()
                owner.wait_for_url(f"{base}/schedule/")
                owner.get_by_role("link", name="Classes", exact=True).click()
                owner.wait_for_url(f"{base}/schedule/classes/")
                owner.get_by_role("link", name="New class").click()
                owner.get_by_label("Name").fill("Morning Mobility")
                owner.get_by_label("Type").select_option("yoga")
                owner.get_by_label("Duration (minutes)").fill("45")
                owner.get_by_label("Capacity").fill("12")
                owner.get_by_label("Colour").fill("#16a34a")
                owner.get_by_label("Default instructor").select_option(label="Sam Okafor")
                owner.get_by_label("Location or room").fill("Studio 2")
                owner.get_by_label("Monthly unlimited").check()
                owner.screenshot(path=str(SCREENS / "class-form.png"), full_page=True)
                owner.get_by_role("button", name="Create class").click()
                owner.wait_for_url(re.compile(r"/schedule/classes/\d+/schedule/$"))
                expect(owner.locator(".messages")).to_contain_text("Class “Morning Mobility” created.")

                # 2. ... then its weekly schedule: the preview lists the local dates first.
                owner.get_by_label("Or number of sessions").fill("4")
                owner.get_by_label("First date").fill(first_day.isoformat())
                owner.get_by_label("Start time (gym time)").fill("07:15")
                owner.get_by_label(weekday[first_day.weekday()], exact=True).check()
                owner.get_by_label(weekday[second_day.weekday()], exact=True).check()
                owner.get_by_role("button", name="Preview dates").click()
                preview = owner.locator("#schedule-preview")
                expect(preview.locator(".preview-dates li")).to_have_count(4)
                expect(preview.locator(".preview-dates li").first).to_contain_text(
                    f"{first_day:%a} {first_day.day} {first_day:%b %Y} 07:15"
                )
                assert owner.url.endswith("/schedule/")  # htmx: no navigation yet
                # Changing the rule refreshes the preview (htmx on change).
                owner.get_by_label("Or number of sessions").fill("6")
                owner.get_by_label("Or number of sessions").press("Tab")
                expect(preview.get_by_role("button", name="Create 6 sessions")).to_be_visible()
                expect(preview.locator(".preview-dates li")).to_have_count(6)
                owner.screenshot(path=str(SCREENS / "schedule-preview.png"), full_page=True)
                preview.get_by_role("button", name="Create 6 sessions").click()

                # 3. The timetable opens on the first new session's week, showing it.
                owner.wait_for_url(re.compile(r"/schedule/\?week=\d{4}-\d\d-\d\d$"))
                expect(owner.locator(".messages")).to_contain_text("Created 6 sessions of Morning Mobility")
                block = owner.locator("a.tt-session", has_text="Morning Mobility").first
                expect(block).to_contain_text("07:15\N{EN DASH}08:00")
                expect(block).to_contain_text("Sam Okafor")
                expect(block).to_contain_text("0/12")
                # The first day of the week holding it (the second day may share the week).
                day = owner.locator("section.tt-day").filter(has=block).first
                expect(day).to_have_attribute("aria-label", re.compile(f"{first_day:%A} {first_day.day} "))
                owner.context.close()

                # 4. The receptionist opens the full class from the timetable ...
                desk = _log_in(browser, server, gym, gym.desk_email, bad)
                desk.goto(f"{base}/schedule/?week={gym.tomorrow.isoformat()}")
                full_block = desk.locator(f"a.tt-session[data-session='{gym.full_session_id}']")
                expect(full_block).to_contain_text("2/2")
                expect(full_block).to_contain_text("Full")
                expect(full_block).to_contain_text("+1 waiting")
                desk.screenshot(path=str(SCREENS / "timetable-desktop.png"), full_page=True)
                desk.set_viewport_size({"width": 1024, "height": 768})
                desk.screenshot(path=str(SCREENS / "timetable-1024.png"), full_page=True)
                desk.set_viewport_size({"width": 768, "height": 1024})
                desk.screenshot(path=str(SCREENS / "timetable-768.png"), full_page=True)
                desk.set_viewport_size({"width": 1360, "height": 900})
                # Week navigation swaps the week in place and pushes the URL.
                desk.get_by_role("link", name="Next week →").click()
                desk.wait_for_url(re.compile(r"/schedule/\?week="))
                expect(desk.locator(f"a.tt-session[data-session='{gym.full_session_id}']")).to_have_count(0)
                desk.get_by_role("link", name="← Previous week").click()
                full_block = desk.locator(f"a.tt-session[data-session='{gym.full_session_id}']")
                full_block.click()
                desk.wait_for_url(f"{base}/schedule/sessions/{gym.full_session_id}/")
                expect(desk.get_by_role("heading", level=1)).to_have_text("Full House HIIT")

                # 5. ... finds the member and puts them on the waitlist.
                desk.get_by_label("Find a member").press_sequentially("nomvu", delay=40)
                add = desk.get_by_role("button", name="Add Nomvula Dlamini to the waitlist")
                expect(add).to_be_visible()
                add.click()
                desk.wait_for_url(f"{base}/schedule/sessions/{gym.full_session_id}/")
                expect(desk.locator(".messages")).to_contain_text("Nomvula Dlamini is on the waitlist, position 2.")
                waitlist = desk.locator("section", has=desk.locator("#waitlist-title"))
                expect(waitlist.locator("tbody tr")).to_have_count(2)
                expect(waitlist.locator("tbody tr").nth(1)).to_contain_text("Nomvula Dlamini")
                expect(desk.locator("#waitlist-count")).to_have_text("2")
                desk.screenshot(path=str(SCREENS / "roster-full.png"), full_page=True)

                # 6. One-click attendance on a class about to start (htmx swaps the row).
                desk.goto(f"{base}/schedule/sessions/{gym.soon_session_id}/")
                row = desk.locator("tr.booking-row", has_text="Dev Patel")
                row.get_by_role("button", name="Attended").click()
                expect(desk.locator("tr.booking-row", has_text="Dev Patel").locator(".pill")).to_have_text("Attended")
                row = desk.locator("tr.booking-row", has_text="Emma Walsh")
                row.get_by_role("button", name="No-show").click()
                expect(desk.locator("tr.booking-row", has_text="Emma Walsh").locator(".pill")).to_have_text("No-show")
                desk.screenshot(path=str(SCREENS / "roster-attendance.png"), full_page=True)
                desk.set_viewport_size({"width": 768, "height": 1024})
                desk.screenshot(path=str(SCREENS / "roster-768.png"), full_page=True)
                desk.context.close()
            finally:
                browser.close()
    except Exception:
        print(f"--- uvicorn log tail ---\n{server.log_tail()}")
        raise

    assert not bad, f"the browser saw failed requests: {bad}"
    with django_db_blocker.unblock(), tenant_context(Gym.objects.get(slug=gym.slug)):
        created = list(ClassSession.objects.filter(gym_class__name="Morning Mobility"))
        assert len(created) == 6
        assert {s.starts_at.astimezone(ZONE).time() for s in created} == {datetime.time(7, 15)}
        connection.set_schema_to_public()  # type: ignore[attr-defined]
