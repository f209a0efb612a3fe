"""A day at the gym, end to end (issue 8): one new gym, Harbour Yoga, from signup to its
first billing run, against the real stack (`conftest.py`: uvicorn, Celery worker and
beat as `make run` starts them, PostgreSQL, Redis, a real SMTP server, the fake Stripe
delivering signed webhooks).

Who does what, and through which door:
- the owner, in headless Chromium (Playwright): signup, settings, Stripe Connect, the
  receptionist's invitation, plans, a weekly class, the CSV import, memberships, app
  invitations, the cash payment;
- the receptionist, in another Chromium context: the check-in desk; codes go in
  through its scan box as a USB scanner types them (the emailed QR image is checked to
  encode exactly the booking's code);
- members, as their phone app would, with `httpx` against `/api/v1/`: login, the
  schedule, bookings, the saved card, their QR;
- a second front desk: a `websockets` client on `/ws/check-ins/` with the
  receptionist's session cookie;
- time: the gym's billing hour is set to the current hour and beat's billing dispatch
  is made due now (a one-off entry in django-celery-beat's table, as an operator would
  in the admin); nothing in our code is mocked.
- another gym's owner and member try every URL and API call of the day against
  Harbour Yoga, and are refused every time.

Every step asserts what the people involved would see (pages, API answers, emails and
their attachments, the PDF's text) and, where it matters, what the database holds.
"""

from __future__ import annotations

import datetime
import io
import json
import math
import re
import subprocess
import tempfile
import threading
import time
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from icalendar import Calendar
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, FilePayload, Page, Route, expect, sync_playwright
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from .conftest import CHROMIUM
from .mailbox import Mail, Mailbox
from .stack import Stack
from .stripe_webhooks import DeliveringFakeStripe

# `django_db` only makes pytest-django build (or reuse) the test database, the source of
# the stack's migrated schemas; the scenario never uses the test process's connection.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db, pytest.mark.timeout(600)]

TZ = zoneinfo.ZoneInfo("Africa/Johannesburg")
SLUG = "harbour-yoga"
OWNER_EMAIL = "owner@harbouryoga.co.za"
OWNER_PASSWORD = "harbour-yoga-owner-passphrase"
MEMBER_PASSWORD = "my-phone-app-passphrase"
DESK_EMAIL = "desk@harbouryoga.co.za"
DESK_PASSWORD = "harbour-front-desk-passphrase"
NAV_MS = 30_000
ASSERT_MS = 15_000
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


# --- the cast ------------------------------------------------------------------------------------


@dataclass(eq=False)
class Person:
    """A member of the CSV, and what the scenario learns about them."""

    first: str
    last: str
    email: str
    phone: str
    dob: str
    member_id: int = 0
    api: httpx.Client | None = None

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


THANDI = Person("Thandi", "Nkosi", "thandi.nkosi@example.co.za", "082 555 0101", "05/03/1990")
PIETER = Person("Pieter", "van der Merwe", "pieter.vdm@example.co.za", "072 555 0103", "23/11/1985")
ZANELE = Person("Zanele", "Mokoena", "zanele.m@example.co.za", "083 555 0107", "14/07/1992")
AYESHA = Person("Ayesha", "Patel", "ayesha.patel@example.co.za", "084 555 0109", "01/02/1988")
CAST = [THANDI, PIETER, ZANELE, AYESHA]

FIRST_NAMES = ["Sipho", "Lindiwe", "Johan", "Naledi", "Kagiso", "Anele", "Ruan", "Palesa", "Themba", "Karabo"]
LAST_NAMES = ["Dlamini", "Botha", "Khumalo", "Naidoo", "Mahlangu", "Smith", "Ndlovu", "Pillay", "Jacobs", "Zulu"]


def vendor_csv() -> bytes:
    """50 members as another gym system exports them (its own column names, day-first
    dates, local phone numbers, a semicolon separator and a BOM): the cast first."""
    header = ["Member ID", "Given Name", "Surname", "E-mail Address", "Cell Phone", "DOB", "Member Since", "Sex",
              "Member Status", "Medical Conditions", "Emergency Contact", "Emergency Contact Number"]  # fmt: skip
    rows = [header]
    for i, p in enumerate(CAST, start=1):
        rows.append([f"HY{i:04d}", p.first, p.last, p.email, p.phone, p.dob, "12/01/2023", "F", "ACTIVE", "", "", ""])
    i = len(CAST)
    while len(rows) <= 50:
        i += 1
        first, last = FIRST_NAMES[i % 10], LAST_NAMES[(i * 7) % 10]
        rows.append([
            f"HY{i:04d}", first, last, f"{first.lower()}.{last.lower()}{i}@example.co.za", f"082 555 {i:04d}",
            f"{1 + i % 28:02d}/{1 + i % 12:02d}/19{70 + i % 30}", "03/04/2024", "M" if i % 2 else "F",
            "ACTIVE", "Knee injury" if i % 9 == 0 else "", f"{LAST_NAMES[i % 10]} family", "021 555 0100",
        ])  # fmt: skip
    text = "\r\n".join(";".join(row) for row in rows) + "\r\n"
    return "\ufeff".encode() + text.encode()


# --- small tools -----------------------------------------------------------------------------------


def local_now() -> datetime.datetime:
    return datetime.datetime.now(TZ)


def api_client(stack: Stack, slug: str, email: str, password: str) -> httpx.Client:
    """A member's phone app: logged in on the gym's API with a bearer token."""
    client = httpx.Client(base_url=f"{stack.gym_url(slug)}/api/v1/", timeout=30)
    response = client.post("auth/login/", json={"email": email, "password": password})
    assert response.status_code == 200, f"API login of {email}: {response.status_code} {response.text}"
    client.headers["Authorization"] = f"Bearer {response.json()['access']}"
    return client


