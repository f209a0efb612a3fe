"""Notifications to members, in each gym's schema (issue 7).

- `Notification`: one message due to a member, recorded once per idempotency key (kind,
  object, scheduled time), then sent on one channel by `services.notifications_send`.
  Its status ends as sent, failed (with the error) or suppressed (with the reason).
  Every notification is also the member's in-app notification (`read_at`).
- `NotificationPreference`: a member's channel per category (transactional, reminders,
  marketing) and SMS / WhatsApp opt-outs (STOP).
- `Device`: a push token registered by the member's app.
- `MessagingSettings`: the gym's sender name, reply-to address, reminder lead time and
  channel credentials (encrypted at rest; never shown back in full).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _
from encrypted_fields.fields import EncryptedTextField

from apps.members.models import Member


class Category(models.TextChoices):
    """What a notification is about, which decides the rules it follows:
    transactional messages (receipts, failed payments, bookings) cannot be switched
    off and skip quiet hours; reminders can be switched off; marketing is opt-in."""

    TRANSACTIONAL = "transactional", _("Account and bookings")
    REMINDERS = "reminders", _("Reminders")
    MARKETING = "marketing", _("News and offers")


class Channel(models.TextChoices):
    """How a notification reaches the member. `none` switches a category off (not
    allowed for transactional)."""

    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")
    PUSH = "push", _("Push (app)")
    NONE = "none", _("Off")


class Notification(models.Model):
    """A message due to a member: `kind` (e.g. `booking_confirmed`, `class_reminder`;
    see `apps.notifications.kinds`), a JSON `data` payload for the template, and an
    `idempotency_key` (kind, object, scheduled time) so it is recorded, and sent, once.
    Columns have database defaults, so a raw `INSERT` (the booking hot path) that names
    only member, kind, data, key and time records a pending transactional notification.

    `scheduled_for` (UTC) holds a message back: until then it stays pending (quiet hours
    move SMS, WhatsApp and push reminders to 08:00 gym time). `attempts` counts sends
    tried; transient errors retry with exponential backoff up to 3 attempts."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Suppressed")

    class Reason(models.TextChoices):
        """Why a notification was suppressed."""

        OPTED_OUT = "opted_out", _("Opted out")
        QUIET_HOURS = "quiet_hours", _("Quiet hours")
        NO_CONTACT = "no_contact", _("No contact details")
        STALE = "stale", _("No longer relevant")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="notifications")
    kind = models.CharField(max_length=40, db_index=True)
    category = models.CharField(
        max_length=16, choices=Category.choices, default=Category.TRANSACTIONAL, db_default=Category.TRANSACTIONAL
    )
    data = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True, db_default="")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_default=Status.PENDING)
    reason = models.CharField(max_length=16, choices=Reason.choices, blank=True, db_default="")
    error = models.CharField(max_length=500, blank=True, db_default="")
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    recipient = models.CharField(
        max_length=254, blank=True, db_default="", help_text=_("Address, number or device count used.")
    )
    subject = models.CharField(max_length=200, blank=True, db_default="")
    provider_id = models.CharField(max_length=120, blank=True, db_default="", help_text=_("The provider's message id."))
    scheduled_for = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text=_("When a worker took it to send."))
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["status", "scheduled_for"], name="notif_status_sched_idx"),
            models.Index(fields=["member", "-created_at"], name="notif_member_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for member {self.member_id}"


class NotificationPreference(models.Model):
    """A member's channel per category, and their SMS / WhatsApp opt-outs. A member
    without a row has the defaults: email for transactional and reminders, marketing
    off (opt-in). Transactional can never be `none`."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="notification_preference")
    transactional = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    reminders = models.CharField(max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    marketing = models.CharField(max_length=10, choices=Channel.choices, default=Channel.NONE)
    sms_opted_out_at = models.DateTimeField(null=True, blank=True, help_text=_("The member replied STOP."))
    whatsapp_opted_out_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of member {self.member_id}"

    def channel_for(self, category: str) -> str:
        """The channel chosen for `category` (a `Category` value)."""
        return str(getattr(self, category))


class Device(models.Model):
    """A push token registered by a member's app (`POST /api/v1/devices/`), removed on
    logout (`DELETE /api/v1/devices/{token}/`) or when FCM says it is no longer valid."""

    class Platform(models.TextChoices):
        ANDROID = "android", "Android"
        IOS = "ios", "iOS"
        WEB = "web", "Web"

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="devices")
    token = models.CharField(max_length=512, unique=True)
    platform = models.CharField(max_length=10, choices=Platform.choices, default=Platform.ANDROID)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.platform} device of member {self.member_id}"


class MessagingSettings(models.Model):
    """The gym's messaging settings (one row per gym schema; `messaging_settings()`
    returns it). Credentials are encrypted at rest (Fernet, keyed from SECRET_KEY and
    SALT_KEY) and forms never show them back in full."""

    sender_name = models.CharField(max_length=80, blank=True, help_text=_("Shown as the email sender's name."))
    reply_to = models.EmailField(blank=True, help_text=_("Where members' replies to emails go."))
    class_reminder_minutes = models.PositiveIntegerField(
        default=120, help_text=_("How long before a class its reminder is sent, in minutes.")
    )
    twilio_account_sid = models.CharField(max_length=64, blank=True)
    # null: the encrypted field stores an empty value as NULL.
    twilio_auth_token = EncryptedTextField(blank=True, default="", null=True)
    sms_from = models.CharField(max_length=32, blank=True, help_text=_("Twilio number or sender id for SMS."))
    whatsapp_from = models.CharField(
        max_length=32, blank=True, help_text=_("Twilio WhatsApp sender, e.g. +14155238886.")
    )
    whatsapp_templates = models.JSONField(
        default=dict, blank=True, help_text=_("Approved WhatsApp template (Content SID) per notification kind.")
    )
    fcm_project_id = models.CharField(max_length=120, blank=True)
    fcm_service_account = EncryptedTextField(
        blank=True, default="", null=True, help_text=_("The service account's JSON key.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "messaging settings"

    def __str__(self) -> str:
        return "messaging settings"

    @property
    def twilio_configured(self) -> bool:
        """True when SMS can go through Twilio (account, token and an SMS sender)."""
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def fcm_configured(self) -> bool:
        """True when push can go through FCM (project id and service account key)."""
        return bool(self.fcm_project_id and self.fcm_service_account)
