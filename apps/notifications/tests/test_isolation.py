"""Gyms never see or change each other's notifications, preferences, devices, log or
messaging settings: gym B's tokens are refused on gym A, gym B's staff get 403 on gym
A's pages, and gym A's ids and tokens are unknown (404) on gym B."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.conftest import host_of
from apps.members.tests.factories import MemberFactory
from apps.members.tests.test_api_members import assert_error, auth, member_user
from apps.staff.roles import Role
from apps.tenants.models import Gym

from ..models import Device, MessagingSettings, Notification, NotificationPreference
from ..preferences import device_register, messaging_settings, messaging_settings_update, preferences_update
from .test_preferences import notify, settings_input

pytestmark = pytest.mark.django_db

NOTIFICATIONS = "/api/v1/notifications/"
PREFERENCES = "/api/v1/me/preferences/"
DEVICES = "/api/v1/devices/"
CHANNELS = {"transactional": "sms", "reminders": "none", "marketing": "email"}


def send(client: Client, method: str, url: str, body: dict | None, headers: dict[str, str]):
    return getattr(client, method)(url, body or {}, content_type="application/json", **headers)


@pytest.fixture
def gym_a_data(gym_a: Gym) -> dict:
    """Gym A: a member with a login, a notification, preferences, a device and settings
    with a stored Twilio token."""
    user, member = member_user(gym_a)
    with tenant_context(gym_a):
        notification = notify(member, "booking_confirmed", status="sent", channel="email")
        preferences_update(member=member, transactional="email", reminders="push", marketing="none")
        device_register(member=member, token="tok:gym-a-phone", platform="ios")
        messaging_settings_update(**settings_input(sender_name="Gym A", twilio_auth_token="gym-a-secret-token-1234"))
    return {"user": user, "member": member, "notification": notification, "headers": auth(gym_a, user)}


def assert_gym_a_unchanged(gym_a: Gym, data: dict) -> None:
    with tenant_context(gym_a):
        notification = Notification.objects.get(pk=data["notification"].pk)
        assert notification.read_at is None
        preference = NotificationPreference.objects.get(member=data["member"])
        assert (preference.transactional, preference.reminders, preference.marketing) == ("email", "push", "none")
        assert list(Device.objects.values_list("token", "member_id")) == [("tok:gym-a-phone", data["member"].pk)]
        settings = MessagingSettings.objects.get()
        assert settings.sender_name == "Gym A" and settings.twilio_auth_token == "gym-a-secret-token-1234"


def test_gym_b_tokens_are_refused_on_gym_a(gym_a: Gym, gym_b: Gym, client_a: Client, make_staff, gym_a_data) -> None:
    b_user, _ = member_user(gym_b)
    b_owner = auth(gym_b, make_staff(gym_b, Role.OWNER))
    pk = gym_a_data["notification"].pk

    for headers in (auth(gym_b, b_user), b_owner):
        for response in (
            client_a.get(NOTIFICATIONS, **headers),
            send(client_a, "post", f"{NOTIFICATIONS}{pk}/read/", None, headers),
            client_a.get(PREFERENCES, **headers),
            send(client_a, "put", PREFERENCES, CHANNELS, headers),
            send(client_a, "post", DEVICES, {"token": "tok:gym-a-phone", "platform": "android"}, headers),
            send(client_a, "delete", f"{DEVICES}tok:gym-a-phone/", None, headers),
        ):
            assert_error(response, 401, "token_wrong_gym")
    assert_gym_a_unchanged(gym_a, gym_a_data)


def test_gym_a_ids_and_tokens_are_unknown_on_gym_b(gym_a: Gym, gym_b: Gym, client_b: Client, gym_a_data) -> None:
    b_user, b_member = member_user(gym_b)
    headers = auth(gym_b, b_user)
    pk = gym_a_data["notification"].pk
    with tenant_context(gym_b):
        assert not Notification.objects.filter(pk=pk).exists()

    listed = client_b.get(NOTIFICATIONS, **headers)
    read = send(client_b, "post", f"{NOTIFICATIONS}{pk}/read/", None, headers)
    removed = send(client_b, "delete", f"{DEVICES}tok:gym-a-phone/", None, headers)
    preferences = client_b.get(PREFERENCES, **headers)
    saved = send(client_b, "put", PREFERENCES, CHANNELS, headers)
    registered = send(client_b, "post", DEVICES, {"token": "tok:gym-a-phone", "platform": "android"}, headers)

    assert listed.status_code == 200 and listed.json()["count"] == 0
    assert_error(read, 404, "notification_not_found")
    assert_error(removed, 404, "device_not_found")
    assert preferences.json()["reminders"] == "email"  # gym B's defaults, not gym A's choice
    assert saved.status_code == 200
    # The same push token is a separate registration in gym B's schema.
    assert registered.status_code == 201
    with tenant_context(gym_b):
        assert list(Device.objects.values_list("member_id", flat=True)) == [b_member.pk]
        assert NotificationPreference.objects.get(member=b_member).transactional == "sms"
    assert_gym_a_unchanged(gym_a, gym_a_data)


def test_gym_b_staff_cannot_open_or_post_gym_a_pages(gym_a: Gym, gym_b: Gym, make_staff, gym_a_data) -> None:
    on_a = Client(HTTP_HOST=host_of(gym_a))
    on_a.force_login(make_staff(gym_b, Role.OWNER))

    log = on_a.get("/notifications/")
    settings_page = on_a.get("/notifications/settings/")
    posted = on_a.post("/notifications/settings/", {"sender_name": "Gym B was here", "class_reminder_minutes": 60})
    tab = on_a.get(f"/members/{gym_a_data['member'].pk}/?tab=notifications")

    assert [r.status_code for r in (log, settings_page, posted, tab)] == [403, 403, 403, 403]
    for response in (log, settings_page):
        assert "gym-a-secret" not in response.content.decode()
    assert_gym_a_unchanged(gym_a, gym_a_data)


def test_each_gym_has_its_own_log_and_settings(gym_a: Gym, gym_b: Gym, make_staff, gym_a_data) -> None:
    with tenant_context(gym_b):
        b_notification = notify(MemberFactory(first_name="Bongani"), "payment_failed", status="failed")
        b_settings = messaging_settings()
    on_b = Client(HTTP_HOST=host_of(gym_b))
    on_b.force_login(make_staff(gym_b, Role.MANAGER))

    log = on_b.get("/notifications/").content.decode()
    settings_page = on_b.get("/notifications/settings/").content.decode()
    on_b.post(
        "/notifications/settings/",
        {"sender_name": "Gym B", "class_reminder_minutes": 30, "twilio_auth_token": "gym-b-token-5678"},
    )

    assert f'id="notification-{b_notification.pk}"' in log and "Bongani" in log
    assert gym_a_data["member"].full_name not in log
    assert "Stored auth token: <strong>Not set</strong>" in settings_page and "Gym A" not in settings_page
    with tenant_context(gym_b):
        saved = MessagingSettings.objects.get()
        assert saved.pk == b_settings.pk and saved.sender_name == "Gym B" and saved.class_reminder_minutes == 30
        assert saved.twilio_auth_token == "gym-b-token-5678"
    assert_gym_a_unchanged(gym_a, gym_a_data)
