"""A real browser through "create your gym": signup on the public host, the handoff to
the gym's own host, the dashboard, logging out and logging back in with allauth.

The app runs as a real `uvicorn` subprocess on the test database (so the browser's
requests are committed rows, not a rolled-back test transaction), and headless Debian
Chromium is driven with Playwright's sync API. Chromium resolves `*.localhost` to the
loopback address, so the gym's subdomain host works without any DNS setup.

Run alone with `pytest -m browser`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.db import connection
from django_tenants.utils import schema_exists, tenant_context
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, Response, expect, sync_playwright

from apps.accounts.models import User
from apps.core.tests.servers import LiveServer, asgi_server_running
from apps.staff.models import StaffRole
from apps.staff.roles import Role
from apps.tenants.models import Domain, Gym

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
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
SCREENSHOT = Path("/tmp/dashboard.png")
# The first request warms up the server and the signup clones a schema: be generous.
FIRST_NAVIGATION_TIMEOUT_MS = 60_000
NAVIGATION_TIMEOUT_MS = 30_000
ASSERT_TIMEOUT_MS = 15_000
PASSWORD = "a-long-and-unusual-passphrase"


@pytest.fixture(scope="module")
def uvicorn_server(django_db_setup, django_db_blocker) -> Iterator[LiveServer]:
    """`uvicorn fitflow.asgi:application` in a subprocess, on the test database and Redis
    (apps.core.tests.servers); skipped without Debian's Chromium."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    with asgi_server_running(django_db_blocker) as server:
        yield server


@dataclass
class NewGym:
    """What the test signs up, and what teardown removes."""

    slug: str = field(default_factory=lambda: f"pw-{secrets.token_hex(4)}")
    name: str = ""
    email: str = ""

    def __post_init__(self) -> None:
        suffix = self.slug.removeprefix("pw-")
        self.name = self.name or f"Playwright Gym {suffix}"
        self.email = self.email or f"owner-{suffix}@fitflow.test"


def _remove_gym_and_owner(new_gym: NewGym) -> None:
    """Drop the gym with its schema (and the owner's staff role in it) and domain,
    then delete the owner, who then holds no role anywhere."""
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    gym = Gym.objects.filter(slug=new_gym.slug).first()
    if gym is not None:
        Domain.objects.filter(tenant=gym).delete()
        gym.delete(force_drop=True)
    User.objects.filter(email__iexact=new_gym.email).delete()
    connection.set_schema_to_public()  # type: ignore[attr-defined]


@pytest.fixture
def new_gym(uvicorn_server: LiveServer, django_db_blocker) -> Iterator[NewGym]:
    """A fresh subdomain and owner email; the gym, its schema, domain and owner are removed afterwards."""
    gym = NewGym()
    try:
        yield gym
    finally:
        with django_db_blocker.unblock():
            _remove_gym_and_owner(gym)
            assert not Gym.objects.filter(slug=gym.slug).exists()
            assert not schema_exists(f"gym_{gym.slug.replace('-', '_')}")
            assert not User.objects.filter(email__iexact=gym.email).exists()


def _assert_dashboard(page: Page, server: LiveServer, gym: NewGym, *, where: str) -> None:
    page.wait_for_url(f"{server.gym_url(gym.slug)}/", timeout=NAVIGATION_TIMEOUT_MS)
    assert page.url == f"{server.gym_url(gym.slug)}/", f"{where}: expected the dashboard, got {page.url}"
    expect(page.get_by_role("heading", level=1), f"{where}: dashboard heading").to_contain_text(
        "Good to see you", timeout=ASSERT_TIMEOUT_MS
    )
    expect(page.locator("aside.sidebar .brand"), f"{where}: gym name in the sidebar").to_contain_text(
        gym.name, timeout=ASSERT_TIMEOUT_MS
    )
    expect(page.locator(".page-head"), f"{where}: gym name, timezone and currency").to_contain_text(
        f"{gym.name} · Africa/Johannesburg · ZAR", timeout=ASSERT_TIMEOUT_MS
    )
    expect(page.locator("aside.sidebar .who"), f"{where}: owner's email in the sidebar").to_contain_text(
        gym.email, timeout=ASSERT_TIMEOUT_MS
    )
    expect(page.locator("aside.sidebar .who"), f"{where}: owner's role").to_contain_text(
        "Owner", timeout=ASSERT_TIMEOUT_MS
    )
    expect(page.get_by_role("button", name="Log out"), f"{where}: log-out button").to_be_visible()


