"""The preference, device and messaging-settings services (`apps.notifications.preferences`):
marking read once, channels per category with transactional never off, push tokens
upserted and moved between members, removal of one's own tokens only, and the gym's
settings row with write-only, encrypted credentials and checked shapes."""

from __future__ import annotations

import contextlib
import datetime
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.tenants.models import Gym

from ..errors import NotificationError
from ..kinds import kind_category
from ..models import Channel, Device, MessagingSettings, Notification, NotificationPreference
from ..preferences import (
    device_register,
    device_remove,
    messaging_settings,
    messaging_settings_update,
    notification_mark_read,
    preferences_update,
)

pytestmark = pytest.mark.django_db
KEYS = itertools.count(1)
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
CONTENT_SID = "HX" + "fedcba9876543210" * 2


def notify(member: Member, kind: str = "booking_confirmed", **fields: Any) -> Notification:
    """A notification of `kind` for `member` as the pipeline leaves it (`fields` set
    status, channel, timestamps...); `created_at` may be given too."""
    created_at = fields.pop("created_at", None)
    notification = Notification.objects.create(
        member=member,
        kind=kind,
        category=kind_category(kind),
        idempotency_key=f"{kind}:test:{next(KEYS)}",
        **fields,
    )
    if created_at is not None:
        Notification.objects.filter(pk=notification.pk).update(created_at=created_at)
        notification.created_at = created_at
    return notification


