"""Writes of what members and the gym choose about notifications: a member's channel
per category, marking in-app notifications read, push devices, and the gym's messaging
settings (senders, reminder lead time, Twilio and FCM credentials).

Every service is keyword-only, raises `NotificationError` (apps/notifications/errors.py)
with the input `field` it belongs to, and changes nothing when it raises. The checks of
the messaging settings are also public (`*_check`), so the settings form shows every
bad field at once with the same rules the service applies.

`messaging_settings()` (the gym's one settings row) lives in `selectors` and is
importable from here too.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from google.auth import exceptions as google_auth_exceptions
from google.oauth2 import service_account

from apps.members.models import Member

from .errors import NotificationError
from .kinds import KINDS
from .models import Channel, Device, MessagingSettings, Notification, NotificationPreference
from .selectors import messaging_settings

__all__ = [
    "REMINDER_MINUTES_MAX",
    "REMINDER_MINUTES_MIN",
    "SERVICE_ACCOUNT_KEYS",
    "device_register",
    "device_remove",
    "messaging_settings",
    "messaging_settings_update",
    "notification_mark_read",
    "preferences_update",
    "reminder_minutes_check",
    "service_account_check",
    "sms_sender_check",
    "twilio_account_sid_check",
    "whatsapp_sender_check",
    "whatsapp_templates_check",
]

REMINDER_MINUTES_MIN = 15
"""The shortest class reminder lead time, in minutes: time enough to leave for the gym."""
REMINDER_MINUTES_MAX = 48 * 60
"""The longest class reminder lead time, in minutes (two days); earlier, it is no longer a reminder."""
SERVICE_ACCOUNT_KEYS = ("type", "project_id", "private_key", "client_email", "token_uri")
"""Keys a Google service-account JSON key must have: google-auth's
`service_account.Credentials.from_service_account_info` needs `client_email`,
`token_uri` and `private_key`; FCM HTTP v1 sends to `projects/{project_id}`; `type`
is `service_account` (Google Cloud docs, "Create and delete service account keys")."""
TOKEN_MAX_LENGTH = 512
"""The longest push token accepted (`Device.token`); FCM tokens are about 160 characters."""

# Twilio SIDs are two letters and 32 hexadecimal digits (Twilio docs, "What is a SID?"):
# AC… for an account, HX… for a Content (template) resource.
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
# E.164: a plus, then up to 15 digits, the first not 0 (ITU-T E.164).
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Twilio alphanumeric sender ID: up to 11 letters, digits and spaces, at least one letter
# (Twilio docs, "Alphanumeric Sender ID").
_ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
# A push token is one URL path segment (DELETE devices/{token}/): printable, no spaces or slashes.
_TOKEN = re.compile(r"^[^\s/]+$")


def _invalid(field: str, message: str) -> NotificationError:
    return NotificationError("invalid_setting", message, field=field)


# --- a member's notifications and preferences ------------------------------------------------


def notification_mark_read(
    *, member: Member, notification_id: int, now: datetime.datetime | None = None
) -> Notification:
    """Mark `member`'s notification `notification_id` read (in-app) and return it.

    Idempotent: an already read notification keeps its first `read_at`. `now` (aware
    datetime, default the current time) is stored as `read_at` (UTC). Another member's
    id, or an unknown one, raises `NotificationError("notification_not_found")` and
    changes nothing. Two queries (a conditional UPDATE, then the row)."""
    Notification.objects.filter(pk=notification_id, member=member, read_at__isnull=True).update(
        read_at=now or timezone.now()
    )
    notification = Notification.objects.filter(pk=notification_id, member=member).first()
    if notification is None:
        raise NotificationError("notification_not_found", "No such notification.")
    return notification


def preferences_update(*, member: Member, transactional: str, reminders: str, marketing: str) -> NotificationPreference:
    """Set `member`'s channel per category (each a `Channel` value) and return the row,
    created on first use. The SMS and WhatsApp opt-outs (STOP) are left as they are: a
    member who replied STOP texts START to the gym's number to receive SMS again
    (Twilio Advanced Opt-Out), whatever channel they choose here.

    Raises `NotificationError`: `invalid_channel` (a value not in `Channel`; `field` is
    the category) and `transactional_required` (transactional set to `none`: receipts,
    failed payments and bookings always reach the member)."""
    chosen = {"transactional": transactional, "reminders": reminders, "marketing": marketing}
    for category, channel in chosen.items():
        if channel not in Channel.values:
            raise NotificationError("invalid_channel", f"“{channel}” is not a channel.", field=category)
    if transactional == Channel.NONE:
        raise NotificationError(
            "transactional_required",
            "Messages about your account, bookings and payments cannot be switched off. Choose a channel for them.",
            field="transactional",
        )
    preference, _ = NotificationPreference.objects.update_or_create(member=member, defaults=chosen)
    return preference


# --- push devices -------------------------------------------------------------------------------


def _token_check(token: str) -> str:
    token = token.strip()
    if not token or len(token) > TOKEN_MAX_LENGTH or not _TOKEN.match(token):
        raise NotificationError(
            "invalid_device",
            f"A push token is 1 to {TOKEN_MAX_LENGTH} characters without spaces or slashes.",
            field="token",
        )
    return token


@transaction.atomic
def device_register(*, member: Member, token: str, platform: str) -> tuple[Device, bool]:
    """Register `member`'s push `token` (FCM registration token) for `platform` (a
    `Device.Platform` value). Returns `(device, created)`: `created` is True when the
    token was not this member's before (new, or moved from another member: a phone
    passed on, or someone else logging in on it), False for a re-registration, which
    only refreshes `platform` and `last_seen_at`.

    An upsert on the unique token, safe against concurrent registrations of the same
    token. Raises `NotificationError("invalid_device")` for an empty, too long or
    spaced token (`field` token) or an unknown platform (`field` platform)."""
    token = _token_check(token)
    if platform not in Device.Platform.values:
        raise NotificationError("invalid_device", f"“{platform}” is not a platform.", field="platform")
    device = Device.objects.select_for_update().filter(token=token).first()
    if device is None:
        try:
            with transaction.atomic():
                return Device.objects.create(member=member, token=token, platform=platform), True
        except IntegrityError:  # registered by a concurrent request meanwhile
            device = Device.objects.select_for_update().get(token=token)
    created = device.member_id != member.pk
    device.member, device.platform = member, platform
    device.save(update_fields=["member", "platform", "last_seen_at"])
    return device, created


def device_remove(*, member: Member, token: str) -> None:
    """Forget `member`'s push `token` (logout in the app). Raises
    `NotificationError("device_not_found")` when `member` has no such token (another
    member's token included, which stays registered)."""
    deleted, _ = Device.objects.filter(member=member, token=token.strip()).delete()
    if not deleted:
        raise NotificationError("device_not_found", "This device is not registered.")


# --- the gym's messaging settings -----------------------------------------------------------------


def reminder_minutes_check(minutes: int) -> int:
    """`minutes` if it is a class reminder lead time between `REMINDER_MINUTES_MIN` and
    `REMINDER_MINUTES_MAX`; else `NotificationError("invalid_setting")` on
    `class_reminder_minutes`."""
    if not REMINDER_MINUTES_MIN <= minutes <= REMINDER_MINUTES_MAX:
        raise _invalid(
            "class_reminder_minutes",
            f"Send reminders between {REMINDER_MINUTES_MIN} minutes and {REMINDER_MINUTES_MAX // 60} hours "
            "before the class.",
        )
    return minutes


def twilio_account_sid_check(sid: str) -> str:
    """`sid` stripped if empty or a Twilio account SID (`AC` and 32 hex digits); else
    `NotificationError("invalid_setting")` on `twilio_account_sid`."""
    sid = sid.strip()
    if sid and not _ACCOUNT_SID.match(sid):
        raise _invalid("twilio_account_sid", "A Twilio account SID is AC followed by 32 letters and digits.")
    return sid


def sms_sender_check(sender: str) -> str:
    """`sender` stripped if empty, an E.164 number (`+14155238886`) or a Twilio
    alphanumeric sender ID (1-11 letters, digits and spaces, one letter at least);
    else `NotificationError("invalid_setting")` on `sms_from`."""
    sender = sender.strip()
    if sender and not (_E164.match(sender) or _ALPHANUMERIC_SENDER.match(sender)):
        raise _invalid(
            "sms_from",
            "Enter a number in international format (+14155238886) or a sender name of up to 11 letters and digits.",
        )
    return sender


def whatsapp_sender_check(sender: str) -> str:
    """`sender` as an E.164 number (a `whatsapp:` prefix is dropped) or empty; else
    `NotificationError("invalid_setting")` on `whatsapp_from`."""
    sender = sender.strip().removeprefix("whatsapp:")
    if sender and not _E164.match(sender):
        raise _invalid("whatsapp_from", "Enter the WhatsApp sender's number in international format (+14155238886).")
    return sender


def whatsapp_templates_check(templates: Any) -> dict[str, str]:
    """`templates` if it maps known notification kinds (`KINDS`) to Twilio Content SIDs
    (`HX` and 32 hex digits); else `NotificationError("invalid_setting")` on
    `whatsapp_templates` naming the unknown kinds or bad SIDs. WhatsApp only delivers
    business-initiated messages as approved templates (Meta's WhatsApp Business
    policy), so a kind without one is not sent on WhatsApp."""
    if not isinstance(templates, dict):
        raise _invalid("whatsapp_templates", "Enter a JSON object of notification kind to Content SID.")
    unknown = sorted(str(kind) for kind in templates if kind not in KINDS)
    if unknown:
        raise _invalid("whatsapp_templates", f"Unknown notification kinds: {', '.join(unknown)}.")
    bad = sorted(kind for kind, sid in templates.items() if not isinstance(sid, str) or not _CONTENT_SID.match(sid))
    if bad:
        raise _invalid(
            "whatsapp_templates",
            f"Not a Twilio Content SID (HX followed by 32 letters and digits) for: {', '.join(bad)}.",
        )
    return dict(templates)


def service_account_check(text: str) -> dict[str, Any]:
    """The parsed Google service-account JSON key in `text`, once it has
    `SERVICE_ACCOUNT_KEYS`, `type` `service_account` and a private key google-auth can
    load; else `NotificationError("invalid_setting")` on `fcm_service_account`."""
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise _invalid("fcm_service_account", "This is not valid JSON. Paste the whole key file.") from exc
    if not isinstance(info, dict):
        raise _invalid("fcm_service_account", "The key file is a JSON object. Paste the whole key file.")
    missing = [key for key in SERVICE_ACCOUNT_KEYS if not info.get(key)]
    if missing:
        raise _invalid("fcm_service_account", f"The key file misses: {', '.join(missing)}.")
    if info["type"] != "service_account":
        raise _invalid("fcm_service_account", "This is not a service account key (its type must be service_account).")
    try:
        service_account.Credentials.from_service_account_info(info)
    except (ValueError, TypeError, google_auth_exceptions.GoogleAuthError) as exc:
        raise _invalid("fcm_service_account", "The key file's private key cannot be read.") from exc
    return info


@transaction.atomic
def messaging_settings_update(
    *,
    sender_name: str,
    reply_to: str,
    class_reminder_minutes: int,
    twilio_account_sid: str,
    twilio_auth_token: str | None,
    sms_from: str,
    whatsapp_from: str,
    whatsapp_templates: dict[str, str],
    fcm_project_id: str,
    fcm_service_account: str | None,
) -> MessagingSettings:
    """Save the gym's messaging settings and return them.

    The credentials are write-only: `twilio_auth_token` and `fcm_service_account` are
    None to keep the stored value, "" to remove it, or the new value. An empty
    `fcm_project_id` is taken from the service account's `project_id`. `reply_to` is an
    email address or empty; `class_reminder_minutes` is a lead time in minutes.

    Raises `NotificationError("invalid_setting")` with the `field` that fails its check
    (`reminder_minutes_check`, `twilio_account_sid_check`, `sms_sender_check`,
    `whatsapp_sender_check`, `whatsapp_templates_check`, `service_account_check`, or a
    bad `reply_to`); nothing is saved then."""
    settings = messaging_settings()
    reply_to = reply_to.strip()
    if reply_to:
        try:
            validate_email(reply_to)
        except ValidationError as exc:
            raise _invalid("reply_to", "Enter a valid email address.") from exc
    settings.sender_name = sender_name.strip()
    settings.reply_to = reply_to
    settings.class_reminder_minutes = reminder_minutes_check(class_reminder_minutes)
    settings.twilio_account_sid = twilio_account_sid_check(twilio_account_sid)
    settings.sms_from = sms_sender_check(sms_from)
    settings.whatsapp_from = whatsapp_sender_check(whatsapp_from)
    settings.whatsapp_templates = whatsapp_templates_check(whatsapp_templates)
    settings.fcm_project_id = fcm_project_id.strip()
    if twilio_auth_token is not None:
        settings.twilio_auth_token = twilio_auth_token.strip()
    if fcm_service_account is not None:
        text = fcm_service_account.strip()
        if text:
            info = service_account_check(text)
            settings.fcm_project_id = settings.fcm_project_id or str(info["project_id"])
        settings.fcm_service_account = text
    settings.save()
    return settings