def test_signup_dashboard_logout_and_login_again_in_a_real_browser(
    uvicorn_server: LiveServer, new_gym: NewGym, django_db_blocker
) -> None:
    server, gym = uvicorn_server, new_gym
    bad_responses: list[str] = []

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
                context.set_default_timeout(ASSERT_TIMEOUT_MS)
                page = context.new_page()

                def note_bad_response(response: Response) -> None:
                    if response.status >= 400:
                        bad_responses.append(f"{response.status} {response.request.method} {response.url}")

                page.on("response", note_bad_response)
                page.on("requestfailed", lambda r: bad_responses.append(f"failed {r.method} {r.url}: {r.failure}"))

                # 1. The public signup page.
                page.goto(f"{server.public_url}/signup/", timeout=FIRST_NAVIGATION_TIMEOUT_MS)
                expect(page.get_by_role("heading", level=1)).to_have_text("Create your gym")
                page.get_by_label("Gym name").fill(gym.name)
                page.get_by_label("Subdomain").fill(gym.slug)
                page.get_by_label("Your email").fill(gym.email)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_label("Timezone").select_option("Africa/Johannesburg")
                page.get_by_label("Currency").select_option("ZAR")

                # 2. Submit: the gym is provisioned, then the handoff link logs the owner
                # in on the gym's own host and opens the dashboard.
                page.get_by_role("button", name="Create my gym").click()
                try:
                    page.wait_for_url(f"{server.gym_url(gym.slug)}/", timeout=FIRST_NAVIGATION_TIMEOUT_MS)
                except PlaywrightError as exc:
                    errors = page.locator(".errors, .form-errors").all_inner_texts()
                    raise AssertionError(
                        f"signup did not land on the gym dashboard (at {page.url}; form errors: {errors}):\n"
                        f"{exc}\nserver log:\n{server.log_tail()}"
                    ) from exc
                _assert_dashboard(page, server, gym, where="after signup")
                expect(page.locator("main#content")).to_contain_text("Your gym is ready")
                page.screenshot(path=str(SCREENSHOT), full_page=True)

                # 3. Log out (allauth may ask to confirm on its own page).
                gym_login_url = re.compile(re.escape(server.gym_url(gym.slug)) + r"/accounts/login/")
                page.get_by_role("button", name="Log out").click()
                page.wait_for_url(re.compile(r"/accounts/(logout|login)/"))
                if "/accounts/logout/" in page.url:
                    page.get_by_role("button", name=re.compile("sign out|log out", re.I)).click()
                try:
                    page.wait_for_url(gym_login_url)
                except PlaywrightError as exc:
                    raise AssertionError(
                        f"logging out did not end on the gym's login page (at {page.url}):\n{exc}"
                    ) from exc
                expect(page.get_by_role("button", name="Log out")).to_have_count(0)

                # Logged out for real: the dashboard sends the visitor to the login page.
                page.goto(f"{server.gym_url(gym.slug)}/")
                page.wait_for_url(re.compile(gym_login_url.pattern + r"\?next=/$"))
                assert "/accounts/login/" in page.url, (
                    f"logged-out visit to / should go to the login page, got {page.url}"
                )
                expect(page.locator("aside.sidebar .who")).to_have_count(0)

                # 4. Log in again through allauth's form.
                login_form = page.locator("form[action$='/accounts/login/']")
                login_form.locator("input[name='login']").fill(gym.email)
                login_form.locator("input[name='password']").fill(PASSWORD)
                login_form.locator("button[type='submit']").click()
                try:
                    page.wait_for_url(f"{server.gym_url(gym.slug)}/")
                except PlaywrightError as exc:
                    raise AssertionError(
                        f"login did not land on the dashboard (at {page.url}; page says: "
                        f"{page.locator('main').inner_text()[:500]!r}):\n{exc}"
                    ) from exc
                _assert_dashboard(page, server, gym, where="after logging in again")
                context.close()
            finally:
                browser.close()
    except Exception:
        print(f"--- uvicorn log tail ---\n{server.log_tail()}")
        raise

    assert not bad_responses, f"the browser saw failed requests: {bad_responses}"

    # The rows the browser created are real, committed and in the right places.
    with django_db_blocker.unblock():
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        created = Gym.objects.get(slug=gym.slug)
        assert (created.name, created.timezone, created.currency) == (gym.name, "Africa/Johannesburg", "ZAR")
        assert Domain.objects.get(tenant=created, is_primary=True).domain == f"{gym.slug}.localhost"
        owner = User.objects.get(email__iexact=gym.email)
        with tenant_context(created):
            assert StaffRole.objects.get(user=owner).role == Role.OWNER
        connection.set_schema_to_public()  # type: ignore[attr-defined]
