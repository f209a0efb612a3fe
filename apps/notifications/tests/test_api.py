"""`/api/v1/` of notifications for the member's app: their own in-app list (newest first,
paged, unread filter) and marking read, their channel preferences (transactional never
off), push devices (201 / 200 / 204 / 404), staff without a member record, error
envelopes, query counts and the OpenAPI schema with examples."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from apps.members.tests.factories import MemberFactory
from apps.members.tests.test_api_members import assert_error, auth, member_user
from apps.staff.roles import Role
from apps.tenants.models import Gym

from ..models import Device, Notification, NotificationPreference
from .test_preferences import notify

pytestmark = pytest.mark.django_db

NOTIFICATIONS = "/api/v1/notifications/"
PREFERENCES = "/api/v1/me/preferences/"
DEVICES = "/api/v1/devices/"


def read_url(pk: int) -> str:
    return f"{NOTIFICATIONS}{pk}/read/"


def send(client: Client, method: str, url: str, body: dict | None, headers: dict[str, str]):
    return getattr(client, method)(url, body or {}, content_type="application/json", **headers)


class Caller:
    """A member of a gym with a login: `user`, `member` and bearer `headers`."""

    def __init__(self, gym: Gym) -> None:
        self.user, self.member = member_user(gym)
        self.headers = auth(gym, self.user)


@pytest.fixture
def mia(gym_a: Gym) -> Caller:
    return Caller(gym_a)


# --- the in-app list ------------------------------------------------------------------------------------


def test_member_lists_only_their_own_newest_first(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    now = timezone.now()
    with tenant_context(gym_a):
        old = notify(
            mia.member, "class_reminder", status="sent", channel="push", created_at=now - datetime.timedelta(days=2)
        )
        new = notify(
            mia.member,
            "booking_confirmed",
            status="sent",
            channel="email",
            subject="You're booked: Spin",
            data={"class": "Spin", "session": 12},
            sent_at=now,
            created_at=now,
        )
        notify(MemberFactory(), "booking_confirmed")

    response = client_a.get(NOTIFICATIONS, **mia.headers)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2 and [row["id"] for row in body["results"]] == [new.pk, old.pk]
    first = body["results"][0]
    assert first == {
        "id": new.pk,
        "kind": "booking_confirmed",
        "category": "transactional",
        "title": "You're booked: Spin",
        "data": {"class": "Spin", "session": 12},
        "channel": "email",
        "status": "sent",
        "created_at": now.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
        "sent_at": now.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
        "read_at": None,
    }
    assert body["results"][1]["category"] == "reminders"


def test_pages_and_the_unread_filter(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    with tenant_context(gym_a):
        rows = [notify(mia.member, "booking_confirmed") for _ in range(5)]
        Notification.objects.filter(pk__in=[rows[0].pk, rows[1].pk]).update(read_at=timezone.now())

    page = client_a.get(NOTIFICATIONS, {"page_size": 2, "page": 2}, **mia.headers).json()
    unread = client_a.get(NOTIFICATIONS, {"unread": "true"}, **mia.headers).json()
    read = client_a.get(NOTIFICATIONS, {"unread": "false"}, **mia.headers).json()

    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"] and page["previous"]
    assert sorted(row["id"] for row in unread["results"]) == sorted(r.pk for r in rows[2:])
    assert sorted(row["id"] for row in read["results"]) == [rows[0].pk, rows[1].pk]
    assert all(row["read_at"] for row in read["results"])
    error = assert_error(client_a.get(NOTIFICATIONS, {"unread": "maybe"}, **mia.headers), 400, "validation_error")
    assert "unread" in error["details"]


def test_list_query_count_with_200_notifications(
    gym_a: Gym, client_a: Client, mia: Caller, django_assert_max_num_queries
) -> None:
    with tenant_context(gym_a):
        others = [MemberFactory() for _ in range(4)]
        for i in range(200):
            notify(mia.member if i % 2 else others[i % 4], "booking_confirmed", status="sent", channel="push")
    client_a.get(NOTIFICATIONS, **mia.headers)  # warm up

    # Domain, token user, staff role and member role (GymRolePermission), the caller's
    # member record, then the count and the page; each may follow a SET search_path.
    with django_assert_max_num_queries(14) as captured:
        response = client_a.get(NOTIFICATIONS, {"page_size": 200}, **mia.headers)

    assert response.status_code == 200 and response.json()["count"] == 100
    real = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]
    assert len(real) <= 7, real


def test_mark_read_is_idempotent_and_only_for_the_callers_own(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    with tenant_context(gym_a):
        mine = notify(mia.member, "payment_received")
        theirs = notify(MemberFactory(), "payment_received")

    first = send(client_a, "post", read_url(mine.pk), None, mia.headers)
    again = send(client_a, "post", read_url(mine.pk), None, mia.headers)

    assert first.status_code == again.status_code == 200
    assert first.json()["read_at"] and again.json()["read_at"] == first.json()["read_at"]
    assert first.json()["id"] == mine.pk
    assert_error(send(client_a, "post", read_url(theirs.pk), None, mia.headers), 404, "notification_not_found")
    assert_error(send(client_a, "post", read_url(999_999), None, mia.headers), 404, "notification_not_found")
    with tenant_context(gym_a):
        theirs.refresh_from_db()
        assert theirs.read_at is None


# --- staff callers ---------------------------------------------------------------------------------------


def test_staff_without_a_member_record_get_not_a_member(gym_a: Gym, client_a: Client, make_staff) -> None:
    headers = auth(gym_a, make_staff(gym_a, Role.OWNER))
    with tenant_context(gym_a):
        someone = notify(MemberFactory(), "booking_confirmed")

    for response in (
        client_a.get(NOTIFICATIONS, **headers),
        send(client_a, "post", read_url(someone.pk), None, headers),
        client_a.get(PREFERENCES, **headers),
        send(
            client_a, "put", PREFERENCES, {"transactional": "email", "reminders": "email", "marketing": "none"}, headers
        ),
        send(client_a, "post", DEVICES, {"token": "tok:desk", "platform": "web"}, headers),
        send(client_a, "delete", f"{DEVICES}tok:desk/", None, headers),
    ):
        assert_error(response, 403, "not_a_member")
    with tenant_context(gym_a):
        someone.refresh_from_db()
        assert someone.read_at is None and not Device.objects.exists()


def test_staff_who_are_members_get_their_own_list_only(gym_a: Gym, client_a: Client, make_staff) -> None:
    coach = make_staff(gym_a, Role.TRAINER)
    with tenant_context(gym_a):
        own = notify(MemberFactory(user=coach), "booking_confirmed")
        notify(MemberFactory(), "booking_confirmed")

    body = client_a.get(NOTIFICATIONS, **auth(gym_a, coach)).json()

    assert [row["id"] for row in body["results"]] == [own.pk]


def test_unauthenticated_calls_are_refused(client_a: Client) -> None:
    for response in (
        client_a.get(NOTIFICATIONS),
        client_a.get(PREFERENCES),
        client_a.post(DEVICES, {"token": "t", "platform": "ios"}, content_type="application/json"),
    ):
        assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


# --- preferences ---------------------------------------------------------------------------------------------


def test_preferences_default_then_saved(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    defaults = client_a.get(PREFERENCES, **mia.headers)

    saved = send(
        client_a,
        "put",
        PREFERENCES,
        {"transactional": "push", "reminders": "whatsapp", "marketing": "email", "sms_opted_out": True},
        mia.headers,
    )

    assert defaults.status_code == 200 and defaults.json() == {
        "transactional": "email",
        "reminders": "email",
        "marketing": "none",
        "sms_opted_out": False,
        "whatsapp_opted_out": False,
    }
    assert saved.status_code == 200, saved.content
    assert saved.json() == {
        "transactional": "push",
        "reminders": "whatsapp",
        "marketing": "email",
        "sms_opted_out": False,  # read-only: STOP and START change it, not the app
        "whatsapp_opted_out": False,
    }
    with tenant_context(gym_a):
        row = NotificationPreference.objects.get(member=mia.member)
        assert (row.transactional, row.reminders, row.marketing) == ("push", "whatsapp", "email")
        row.whatsapp_opted_out_at = timezone.now()
        row.save()
    assert client_a.get(PREFERENCES, **mia.headers).json()["whatsapp_opted_out"] is True


def test_transactional_none_and_bad_channels_are_field_errors(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    off = send(
        client_a, "put", PREFERENCES, {"transactional": "none", "reminders": "none", "marketing": "none"}, mia.headers
    )
    bad = send(client_a, "put", PREFERENCES, {"transactional": "email", "reminders": "pigeon"}, mia.headers)

    error = assert_error(off, 400, "transactional_required")
    assert list(error["details"]) == ["transactional"] and error["details"]["transactional"]
    error = assert_error(bad, 400, "validation_error")
    assert set(error["details"]) == {"reminders", "marketing"}
    with tenant_context(gym_a):
        assert not NotificationPreference.objects.filter(member=mia.member).exists()


# --- devices -------------------------------------------------------------------------------------------------


def test_register_reregister_move_and_remove_devices(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    ben = Caller(gym_a)
    token = "fcm:APA91bHmzOh3pC_HxbqV2t-9"

    created = send(client_a, "post", DEVICES, {"token": token, "platform": "android"}, mia.headers)
    again = send(client_a, "post", DEVICES, {"token": token, "platform": "android"}, mia.headers)
    moved = send(client_a, "post", DEVICES, {"token": token, "platform": "ios"}, ben.headers)

    assert (created.status_code, again.status_code, moved.status_code) == (201, 200, 201)
    assert created.json()["token"] == token and created.json()["platform"] == "android"
    assert moved.json()["platform"] == "ios" and moved.json()["last_seen_at"].endswith("Z")
    with tenant_context(gym_a):
        assert list(Device.objects.values_list("member_id", flat=True)) == [ben.member.pk]
    # Mia's phone moved to Ben: she can no longer remove it; he can, once.
    assert_error(send(client_a, "delete", f"{DEVICES}{token}/", None, mia.headers), 404, "device_not_found")
    assert send(client_a, "delete", f"{DEVICES}{token}/", None, ben.headers).status_code == 204
    assert_error(send(client_a, "delete", f"{DEVICES}{token}/", None, ben.headers), 404, "device_not_found")
    with tenant_context(gym_a):
        assert not Device.objects.exists()


def test_device_input_errors(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    missing = send(client_a, "post", DEVICES, {"token": "tok:1"}, mia.headers)
    platform = send(client_a, "post", DEVICES, {"token": "tok:1", "platform": "symbian"}, mia.headers)
    spaced = send(client_a, "post", DEVICES, {"token": "two words", "platform": "ios"}, mia.headers)
    too_long = send(client_a, "post", DEVICES, {"token": "x" * 513, "platform": "ios"}, mia.headers)

    assert "platform" in assert_error(missing, 400, "validation_error")["details"]
    assert "platform" in assert_error(platform, 400, "validation_error")["details"]
    assert list(assert_error(spaced, 400, "invalid_device")["details"]) == ["token"]
    assert "token" in assert_error(too_long, 400, "validation_error")["details"]
    with tenant_context(gym_a):
        assert not Device.objects.exists()


# --- schema -----------------------------------------------------------------------------------------------------

OPERATIONS = {
    # 401, 403, 404 (ids, pages), 406, 415, 429 come from apps.core.openapi; 409 and 422
    # on writes from the Idempotency-Key middleware.
    ("/api/v1/notifications/", "get"): ("notifications_list", {"200", "400", "401", "403", "404", "406", "429"}),
    ("/api/v1/notifications/{id}/read/", "post"): (
        "notifications_read",
        {"200", "400", "401", "403", "404", "406", "409", "422", "429"},
    ),
    ("/api/v1/me/preferences/", "get"): ("me_preferences_retrieve", {"200", "401", "403", "406", "429"}),
    ("/api/v1/me/preferences/", "put"): (
        "me_preferences_update",
        {"200", "400", "401", "403", "406", "409", "415", "422", "429"},
    ),
    ("/api/v1/devices/", "post"): (
        "devices_register",
        {"200", "201", "400", "401", "403", "406", "409", "415", "422", "429"},
    ),
    ("/api/v1/devices/{token}/", "delete"): (
        "devices_remove",
        {"204", "400", "401", "403", "404", "406", "409", "422", "429"},
    ),
}


def test_every_endpoint_is_documented_with_errors_and_examples(client_a: Client) -> None:
    schema = client_a.get("/api/schema/", {"format": "json"}).json()

    for (path, method), (operation_id, statuses) in OPERATIONS.items():
        operation = schema["paths"][path][method]
        assert operation["operationId"] == operation_id
        assert operation["description"] and operation["summary"]
        assert set(operation["responses"]) == statuses, (path, method)
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")):
                content = response["content"]["application/json"]
                assert content["schema"]["$ref"] == "#/components/schemas/ApiError"
                assert content.get("examples"), (path, method, code)
    components = schema["components"]["schemas"]
    assert {"MemberNotification", "PaginatedMemberNotificationList", "NotificationPreferences", "PushDevice"} <= set(
        components
    )
    transactional = components["NotificationPreferencesInputRequest"]["properties"]["transactional"]
    assert "email, sms, whatsapp, push, none" in transactional["description"]
    assert set(components["NotificationChannelEnum"]["enum"]) == {"email", "sms", "whatsapp", "push", "none"}
    put = schema["paths"]["/api/v1/me/preferences/"]["put"]
    assert put["requestBody"]["content"]["application/json"]["examples"]


def test_schema_generates_without_warnings_for_these_endpoints() -> None:
    GENERATOR_STATS.reset()
    SchemaGenerator(urlconf="fitflow.urls_tenants").get_schema(request=None, public=True)

    ours = [
        message
        for message in [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
        if "apps.notifications" in str(message) or "notification" in str(message).lower() or "Device" in str(message)
    ]
    assert not ours, ours