def service_account_json(**overrides: Any) -> str:
    """A Google service-account key file with a real (fresh) RSA key, as the Firebase
    console downloads it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "fitflow-gym-a",
        "private_key_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0abcd1234",
        "private_key": pem,
        "client_email": "firebase-adminsdk@fitflow-gym-a.iam.gserviceaccount.com",
        "client_id": "104729384756102938475",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    info.update(overrides)
    return json.dumps({k: v for k, v in info.items() if v is not None})


def settings_input(**overrides: Any) -> dict[str, Any]:
    """Every argument of `messaging_settings_update`, credentials kept (None)."""
    return {
        "sender_name": "Gym A Front Desk",
        "reply_to": "desk@gym-a.example",
        "class_reminder_minutes": 90,
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": None,
        "sms_from": "+14155238886",
        "whatsapp_from": "+14155238887",
        "whatsapp_templates": {"class_reminder": CONTENT_SID},
        "fcm_project_id": "",
        "fcm_service_account": None,
    } | overrides


@pytest.fixture
def in_a(gym_a: Gym) -> Iterator[Gym]:
    with tenant_context(gym_a):
        yield gym_a


@contextlib.contextmanager
def raises(code: str, field: str | None = None) -> Iterator[None]:
    """Expect a `NotificationError` with `code` (and `field`) and a message."""
    with pytest.raises(NotificationError) as info:
        yield
    assert (info.value.code, info.value.field) == (code, field), info.value
    assert info.value.message


# --- marking read ----------------------------------------------------------------------------------


def test_mark_read_once_keeps_the_first_time(in_a: Gym) -> None:
    member = MemberFactory()
    notification = notify(member)
    first = timezone.now() - datetime.timedelta(minutes=5)

    read = notification_mark_read(member=member, notification_id=notification.pk, now=first)
    again = notification_mark_read(member=member, notification_id=notification.pk)

    assert read.read_at == first and again.read_at == first
    notification.refresh_from_db()
    assert notification.read_at == first


def test_mark_read_of_another_members_notification_is_not_found(in_a: Gym) -> None:
    mine, theirs = MemberFactory(), MemberFactory()
    notification = notify(theirs)

    with raises("notification_not_found"):
        notification_mark_read(member=mine, notification_id=notification.pk)
    with raises("notification_not_found"):
        notification_mark_read(member=mine, notification_id=notification.pk + 10_000)

    notification.refresh_from_db()
    assert notification.read_at is None


# --- channel preferences ----------------------------------------------------------------------------


def test_preferences_are_created_then_updated_and_keep_opt_outs(in_a: Gym) -> None:
    member = MemberFactory()
    assert not NotificationPreference.objects.filter(member=member).exists()

    created = preferences_update(member=member, transactional="sms", reminders="push", marketing="email")
    stop = timezone.now()
    NotificationPreference.objects.filter(pk=created.pk).update(sms_opted_out_at=stop)
    updated = preferences_update(member=member, transactional="email", reminders="none", marketing="none")

    assert updated.pk == created.pk
    row = NotificationPreference.objects.get(member=member)
    assert (row.transactional, row.reminders, row.marketing) == ("email", "none", "none")
    assert row.sms_opted_out_at == stop  # replying STOP is undone by START, not by the app
    assert row.channel_for("reminders") == Channel.NONE


def test_transactional_cannot_be_switched_off(in_a: Gym) -> None:
    member = MemberFactory()
    preferences_update(member=member, transactional="push", reminders="email", marketing="none")

    with raises("transactional_required", "transactional"):
        preferences_update(member=member, transactional="none", reminders="none", marketing="none")
    with raises("invalid_channel", "marketing"):
        preferences_update(member=member, transactional="email", reminders="email", marketing="pigeon")

    row = NotificationPreference.objects.get(member=member)
    assert (row.transactional, row.reminders, row.marketing) == ("push", "email", "none")


# --- push devices ----------------------------------------------------------------------------------------


def test_device_register_is_an_upsert_and_moves_a_token_between_members(in_a: Gym) -> None:
    ana, ben = MemberFactory(), MemberFactory()

    device, created = device_register(member=ana, token=" tok:ana-phone ", platform="android")
    again, created_again = device_register(member=ana, token="tok:ana-phone", platform="ios")
    moved, created_for_ben = device_register(member=ben, token="tok:ana-phone", platform="android")

    assert (created, created_again, created_for_ben) == (True, False, True)
    assert device.pk == again.pk == moved.pk
    row = Device.objects.get(token="tok:ana-phone")
    assert row.member_id == ben.pk and row.platform == "android"
    assert Device.objects.count() == 1


@pytest.mark.parametrize(
    ("token", "platform", "field"),
    [("", "android", "token"), ("has space", "ios", "token"), ("a/b", "ios", "token"), ("x" * 513, "ios", "token"),
     ("tok:ok", "symbian", "platform")],
)  # fmt: skip
def test_device_register_refuses_bad_tokens_and_platforms(in_a: Gym, token: str, platform: str, field: str) -> None:
    with raises("invalid_device", field):
        device_register(member=MemberFactory(), token=token, platform=platform)
    assert not Device.objects.exists()


def test_device_remove_only_the_callers_own(in_a: Gym) -> None:
    ana, ben = MemberFactory(), MemberFactory()
    device_register(member=ana, token="tok:ana", platform="ios")
    device_register(member=ben, token="tok:ben", platform="android")

    device_remove(member=ana, token="tok:ana")
    with raises("device_not_found"):
        device_remove(member=ana, token="tok:ana")
    with raises("device_not_found"):
        device_remove(member=ana, token="tok:ben")

    assert list(Device.objects.values_list("token", flat=True)) == ["tok:ben"]


# --- the gym's messaging settings ---------------------------------------------------------------------


def test_messaging_settings_row_is_made_once_with_defaults(in_a: Gym, django_assert_max_num_queries) -> None:
    first = messaging_settings()
    with django_assert_max_num_queries(2) as captured:  # one query, after a SET search_path
        second = messaging_settings()

    real = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]
    assert len(real) == 1 and real[0].startswith("SELECT")

    assert first.pk == second.pk and MessagingSettings.objects.count() == 1
    assert first.class_reminder_minutes == 120 and first.whatsapp_templates == {}
    assert not first.twilio_configured and not first.fcm_configured


def test_credentials_are_write_only_and_encrypted_at_rest(in_a: Gym) -> None:
    token = "9f86d081884c7d659a2feaa0c55ad015"

    saved = messaging_settings_update(**settings_input(twilio_auth_token=token))
    kept = messaging_settings_update(**settings_input(sender_name="Renamed"))

    assert kept.twilio_auth_token == token and kept.sender_name == "Renamed" and kept.twilio_configured
    with connection.cursor() as cursor:
        cursor.execute("SELECT twilio_auth_token FROM notifications_messagingsettings WHERE id = %s", [saved.pk])
        (raw,) = cursor.fetchone()
    assert raw and token not in raw  # Fernet ciphertext, not the token

    cleared = messaging_settings_update(**settings_input(twilio_auth_token=""))
    assert not cleared.twilio_auth_token and not cleared.twilio_configured
    assert not MessagingSettings.objects.get().twilio_auth_token


def test_service_account_key_is_checked_and_fills_the_project_id(in_a: Gym) -> None:
    key = service_account_json()

    saved = messaging_settings_update(**settings_input(fcm_service_account=key))

    assert saved.fcm_project_id == "fitflow-gym-a" and saved.fcm_configured
    assert json.loads(MessagingSettings.objects.get().fcm_service_account)["client_email"].startswith("firebase")
    explicit = messaging_settings_update(**settings_input(fcm_project_id="other-project", fcm_service_account=key))
    assert explicit.fcm_project_id == "other-project"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (None, "misses: private_key, client_email"),
        ("wrong-type", "type must be service_account"),
        ("bad-key", "private key cannot be read"),
    ],
)
def test_bad_service_account_keys_are_refused(in_a: Gym, text: str | None, words: str) -> None:
    if text is None:
        text = service_account_json(private_key=None, client_email=None)
    elif text == "wrong-type":
        text = service_account_json(type="authorized_user")
    elif text == "bad-key":
        text = service_account_json(
            private_key="-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
        )

    with pytest.raises(NotificationError) as info:
        messaging_settings_update(**settings_input(fcm_service_account=text))

    assert (info.value.code, info.value.field) == ("invalid_setting", "fcm_service_account")
    assert words in info.value.message
    assert not messaging_settings().fcm_service_account


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"class_reminder_minutes": 14}, "class_reminder_minutes"),
        ({"class_reminder_minutes": 48 * 60 + 1}, "class_reminder_minutes"),
        ({"whatsapp_templates": {"class_reminder": CONTENT_SID, "pizza_party": CONTENT_SID}}, "whatsapp_templates"),
        ({"whatsapp_templates": {"class_reminder": "HX123"}}, "whatsapp_templates"),
        ({"whatsapp_templates": ["class_reminder"]}, "whatsapp_templates"),
        ({"twilio_account_sid": "SK" + "0" * 32}, "twilio_account_sid"),
        ({"sms_from": "0821234567"}, "sms_from"),
        ({"sms_from": "TooLongSenderName"}, "sms_from"),
        ({"whatsapp_from": "whatsapp:0821234567"}, "whatsapp_from"),
        ({"reply_to": "not-an-address"}, "reply_to"),
    ],
)
def test_settings_out_of_bounds_are_refused_on_their_field(in_a: Gym, overrides: dict[str, Any], field: str) -> None:
    before = messaging_settings()

    with raises("invalid_setting", field):
        messaging_settings_update(**settings_input(twilio_auth_token="new-token-1234", **overrides))

    after = MessagingSettings.objects.get(pk=before.pk)
    assert not after.twilio_auth_token and after.class_reminder_minutes == 120


def test_settings_accept_bounds_senders_and_known_kinds(in_a: Gym) -> None:
    saved = messaging_settings_update(
        **settings_input(
            class_reminder_minutes=15,
            sms_from="GymA",
            whatsapp_from="whatsapp:+27821234567",
            whatsapp_templates={"class_reminder": CONTENT_SID, "payment_failed": "HX" + "FEDCBA9876543210" * 2},
        )
    )

    assert saved.class_reminder_minutes == 15 and saved.sms_from == "GymA" and saved.whatsapp_from == "+27821234567"
    assert set(saved.whatsapp_templates) == {"class_reminder", "payment_failed"}
    assert messaging_settings_update(**settings_input(class_reminder_minutes=48 * 60)).class_reminder_minutes == 2880
