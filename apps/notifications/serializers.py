"""Serializers of the notifications API (`apps.notifications.apis`): a member's in-app
notifications, their channel preferences and their push devices.

Timestamps are UTC ISO 8601 (`…Z`). Choice values are plain strings in the schema, with
their values in each field's description, as in the other apps: drf-spectacular would
turn the three channel fields into three differently named enum components of one
choice set (a schema warning) unless `ENUM_NAME_OVERRIDES` named it.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from apps.classes.apis import UtcDateTimeField

from .models import Category, Channel, Device

CATEGORY_HELP = (
    "transactional (account, bookings, payments; always delivered), reminders, or marketing (opt-in). "
    + ", ".join(Category.values)
    + "."
)
STATUS_HELP = (
    "pending (recorded, not sent yet), sending, sent, failed (gave up after retries) or suppressed "
    "(opted out, no contact details, held back too long)."
)
CHANNEL_HELP = "One of " + ", ".join(Channel.values) + " (none: off; never allowed for transactional)."


class ChannelField(serializers.ChoiceField):
    """A `Channel` value: the `NotificationChannelEnum` component of the schema
    (SPECTACULAR_SETTINGS `ENUM_NAME_OVERRIDES`), so input generators and clients know
    the values."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(choices=Channel.choices, **kwargs)  # type: ignore[arg-type]


class PlatformField(serializers.ChoiceField):
    """A `Device.Platform` value (the schema's `PlatformEnum`)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(choices=Device.Platform.choices, **kwargs)  # type: ignore[arg-type]


@extend_schema_serializer(component_name="MemberNotification")
class NotificationSerializer(serializers.Serializer):
    """One of the member's notifications, as the app's in-app list shows it. `title` is
    the subject it was sent with (empty until sent); `data` is the message's payload
    (e.g. the class and its start time), for the app's own wording."""

    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="What it is about, e.g. booking_confirmed, class_reminder, payment_failed.")
    category = serializers.CharField(help_text=CATEGORY_HELP)
    title = serializers.CharField(source="subject", help_text="The subject it was sent with; empty until sent.")
    # A field named `data` (the API's name for the payload) shadows `Serializer.data` for mypy only:
    # DRF's metaclass moves declared fields off the class.
    data = serializers.DictField(help_text="The message's payload (kind-specific).")  # type: ignore[assignment]
    channel = serializers.CharField(help_text="The channel it went out on (email, sms, whatsapp, push); empty if none.")
    status = serializers.CharField(help_text=STATUS_HELP)
    created_at = UtcDateTimeField()
    sent_at = UtcDateTimeField(allow_null=True)
    read_at = UtcDateTimeField(allow_null=True, help_text="When the member read it in the app; null if unread.")


@extend_schema_serializer(component_name="NotificationPreferences")
class PreferencesSerializer(serializers.Serializer):
    """The member's channel per category, and whether they opted out of SMS or WhatsApp
    by replying STOP (read-only: they text START to opt in again)."""

    transactional = ChannelField(help_text=f"Account, bookings and payments. {CHANNEL_HELP}")
    reminders = ChannelField(help_text=f"Class reminders, expiring memberships, birthdays. {CHANNEL_HELP}")
    marketing = ChannelField(help_text=f"News and offers (none unless chosen). {CHANNEL_HELP}")
    sms_opted_out = serializers.SerializerMethodField(help_text="The member replied STOP to an SMS.")
    whatsapp_opted_out = serializers.SerializerMethodField(help_text="The member replied STOP on WhatsApp.")

    def get_sms_opted_out(self, preference: object) -> bool:
        return getattr(preference, "sms_opted_out_at", None) is not None

    def get_whatsapp_opted_out(self, preference: object) -> bool:
        return getattr(preference, "whatsapp_opted_out_at", None) is not None


@extend_schema_serializer(component_name="PushDevice")
class DeviceSerializer(serializers.Serializer):
    """A push token registered by the member's app."""

    token = serializers.CharField()
    platform = serializers.CharField(help_text="android, ios or web.")
    created_at = UtcDateTimeField()
    last_seen_at = UtcDateTimeField(help_text="The last time the app registered it.")