def session_client(stack: Stack, slug: str, email: str, password: str) -> httpx.Client:
    """A browser-like HTTP client logged in on the gym's host through allauth's form
    (session and CSRF cookies)."""
    client = httpx.Client(base_url=stack.gym_url(slug), timeout=30, follow_redirects=False)
    client.get("/accounts/login/")
    response = client.post(
        "/accounts/login/",
        data={"login": email, "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
        headers={"Referer": f"{stack.gym_url(slug)}/accounts/login/"},
    )
    assert response.status_code == 302, f"page login of {email}: {response.status_code} {response.text[:500]}"
    return client


def set_password_from_invite(
    stack: Stack, mailbox: Mailbox, email: str, slug: str, *, subject: str = "app login", password: str = ""
) -> None:
    """The invited person (a member: "app login"; staff: "team") opens the invitation
    and chooses a password on the gym's site."""
    password = password or MEMBER_PASSWORD
    mail = mailbox.subject(email, subject)
    link = re.search(r"(http://\S+/accounts/password/reset/key/\S+/)", mail.text())
    assert link, f"no set-password link in the invitation:\n{mail.text()}"
    assert link.group(1).startswith(stack.gym_url(slug)), link.group(1)
    with httpx.Client(timeout=30, follow_redirects=True) as browser:
        page = browser.get(link.group(1))
        assert page.status_code == 200 and "password1" in page.text, page.text[:500]
        done = browser.post(
            str(page.url),
            data={
                "password1": password,
                "password2": password,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            headers={"Referer": str(page.url)},
        )
        assert done.status_code == 200 and "/accounts/password/reset/key/done/" in str(done.url), done.text[:500]


def booking_qr_text(png: bytes, *, schema: str, booking_id: int, since: float) -> str:
    """The text of the booking QR image `png`, found as the USB scanner would read it.

    The code is the booking's signed token (`apps.bookings.qr.booking_qr_token`:
    `{"g": schema, "b": id}` signed with a timestamp, the same SECRET_KEY in this process
    and the stack). Tokens for each second from `since` to now are drawn with the app's
    own QR maker (deterministic for a text); the one with exactly the image's pixels is
    the code. AssertionError when none matches (a wrong booking, gym or image)."""
    from django.core import signing

    from apps.bookings.qr import QR_SALT
    from apps.core.qrcodes import qr_png_bytes

    class AtSecond(signing.TimestampSigner):
        second = 0

        def timestamp(self) -> str:
            return signing.b62_encode(self.second)

    pixels = Image.open(io.BytesIO(png)).convert("1")
    signer = AtSecond(salt=QR_SALT)
    for second in range(int(since) - 2, int(time.time()) + 2):
        signer.second = second
        text = signer.sign_object({"g": schema, "b": booking_id}, compress=False)
        drawn = Image.open(io.BytesIO(qr_png_bytes(text))).convert("1")
        if drawn.size == pixels.size and drawn.tobytes() == pixels.tobytes():
            return text
    raise AssertionError("the QR image is not this booking's code")


def pdf_text(pdf: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(pdf)
        f.flush()
        return subprocess.run(["pdftotext", "-layout", f.name, "-"], capture_output=True, text=True, check=True).stdout


def wait_until(what: str, check: Any, *, timeout: float = 30, every: float = 0.25) -> Any:
    """Poll `check()` until it returns something truthy; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {value!r})")
        time.sleep(every)


def desk_answer(desk: Page, name: str, *, timeout: float = ASSERT_MS) -> tuple[str, str, str]:
    """The desk's result panel once it names `name`: (tone green/red, code, its text)."""
    panel = desk.locator("#desk-result .desk-panel")
    expect(panel).to_contain_text(name, timeout=timeout)
    return panel.get_attribute("data-tone") or "", panel.get_attribute("data-code") or "", panel.inner_text()


def hand_scan(desk: Page, token: str) -> None:
    """A USB scanner: it types the code into the scan box, then Enter."""
    desk.locator("#desk-q").fill(token)
    desk.locator("#desk-q").press("Enter")


class LiveDesk:
    """The second front desk: `/ws/check-ins/` with a staff session cookie, read in a
    background thread; `occupancy` is the latest count heard, with when it was heard."""

    def __init__(self, stack: Stack, slug: str, session: httpx.Client) -> None:
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        self.socket: ClientConnection = ws_connect(
            f"ws://{slug}.localhost:{stack.port}/ws/check-ins/",
            additional_headers={"Cookie": cookie, "Origin": stack.gym_url(slug)},
            open_timeout=10,
        )
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Condition()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        try:
            for raw in self.socket:
                with self._lock:
                    self.messages.append((time.monotonic(), json.loads(raw)))
                    self._lock.notify_all()
        except Exception:  # the socket closed at the end
            pass

    def occupancy(self) -> int | None:
        with self._lock:
            for _, message in reversed(self.messages):
                if "occupancy" in message:
                    occ = message["occupancy"] if isinstance(message["occupancy"], dict) else message
                    return int(occ["count"])
                if message.get("type") == "occupancy":
                    return int(message["count"])
        return None

    def wait_occupancy(self, count: int, *, since: float, timeout: float) -> float:
        """Seconds from `since` until a message with occupancy `count` arrived after it."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for at, message in self.messages:
                    occ = message.get("occupancy") if message.get("type") != "occupancy" else message
                    if at >= since and isinstance(occ, dict) and int(occ.get("count", -1)) == count:
                        return at - since
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the second desk did not hear occupancy {count}: {self.messages[-5:]}")
                self._lock.wait(left)

    def close(self) -> None:
        self.socket.close()


@dataclass
class Day:
    """What the scenario carries from step to step."""

    stack: Stack
    mailbox: Mailbox
    stripe: DeliveringFakeStripe
    browser: Browser
    owner: BrowserContext | None = None
    page: Page | None = None
    desk: Page | None = None
    plans: dict[str, int] = field(default_factory=dict)
    class_id: int = 0
    sessions: list[dict[str, Any]] = field(default_factory=list)
    bookings: dict[str, int] = field(default_factory=dict)
    invoices: dict[str, int] = field(default_factory=dict)
    thandi_qr: bytes = b""
    booked_at: float = 0.0
    api_calls: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)

    @property
    def gym(self) -> str:
        return self.stack.gym_url(SLUG)

    @property
    def schema(self) -> str:
        return "gym_" + SLUG.replace("-", "_")

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.stack.sql(query, params, schema=self.schema)

    def goto(self, path: str) -> Page:
        assert self.page is not None
        self.page.goto(self.gym + path)
        return self.page

    def api(self, person: Person, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """A call of `person`'s app, remembered for step 7."""
        assert person.api is not None
        self.api_calls.append((method, path, body))
        return person.api.request(method, path, json=body)


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def day(stack_log_on_failure: Stack, mailbox: Mailbox, stripe: DeliveringFakeStripe) -> Iterator[Day]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield Day(stack=stack_log_on_failure, mailbox=mailbox, stripe=stripe, browser=browser)
        finally:
            browser.close()


# --- the steps --------------------------------------------------------------------------------------


def step1_owner_opens_harbour_yoga(day: Day) -> None:
    """Signup, timezone and currency, country and desk policy, Stripe Connect, two plans,
    a weekly class, and 50 members imported from another system's CSV."""
    owner = day.browser.new_context(viewport={"width": 1280, "height": 900})
    owner.set_default_navigation_timeout(NAV_MS)
    owner.set_default_timeout(ASSERT_MS)
    page = owner.new_page()
    day.owner, day.page = owner, page
    bad: list[str] = []
    page.on("response", lambda r: bad.append(f"{r.status} {r.url}") if r.status >= 500 else None)

    # Signup on the public site.
    page.goto(f"{day.stack.public_url}/signup/", timeout=60_000)
    page.get_by_label("Gym name").fill("Harbour Yoga")
    page.get_by_label("Subdomain").fill(SLUG)
    page.get_by_label("Your email").fill(OWNER_EMAIL)
    page.get_by_label("Password").fill(OWNER_PASSWORD)
    page.get_by_label("Timezone").select_option("Africa/Johannesburg")
    page.get_by_label("Currency").select_option("ZAR")
    page.get_by_role("button", name="Create my gym").click()
    page.wait_for_url(f"{day.gym}/", timeout=60_000)
    expect(page.locator(".page-head")).to_contain_text("Harbour Yoga · Africa/Johannesburg · ZAR")
    assert day.stack.sql("SELECT timezone, currency FROM tenants_gym WHERE slug = %s", (SLUG,)) == [
        ("Africa/Johannesburg", "ZAR")
    ]

    # Settings: South Africa (local phone numbers in the CSV), no payment grace at the desk.
    day.goto("/settings/")
    page.get_by_label("Country").select_option(label="South Africa")
    page.get_by_label("Payment grace (days)").fill("0")
    page.get_by_label("Legal name").fill("Harbour Yoga (Pty) Ltd")
    page.get_by_label("Invoice prefix").fill("HY")
    # Billing runs late in the evening (the top of an hour during this scenario must not
    # bill before the members have saved their cards); step 5 moves it to now.
    page.get_by_label("Billing hour").fill("23")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    assert day.stack.sql(
        "SELECT country, payment_grace_days, billing_hour FROM tenants_gym WHERE slug = %s", (SLUG,)
    ) == [("ZA", 0, 23)]

    # Stripe Connect: Stripe's onboarding page is Stripe's; it sends the owner back.
    def stripe_onboarding(route: Route) -> None:
        link = next(r for r in reversed(day.stripe.requests) if r.path == "/v1/account_links")
        day.stripe.account_update(link.params["account"], charges_enabled=True, details_submitted=True)
        route.fulfill(status=302, headers={"Location": link.params["return_url"]})

    page.route("https://connect.stripe.com/**", stripe_onboarding)
    day.goto("/settings/")
    page.get_by_role("button", name="Connect Stripe").click()
    expect(page.get_by_text("Stripe is connected")).to_be_visible()
    account = day.stack.sql("SELECT stripe_account_id FROM tenants_gym WHERE slug = %s", (SLUG,))[0][0]
    assert account.startswith("acct_")

    # The front desk: a receptionist joins the team.
    day.goto("/team/")
    page.get_by_label("Email").fill(DESK_EMAIL)
    page.get_by_label("First name").fill("Lindiwe")
    page.get_by_label("Role").select_option("receptionist")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_text(f"{DESK_EMAIL} is on the team as Receptionist")).to_be_visible()

    # Two plans, VAT included at 15 %.
    for name, price, period in (("Unlimited Monthly", "650.00", "monthly"), ("Flow Weekly", "180.00", "weekly")):
        day.goto("/plans/new/")
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Kind").select_option("recurring")
        page.get_by_label("Price", exact=True).fill(price)
        page.get_by_label("Billing period").select_option(period)
        page.get_by_label("Tax rate (%)").fill("15")
        page.get_by_label("Price includes tax").check()
        page.get_by_role("button", name="Create plan").click()
        page.wait_for_url(f"{day.gym}/plans/")
        expect(page.locator("main")).to_contain_text(name)
    day.plans = dict(day.sql("SELECT name, id FROM plans_plan"))
    assert set(day.plans) == {"Unlimited Monthly", "Flow Weekly"}

    # A weekly class: today's session starts in about 40 minutes, and the next day's too.
    first = local_now() + datetime.timedelta(minutes=40)
    first = first.replace(minute=5 * math.ceil(first.minute / 5) % 60, second=0, microsecond=0) + datetime.timedelta(
        hours=1 if first.minute > 55 else 0
    )
    day.goto("/schedule/classes/new/")
    page.get_by_label("Name", exact=True).fill("Sunrise Flow")
    page.get_by_label("Capacity", exact=True).fill("2")
    page.get_by_label("Location or room").fill("Studio 1")
    page.get_by_role("button", name="Create class").click()
    page.wait_for_url(re.compile(r"/schedule/classes/\d+/schedule/$"))
    day.class_id = int(re.search(r"/classes/(\d+)/", page.url).group(1))  # type: ignore[union-attr]
    form = page.locator("#schedule-form")
    for weekday in (first.weekday(), (first.weekday() + 1) % 7):
        form.locator(f"input[name='weekdays'][value='{weekday}']").check()
    page.get_by_label("First date").fill(first.date().isoformat())
    page.get_by_label("Start time (gym time)").fill(first.strftime("%H:%M"))
    page.get_by_label("Or number of sessions").fill("4")
    page.get_by_role("button", name="Preview dates").click()
    expect(page.locator("#schedule-preview")).to_contain_text("4 sessions")
    page.get_by_role("button", name="Create 4 sessions").click()
    page.wait_for_url(re.compile(r"/schedule/\?week="))
    expect(page.get_by_text("Created 4 sessions of Sunrise Flow")).to_be_visible()
    rows = day.sql(
        "SELECT id, starts_at FROM classes_classsession WHERE gym_class_id = %s ORDER BY starts_at", (day.class_id,)
    )
    starts = [s.astimezone(TZ) for _, s in rows]
    assert starts[0] == first and starts[1] == first + datetime.timedelta(days=1), starts
    assert starts[2] == first + datetime.timedelta(days=7)

    # 50 members from the old system's export.
    day.goto("/members/import/")
    export = FilePayload(name="clubware-export.csv", mimeType="text/csv", buffer=vendor_csv())
    page.set_input_files("input[type=file]", files=[export])
    page.get_by_role("button", name="Preview import").click()
    expect(page.locator("#count-new")).to_have_text("50")
    expect(page.locator("#count-errors")).to_have_text("0")
    expect(page.locator("main")).to_contain_text("“E-mail Address” → email")
    page.get_by_role("button", name="Import 50 members").click()
    page.wait_for_url(re.compile(r"/members/"))
    imported = day.sql("SELECT email, id, phone, date_of_birth FROM members_member")
    assert len(imported) == 50
    by_email = {email: (pk, phone, dob) for email, pk, phone, dob in imported}
    for person in CAST:
        person.member_id, phone, _ = by_email[person.email]
        assert phone.startswith("+27"), phone
    assert by_email[THANDI.email][2] == datetime.date(1990, 3, 5)
    assert not bad, f"server errors: {bad}"


def step1b_memberships_and_invitations(day: Day) -> None:
    """The cast's contracts come over from the old system (started a period ago, so they
    renew today), Ayesha's is frozen, and the four get the app."""
    page = day.page
    assert page is not None
    today = local_now().date()
    contracts = {
        THANDI: ("Flow Weekly", today - datetime.timedelta(days=7)),
        PIETER: ("Flow Weekly", today - datetime.timedelta(days=7)),
        ZANELE: ("Flow Weekly", today - datetime.timedelta(days=7)),
        AYESHA: ("Unlimited Monthly", today - datetime.timedelta(days=10)),
    }
    for person, (plan, start) in contracts.items():
        day.goto(f"/members/{person.member_id}/")
        expect(page.get_by_role("heading", level=1)).to_contain_text(person.name)
        page.get_by_role("link", name="Assign plan").first.click()
        page.get_by_label("Plan").select_option(str(day.plans[plan]))
        page.get_by_label("Starts on").fill(start.isoformat())
        page.get_by_role("button", name="Assign plan").click()
        expect(page.locator("#member-tabs")).to_contain_text(plan)
        page.get_by_role("button", name="Invite to the app").click()
        expect(page.get_by_text("is invited to the app")).to_be_visible()
    rows = dict(day.sql("SELECT member_id, next_billing_date FROM memberships_membership WHERE status = 'active'"))
    assert rows[THANDI.member_id] == today and rows[PIETER.member_id] == today and rows[ZANELE.member_id] == today

    # Ayesha is travelling: frozen from today for two weeks.
    day.goto(f"/members/{AYESHA.member_id}/?tab=memberships")
    page.get_by_role("link", name="Freeze").first.click()
    page.get_by_label("Frozen from").fill(today.isoformat())
    page.get_by_label("Frozen to (last frozen day)").fill((today + datetime.timedelta(days=13)).isoformat())
    page.get_by_label("Reason").fill("Travelling")
    page.get_by_role("button", name="Freeze", exact=True).click()
    expect(page.locator("#member-tabs")).to_contain_text("Frozen")

    for person in CAST:
        set_password_from_invite(day.stack, day.mailbox, person.email, SLUG)
        person.api = api_client(day.stack, SLUG, person.email, MEMBER_PASSWORD)


def step2_thandi_books_from_her_phone(day: Day) -> None:
    """Thandi logs in through the API, browses the schedule, books today's class and
    tomorrow's, and receives the booking emails with the QR and the .ics."""
    me = day.api(THANDI, "GET", "me/")
    assert me.status_code == 200, me.text
    assert me.json()["member"]["id"] == THANDI.member_id and me.json()["membership"]["status"] == "active"
    schedule = day.api(THANDI, "GET", "schedule/")
    assert schedule.status_code == 200, schedule.text
    sessions = [s for s in schedule.json()["results"] if s["gym_class"]["name"] == "Sunrise Flow"]
    assert len(sessions) >= 2 and all(s["can_book"] for s in sessions[:2]), sessions
    assert sessions[0]["total_spots"] == 2
    day.sessions = sessions[:2]
    today_id, tomorrow_id = sessions[0]["id"], sessions[1]["id"]

    day.booked_at = time.time()
    for key, session_id in (("thandi_today", today_id), ("thandi_tomorrow", tomorrow_id)):
        booked = day.api(THANDI, "POST", "bookings/", {"session": session_id})
        assert booked.status_code == 201, booked.text
        assert booked.json()["status"] == "confirmed"
        day.bookings[key] = booked.json()["id"]

    def confirms_today(mail: Mail) -> bool:
        files = mail.attachments()
        ics = files.get("class.ics", ("", b""))[1].decode()
        return "check-in-qr.png" in files and f"booking-{day.bookings['thandi_today']}@" in ics

    mail = day.mailbox.wait_for(THANDI.email, confirms_today, what="booking confirmed (today)")
    assert "Sunrise Flow" in mail.subject, mail.subject
    ics = Calendar.from_ical(mail.attachments()["class.ics"][1])
    event = next(iter(ics.walk("VEVENT")))
    assert event.decoded("dtstart") == datetime.datetime.fromisoformat(sessions[0]["starts_at"])
    assert "Studio 1" in str(event.get("location"))
    content_type, png = mail.attachments()["check-in-qr.png"]
    assert content_type == "image/png" and Image.open(io.BytesIO(png)).format == "PNG"
    day.thandi_qr = png


def step3_full_class_waitlist_and_promotion(day: Day) -> None:
    """Pieter takes the last place of tomorrow's class, Zanele joins the waitlist;
    Thandi cancels outside the cancellation window and Zanele is promoted and told."""
    tomorrow_id = day.sessions[1]["id"]
    pieter = day.api(PIETER, "POST", "bookings/", {"session": tomorrow_id})
    assert pieter.status_code == 201 and pieter.json()["status"] == "confirmed", pieter.text
    day.bookings["pieter_tomorrow"] = pieter.json()["id"]
    full = day.api(ZANELE, "POST", "bookings/", {"session": tomorrow_id})
    assert full.status_code == 409, full.text
    zanele = day.api(ZANELE, "POST", "bookings/", {"session": tomorrow_id, "join_waitlist": True})
    assert zanele.status_code == 201, zanele.text
    assert (zanele.json()["status"], zanele.json()["waitlist_position"]) == ("waitlisted", 1)
    day.bookings["zanele_tomorrow"] = zanele.json()["id"]
    day.mailbox.subject(ZANELE.email, "waitlist")

    cancel = day.api(THANDI, "DELETE", f"bookings/{day.bookings['thandi_tomorrow']}/")
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["status"] == "cancelled", cancel.json()  # not late_cancelled: a day ahead
    promoted = day.api(ZANELE, "GET", f"bookings/{day.bookings['zanele_tomorrow']}/")
    assert promoted.json()["status"] == "confirmed", promoted.json()
    mail = day.mailbox.subject(ZANELE.email, "You're in: Sunrise Flow")
    assert "Sunrise Flow" in mail.text(), mail.text()
    day.mailbox.wait_for(THANDI.email, lambda m: "cancel" in m.subject.lower(), what="booking cancelled")
    status = dict(day.sql("SELECT id, status FROM bookings_booking WHERE session_id = %s", (tomorrow_id,)))
    assert status[day.bookings["thandi_tomorrow"]] == "cancelled"
    assert status[day.bookings["pieter_tomorrow"]] == status[day.bookings["zanele_tomorrow"]] == "confirmed"


def step4_front_desk(day: Day) -> LiveDesk:
    """The desk reads Thandi's emailed QR: green, her booking attended; the
    second desk (websocket) hears the occupancy rise within a second; Ayesha's app code
    is scanned with the hand scanner: red, membership frozen."""
    set_password_from_invite(
        day.stack, day.mailbox, DESK_EMAIL, SLUG, subject="Harbour Yoga team", password=DESK_PASSWORD
    )
    reception = day.browser.new_context(viewport={"width": 1280, "height": 900})
    reception.set_default_timeout(ASSERT_MS)
    desk = reception.new_page()
    desk.goto(f"{day.gym}/check-in/")
    desk.wait_for_url(re.compile(r"/accounts/login/"))
    desk.locator("input[name='login']").fill(DESK_EMAIL)
    desk.locator("input[name='password']").fill(DESK_PASSWORD)
    desk.locator("form[action$='/accounts/login/'] button[type='submit']").click()
    desk.wait_for_url(f"{day.gym}/check-in/")
    day.desk = desk
    expect(desk.locator("#desk-live-status")).to_have_attribute("data-state", "live")
    second = LiveDesk(day.stack, SLUG, session_client(day.stack, SLUG, DESK_EMAIL, DESK_PASSWORD))
    wait_until("the second desk's first occupancy", lambda: second.occupancy() is not None)
    before = second.occupancy()

    # Thandi shows the QR from her booking email; the scanner reads it into the desk.
    token = booking_qr_text(
        day.thandi_qr, schema=day.schema, booking_id=day.bookings["thandi_today"], since=day.booked_at
    )
    since = time.monotonic()
    hand_scan(desk, token)
    tone, _, text = desk_answer(desk, THANDI.name)
    shown = time.monotonic()
    assert tone == "green" and "Checked in" in text and "Sunrise Flow" in text, text
    # The second desk hears the new count no later than 1 s after the first desk shows
    # its answer (the broadcast goes out when the check-in commits, before the answer).
    heard = second.wait_occupancy((before or 0) + 1, since=since, timeout=10)
    assert since + heard <= shown + 1.0, f"the second desk heard it {since + heard - shown:.2f} s after the first"
    attended = day.sql("SELECT status FROM bookings_booking WHERE id = %s", (day.bookings["thandi_today"],))
    assert attended == [("attended",)], attended

    # Ayesha shows her app's code; the hand scanner types it into the scan box.
    qr = day.api(AYESHA, "GET", "me/qr/")
    assert qr.status_code == 200, qr.text
    hand_scan(desk, qr.json()["token"])
    tone, code, text = desk_answer(desk, AYESHA.name)
    assert (tone, code) == ("red", "membership_frozen") and "Membership frozen" in text, text
    assert day.sql("SELECT count(*) FROM checkins_checkin WHERE member_id = %s", (AYESHA.member_id,)) == [(0,)]
    return second


def step5_billing_hour(day: Day) -> None:
    """Thandi and Pieter save cards in the app (Pieter's will be declined). The owner
    sets the billing hour to now; beat dispatches the run; invoices are created and the
    cards charged; the webhooks arrive; Pieter goes past due, gets the update-card email
    and is refused at the desk (no grace days)."""
    for person, card in ((THANDI, "pm_card_visa"), (PIETER, "pm_card_chargeCustomerFail")):
        setup = day.api(person, "POST", "payments/setup-intent/", {})
        assert setup.status_code in (200, 201), setup.text
        seti = setup.json().get("setup_intent_id") or setup.json()["client_secret"].split("_secret_")[0]
        day.stripe.complete_setup_intent(seti, card)  # what Stripe.js does in the app
    day.stripe.wait_delivered("setup_intent.succeeded", count=2)
    wait_until(
        "both saved cards",
        lambda: day.sql("SELECT count(*) FROM invoices_stripecustomer WHERE payment_method_id <> ''")[0][0] == 2,
    )

    # The owner moves the daily billing run to the current hour...
    page = day.goto("/settings/")
    page.get_by_label("Billing hour").fill(str(local_now().hour))
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    # ... and that hour's dispatch is due now: beat's hourly entry runs at minute 0, so an
    # operator's one-off entry for the same task (django-celery-beat's table, which the
    # DatabaseScheduler re-reads when it changes) stands in for the top of the hour.
    due = datetime.datetime.now(datetime.UTC)
    clocked = day.stack.sql(
        "INSERT INTO django_celery_beat_clockedschedule (clocked_time) VALUES (%s) RETURNING id", (due,)
    )[0][0]
    day.stack.sql(
        "INSERT INTO django_celery_beat_periodictask (name, task, args, kwargs, queue, exchange, routing_key,"
        " expires, enabled, last_run_at, total_run_count, date_changed, description, one_off, start_time,"
        " priority, headers, clocked_id, expire_seconds) VALUES ('e2e: billing hour', "
        " 'apps.invoices.tasks.billing_run_dispatch_task', '[]', '{}', NULL, NULL, NULL, NULL, true, NULL, 0,"
        " now(), 'The top of the billing hour', true, NULL, NULL, '{}', %s, NULL)",
        (clocked,),
    )
    day.stack.sql("UPDATE django_celery_beat_periodictasks SET last_update = now() WHERE ident = 1")
    wait_until(
        "the billing run to complete",
        lambda: (
            day.stack.sql("SELECT billing_run_on FROM tenants_gym WHERE slug = %s", (SLUG,))[0][0] == local_now().date()
        ),
        timeout=60,
    )
    invoices = day.sql(
        "SELECT i.member_id, i.id, i.status, i.total, i.auto_collect FROM invoices_invoice i"
        " WHERE i.period_start = %s ORDER BY i.member_id",
        (local_now().date(),),
    )
    by_member = {row[0]: row[1:] for row in invoices}
    assert set(by_member) == {THANDI.member_id, PIETER.member_id, ZANELE.member_id}, invoices
    assert by_member[THANDI.member_id][1:] == ("paid", Decimal("180.00"), True)
    assert by_member[PIETER.member_id][1:] == ("open", Decimal("180.00"), True)
    assert by_member[ZANELE.member_id][1:] == ("open", Decimal("180.00"), False)
    day.invoices = {p.first: by_member[p.member_id][0] for p in (THANDI, PIETER, ZANELE)}

    day.stripe.wait_delivered("payment_intent.succeeded")
    day.stripe.wait_delivered("payment_intent.payment_failed")

    def applied() -> dict[str, list[str]]:
        rows = day.sql("SELECT type, outcome FROM invoices_stripeevent ORDER BY created, id")
        found: dict[str, list[str]] = {}
        for kind, outcome in rows:
            found.setdefault(kind, []).append(outcome)
        return found

    # The webhooks were routed to the gym and applied once each (the charge's own answer
    # had already recorded what they say, so they change nothing more).
    events = wait_until(
        "the webhooks applied in the gym",
        lambda: {"payment_intent.succeeded", "payment_intent.payment_failed"} <= set(found := applied()) and found,
    )
    assert events["setup_intent.succeeded"] == ["card_saved", "card_saved"], events
    assert len(events["payment_intent.succeeded"]) == 1 and len(events["payment_intent.payment_failed"]) == 1
    number = day.sql("SELECT number FROM invoices_invoice WHERE id = %s", (day.invoices["Thandi"],))[0][0]
    receipt = day.mailbox.wait_for(
        THANDI.email, lambda m: "payment" in m.subject.lower() and number in m.subject, what=f"receipt for {number}"
    )
    assert f"{number}.pdf" in receipt.attachments(), receipt.attachments().keys()
    assert "R180,00" in receipt.text(), receipt.text()
    failed = day.mailbox.wait_for(PIETER.email, lambda m: "/billing/card/" in m.text(), what="update your card")
    card_link = re.search(r"(http://\S+/billing/card/\S+/)", failed.text())
    assert card_link and card_link.group(1).startswith(day.gym), failed.text()
    # The link works: it opens Stripe Checkout to save a new card.
    to_checkout = httpx.get(card_link.group(1), timeout=30)
    assert to_checkout.status_code == 302, to_checkout.text[:500]
    assert to_checkout.headers["location"].startswith("https://checkout.stripe.com/"), to_checkout.headers
    zanele_number = day.sql("SELECT number FROM invoices_invoice WHERE id = %s", (day.invoices["Zanele"],))[0][0]
    issued = day.mailbox.subject(ZANELE.email, f"Invoice {zanele_number} from Harbour Yoga")
    assert f"{zanele_number}.pdf" in issued.attachments() and "/billing/pay/" in issued.text(), issued.text()
    status = day.sql("SELECT status, past_due_since FROM memberships_membership WHERE member_id = %s",
                     (PIETER.member_id,))  # fmt: skip
    assert status == [("past_due", local_now().date())], status
    me = day.api(PIETER, "GET", "me/").json()
    assert me["membership"]["status"] == "past_due", me

    # At the desk, no grace days: Pieter is refused.
    assert day.desk is not None
    desk = day.desk
    hand_scan(desk, day.api(PIETER, "GET", "me/qr/").json()["token"])
    tone, code, text = desk_answer(desk, PIETER.name)
    assert (tone, code) == ("red", "payment_overdue"), text
    assert day.sql("SELECT count(*) FROM checkins_checkin WHERE member_id = %s", (PIETER.member_id,)) == [(0,)]


def step6_cash_at_the_desk(day: Day) -> None:
    """The owner records Pieter's cash payment; the desk lets him in; the invoice PDF
    reads back with the right totals."""
    invoice_id = day.invoices["Pieter"]
    page = day.goto(f"/billing/invoices/{invoice_id}/")
    pay = page.locator("#action-pay")
    pay.get_by_label("Method").select_option("cash")
    pay.get_by_role("button", name="Record payment").click()
    expect(page.get_by_text("The invoice is paid.")).to_be_visible()
    assert day.sql("SELECT status FROM memberships_membership WHERE member_id = %s", (PIETER.member_id,)) == [
        ("active",)
    ]
    assert day.desk is not None
    desk = day.desk
    desk.locator("#desk-q").press("Escape")  # the receptionist clears the last answer
    expect(desk.locator("#desk-result .desk-panel")).to_have_count(0)
    hand_scan(desk, day.api(PIETER, "GET", "me/qr/").json()["token"])
    tone, _, text = desk_answer(desk, PIETER.name)
    assert tone == "green" and "Checked in" in text, text

    # The PDF: R180,00 including 15 % VAT (R23,48), paid in cash, nothing due; money and
    # dates as South Africans write them, like the emails.
    page = day.goto(f"/billing/invoices/{invoice_id}/")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf[:4] == b"%PDF"
    text = pdf_text(pdf)
    number = day.sql("SELECT number FROM invoices_invoice WHERE id = %s", (invoice_id,))[0][0]
    assert number.startswith(f"HY-{local_now().year}-"), number
    flat = " ".join(text.split())
    for expected in (
        number,
        "Harbour Yoga (Pty) Ltd",
        PIETER.name,
        "PAID",
        "Flow Weekly",
        "Total R180,00",
        "Tax 15% (included) R23,48",
        "Amount paid R180,00",
        "Amount due R0,00",
        "Cash",
        f"Paid on {local_now():%-d %b %Y}",
    ):
        assert expected in flat, f"{expected!r} not in the PDF:\n{text}"
    api_pdf = day.api(PIETER, "GET", f"invoices/{invoice_id}/pdf/")
    assert api_pdf.status_code == 200 and api_pdf.content[:4] == b"%PDF"


# --- step 7: another gym ------------------------------------------------------------------------------


def other_gym_users(day: Day) -> tuple[httpx.Client, httpx.Client, httpx.Client]:
    """Dune Fitness signs up on the public site; its owner invites a member, who logs in.
    Returns (its owner's session on its own host, the same owner's cookies sent to
    Harbour Yoga's host, its member's app with a Dune token)."""
    stack = day.stack
    with httpx.Client(base_url=stack.public_url, timeout=30) as public:
        public.get("/signup/")
        signup = public.post(
            "/signup/",
            data={
                "name": "Dune Fitness",
                "slug": "dune-fitness",
                "owner_email": "owner@dune.example",
                "password": OWNER_PASSWORD,
                "timezone": "Africa/Johannesburg",
                "currency": "ZAR",
                "csrfmiddlewaretoken": public.cookies["csrftoken"],
            },
        )
        assert signup.status_code == 302, signup.text[:500]
    dune = session_client(stack, "dune-fitness", "owner@dune.example", OWNER_PASSWORD)
    created = dune.post(
        "/members/new/",
        data={
            "first_name": "Jamie",
            "last_name": "Dune",
            "email": "jamie@dune.example",
            "source": "walk_in",
            "status": "active",
            "joined_on": local_now().date().isoformat(),
            "csrfmiddlewaretoken": dune.cookies["csrftoken"],
        },
    )
    assert created.status_code == 302, created.text[:800]
    member_path = created.headers["location"]
    invited = dune.post(f"{member_path}invite/", data={"csrfmiddlewaretoken": dune.cookies["csrftoken"]})
    assert invited.status_code == 302
    set_password_from_invite(stack, day.mailbox, "jamie@dune.example", "dune-fitness")
    dune_member = api_client(stack, "dune-fitness", "jamie@dune.example", MEMBER_PASSWORD)
    # The Dune owner's own session, replayed against Harbour Yoga's host.
    intruder = httpx.Client(base_url=day.gym, timeout=30, follow_redirects=False)
    for name, value in dune.cookies.items():
        intruder.cookies.set(name, value, domain=f"{SLUG}.localhost")
    return dune, intruder, dune_member


def step7_another_gym_is_refused(day: Day) -> None:
    """Every page and API call of the day, with another gym's logins: refused (403, 404,
    401 or the login page), never data."""
    dune, intruder, dune_member = other_gym_users(day)
    invoice_id, member_id = day.invoices["Pieter"], PIETER.member_id
    pages = [
        "/", "/settings/", "/team/", "/plans/", "/plans/new/", f"/plans/{day.plans['Flow Weekly']}/edit/",
        "/schedule/", "/schedule/classes/", "/schedule/classes/new/", f"/schedule/classes/{day.class_id}/schedule/",
        f"/schedule/sessions/{day.sessions[1]['id']}/", "/members/", "/members/import/", "/members/export/",
        f"/members/{member_id}/", f"/members/{member_id}/?tab=memberships", f"/members/{member_id}/?tab=invoices",
        f"/memberships/assign/{member_id}/", "/check-in/", "/check-in/occupancy/",
        f"/check-in/members/{member_id}/card/", "/billing/", "/billing/invoices/", f"/billing/invoices/{invoice_id}/",
        f"/billing/invoices/{invoice_id}/pdf/", "/notifications/", "/admin/",
    ]  # fmt: skip
    posts = [
        "/settings/", "/team/", "/plans/new/", "/schedule/classes/new/", f"/members/{member_id}/invite/",
        f"/memberships/assign/{member_id}/", "/check-in/scan/", f"/check-in/members/{member_id}/",
        f"/billing/invoices/{invoice_id}/pay/", "/billing/stripe/connect/", "/members/import/",
    ]  # fmt: skip
    secrets = [PIETER.name, PIETER.email, "Harbour Yoga (Pty) Ltd", "Sunrise Flow", "Flow Weekly"]
    problems: list[str] = []

    def refused(label: str, response: httpx.Response) -> None:
        status = response.status_code
        to = response.headers.get("location", "")
        login = status == 302 and ("/accounts/login/" in to or "/admin/login/" in to)
        if not (status in (401, 403, 404, 405) or login):
            problems.append(f"{label}: {status} {response.headers.get('location', '')}")
        leaked = [s for s in secrets if s in response.text]
        if leaked:
            problems.append(f"{label}: shows {leaked}")

    # The pages exist and answer Harbour Yoga's owner (so a refusal below is a refusal).
    harbour_owner = session_client(day.stack, SLUG, OWNER_EMAIL, OWNER_PASSWORD)
    missing = [(p, r.status_code) for p in pages if (r := harbour_owner.get(p)).status_code != 200]
    assert not missing, f"the owner's own pages: {missing}"

    csrf = {"csrfmiddlewaretoken": dune.cookies.get("csrftoken") or ""}
    for path in pages:
        refused(f"owner GET {path}", intruder.get(path))
    for path in posts:
        refused(
            f"owner POST {path}", intruder.post(path, data=csrf, headers={"X-CSRFToken": csrf["csrfmiddlewaretoken"]})
        )
    # The Dune owner logs in on Harbour Yoga's own login page: the account is real, but
    # has no role here.
    harbour_login = httpx.Client(base_url=day.gym, timeout=30)
    harbour_login.get("/accounts/login/")
    harbour_login.post(
        "/accounts/login/",
        data={
            "login": "owner@dune.example",
            "password": OWNER_PASSWORD,
            "csrfmiddlewaretoken": harbour_login.cookies["csrftoken"],
        },
    )
    for path in pages:
        refused(f"owner (logged in here) GET {path}", harbour_login.get(path))

    # Every API call the members' apps made today, with the Dune member's token, and
    # with a Harbour login the Dune member does not have.
    harbour_api = httpx.Client(base_url=f"{day.gym}/api/v1/", timeout=30, headers=dict(dune_member.headers))
    calls = {(m, p) for m, p, _ in day.api_calls} | {("GET", "members/"), ("GET", f"members/{member_id}/"),
                                                      ("GET", "invoices/"), ("GET", "occupancy/"),
                                                      ("GET", "check-ins/"), ("GET", "memberships/")}  # fmt: skip
    bodies = {(m, p): b for m, p, b in day.api_calls}
    for method, path in sorted(calls):
        refused(f"member token {method} {path}", harbour_api.request(method, path, json=bodies.get((method, path))))
    login = httpx.post(
        f"{day.gym}/api/v1/auth/login/", json={"email": "jamie@dune.example", "password": MEMBER_PASSWORD}
    )
    refused("member API login at Harbour Yoga", login)

    # Websockets: neither the Dune owner's session nor the Dune member's token opens
    # Harbour Yoga's live occupancy or check-in feed.
    token = dune_member.headers["Authorization"].split()[1]
    cookie = "; ".join(f"{k}={v}" for k, v in dune.cookies.items())
    for path, headers in (
        (f"/ws/occupancy/?token={token}", {}),
        ("/ws/occupancy/", {"Cookie": cookie}),
        ("/ws/check-ins/", {"Cookie": cookie}),
    ):
        try:
            with ws_connect(
                f"ws://{SLUG}.localhost:{day.stack.port}{path}",
                additional_headers={"Origin": day.gym, **headers},
                open_timeout=10,
            ) as socket:
                message = socket.recv(timeout=5)
                problems.append(f"websocket {path}: got {message!r}")
        except Exception as exc:  # a refusal is a closed or rejected socket
            if "4401" not in str(exc) and "4403" not in str(exc) and "403" not in str(exc):
                problems.append(f"websocket {path}: {exc!r}")
    assert not problems, "another gym got through:\n" + "\n".join(problems)


# --- the day -----------------------------------------------------------------------------------------


def test_a_day_at_harbour_yoga(day: Day) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}
    second: LiveDesk | None = None
    try:
        for name, step in (
            ("1 signup, settings, plans, class, import", lambda: step1_owner_opens_harbour_yoga(day)),
            ("1b memberships and app invitations", lambda: step1b_memberships_and_invitations(day)),
            ("2 booking from the app", lambda: step2_thandi_books_from_her_phone(day)),
            ("3 waitlist and promotion", lambda: step3_full_class_waitlist_and_promotion(day)),
        ):
            t = time.monotonic()
            step()
            timings[name] = time.monotonic() - t
        t = time.monotonic()
        second = step4_front_desk(day)
        timings["4 front desk"] = time.monotonic() - t
        for name, step in (
            ("5 billing hour", lambda: step5_billing_hour(day)),
            ("6 cash at the desk", lambda: step6_cash_at_the_desk(day)),
            ("7 another gym", lambda: step7_another_gym_is_refused(day)),
        ):
            t = time.monotonic()
            step()
            timings[name] = time.monotonic() - t
    finally:
        if second is not None:
            second.close()
        print("\nstep timings: " + ", ".join(f"{k}: {v:.1f}s" for k, v in timings.items()))
        print(f"scenario: {time.monotonic() - started:.1f}s")
