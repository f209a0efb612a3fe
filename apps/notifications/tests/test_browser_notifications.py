"""A real browser through the notification pages: the owner opens Notifications from
the sidebar, filters the log to failed messages (htmx, URL pushed), follows the row to
the member's Notifications tab, then sets the gym's Twilio credentials on the messaging
settings page: a bad reminder lead time is a field error with nothing saved, and a saved
auth token is never shown back, only its last four characters.

Same set-up as `apps/invoices/tests/test_browser_billing.py`: the app runs as a
`uvicorn` subprocess on the test database, in a gym created for this module and dropped
afterwards. Screenshots go to `/tmp/fitflow-screens/`. Run alone with
`pytest -m browser apps/notifications`.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context
from playwright.sync_api import Response, expect, sync_playwright

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
from apps.members.tests.factories import MemberFactory
from apps.staff.roles import Role
from apps.staff.services import staff_role_assign
from apps.tenants.models import Domain, Gym
from apps.tenants.services import gym_provision

from ..models import MessagingSettings, Notification

pytestmark = [pytest.mark.browser, pytest.mark.django_db]

SCREENS = Path("/tmp/fitflow-screens")
TOKEN = "f3c1a9e2b7d84c55a1e0" + "9d6b"


@dataclass
class LogGym:
    slug: str
    owner_email: str
    member_id: int
    failed_id: int


@pytest.fixture(scope="module")
def log_gym(uvicorn_server: LiveServer, django_db_blocker) -> Iterator[LogGym]:  # noqa: F811
    """A gym with an owner and a log of sent, suppressed and failed messages (committed)."""
    slug = f"pw-n-{secrets.token_hex(3)}"
    email = f"owner-{slug}@fitflow.test"
    with django_db_blocker.unblock():
        gym = gym_provision(name="Harbour Yoga", slug=slug, timezone="Africa/Johannesburg", status=Gym.Status.ACTIVE)
        owner = UserFactory(email=email, first_name="Olivia")
        with tenant_context(gym):
            staff_role_assign(user=owner, role=Role.OWNER)
            anna = MemberFactory(first_name="Anna", last_name="Botha", email="anna@example.test")
            ben = MemberFactory(first_name="Ben", last_name="Carter", email="ben@example.test")
            now = timezone.now()
            rows = [
                (anna, "booking_confirmed", "sent", "email", "", "anna@example.test"),
                (ben, "class_reminder", "suppressed", "", "", ""),
                (anna, "renewal_upcoming", "failed", "sms", "Twilio 21211: invalid 'To' number", "+27820000000"),
            ]
            for i, (m, kind, status, channel, error, to) in enumerate(rows):
                Notification.objects.create(
                    member=m,
                    kind=kind,
                    idempotency_key=f"pw:{i}",
                    status=status,
                    channel=channel,
                    error=error,
                    recipient=to,
                    reason="opted_out" if status == "suppressed" else "",
                    sent_at=now - datetime.timedelta(hours=i) if status == "sent" else None,
                    failed_at=now if status == "failed" else None,
                )
            failed_id = Notification.objects.get(status="failed").pk
            member_id = anna.pk
        connection.set_schema_to_public()  # type: ignore[attr-defined]
    try:
        yield LogGym(slug, email, member_id, failed_id)
    finally:
        with django_db_blocker.unblock():
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            gym = Gym.objects.get(slug=slug)
            Domain.objects.filter(tenant=gym).delete()
            gym.delete(force_drop=True)
            user_ids = {str(pk) for pk in User.objects.filter(email=email).values_list("pk", flat=True)}
            Session.objects.filter(
                pk__in=[s.pk for s in Session.objects.all() if s.get_decoded().get("_auth_user_id") in user_ids]
            ).delete()
            User.objects.filter(email=email).delete()
            connection.set_schema_to_public()  # type: ignore[attr-defined]


def test_owner_reads_the_log_and_sets_twilio_without_seeing_the_token_again(
    uvicorn_server: LiveServer,  # noqa: F811
    log_gym: LogGym,
    django_db_blocker,
) -> None:
    server, gym = uvicorn_server, log_gym
    base = server.gym_url(gym.slug)
    bad: list[str] = []
    SCREENS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1360, "height": 900})
            context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
            context.set_default_timeout(ASSERT_TIMEOUT_MS)
            page = context.new_page()

            def note(response: Response) -> None:
                if response.status >= 400:
                    bad.append(f"{response.status} {response.request.method} {response.url}")

            page.on("response", note)
            page.on("pageerror", lambda exc: bad.append(f"page error: {exc}"))
            page.goto(f"{base}/accounts/login/", timeout=FIRST_NAVIGATION_TIMEOUT_MS)
            form = page.locator("form[action$='/accounts/login/']")
            form.locator("input[name='login']").fill(gym.owner_email)
            form.locator("input[name='password']").fill(TEST_PASSWORD)
            form.locator("button[type='submit']").click()
            page.wait_for_url(f"{base}/")

            # 1. The log, from the sidebar: every message, then only the failed one (htmx).
            page.get_by_role("link", name="Notifications", exact=True).click()
            page.wait_for_url(f"{base}/notifications/")
            expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
            expect(page.locator("#notification-count")).to_contain_text("3 notifications")
            page.get_by_label("Status").select_option("failed")
            page.get_by_role("button", name="Filter").click()
            expect(page.locator("#notification-count")).to_contain_text("1 notification")
            row = page.locator(f"#notification-{gym.failed_id}")
            expect(row).to_contain_text("Anna Botha")
            expect(row).to_contain_text("21211")
            assert "status=failed" in page.url
            page.screenshot(path=str(SCREENS / "notifications-log.png"), full_page=True)

            # 2. The row leads to the member's Notifications tab.
            row.get_by_role("link", name="Anna Botha").first.click()
            page.wait_for_url(f"{base}/members/{gym.member_id}/?tab=notifications")
            expect(page.locator(f"#notification-{gym.failed_id}")).to_contain_text("renewal_upcoming")
            expect(page.locator("#channel-reminders")).to_have_text("Email")  # no choice made: the default

            # 3. Messaging settings: a bad lead time is refused in place, nothing saved.
            page.goto(f"{base}/notifications/settings/")
            expect(page.get_by_role("heading", level=1)).to_have_text("Messaging settings")
            expect(page.locator("#twilio-inbound-url")).to_contain_text(f"{base}/notifications/twilio/inbound/")
            settings_form = page.locator("#messaging-settings-form")
            settings_form.get_by_label("Class reminder (minutes before)").fill("5")
            settings_form.get_by_label("Twilio account SID").fill("AC" + "0" * 32)
            settings_form.get_by_label("Twilio auth token").fill(TOKEN)
            settings_form.get_by_label("SMS sender").fill("+27821234567")
            settings_form.get_by_role("button", name="Save messaging settings").click()
            expect(page.locator("#messaging-settings-form")).to_contain_text("15")  # the field error names the bound
            expect(page.locator("#messaging-settings-form").get_by_label("Twilio auth token")).to_have_value("")
            page.reload()  # nothing was saved
            expect(page.locator("#hint-twilio_auth_token")).to_contain_text("Not set")
            expect(
                page.locator("#messaging-settings-form").get_by_label("Class reminder (minutes before)")
            ).to_have_value("120")

            # 4. Fixed and saved: the token is kept, and only its last four characters show.
            settings_form = page.locator("#messaging-settings-form")
            settings_form.get_by_label("Class reminder (minutes before)").fill("90")
            settings_form.get_by_label("Twilio account SID").fill("AC" + "0" * 32)
            settings_form.get_by_label("Twilio auth token").fill(TOKEN)
            settings_form.get_by_label("SMS sender").fill("+27821234567")
            settings_form.get_by_role("button", name="Save messaging settings").click()
            expect(page.locator("#hint-twilio_auth_token")).to_contain_text(TOKEN[-4:])
            page.reload()
            expect(page.locator("#hint-twilio_auth_token")).to_contain_text(TOKEN[-4:])
            assert TOKEN not in page.content()
            page.screenshot(path=str(SCREENS / "notifications-settings.png"), full_page=True)
        finally:
            browser.close()
    # the bad lead time's 400 was the form's answer (swapped in place), not a failure
    assert [b for b in bad if not b.startswith("400 POST") or not b.endswith("/notifications/settings/")] == [], bad
    assert len(bad) == 1, bad
    # the database outside the browser's event loop: saved once, the token encrypted at rest
    with django_db_blocker.unblock(), tenant_context(Gym.objects.get(slug=gym.slug)):
        saved = MessagingSettings.objects.get()
        assert (saved.class_reminder_minutes, saved.twilio_auth_token) == (90, TOKEN)
        with connection.cursor() as cursor:
            cursor.execute("SELECT twilio_auth_token FROM notifications_messagingsettings")
            (stored,) = cursor.fetchone()
        assert TOKEN not in stored
    connection.set_schema_to_public()  # type: ignore[attr-defined]
