"""The demo gym's messaging: settings, a few members' channel choices, app devices, and
a notification log that reads like a live gym's.

The other demo seeds record notifications as they replay six months of bookings,
billing and freezes (through the same services the product uses). Those are history:
`demo_notifications_seed` marks them delivered at the time they were recorded (email,
or suppressed for a member without an address) so `make run` does not send hundreds
of old messages, and adds the outcomes a real log shows: SMS reminders, a push, a
marketing message suppressed by the member's choice, a failed SMS to a bad number.
Deterministic and idempotent (a second run changes nothing).
"""

from __future__ import annotations

import datetime

from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from apps.members.models import Member

from .models import Channel, Device, MessagingSettings, Notification, NotificationPreference
from .selectors import messaging_settings

Status = Notification.Status

# Members (by position among members with a phone number, oldest first) who chose SMS
# for reminders, push for everything, or replied STOP.
SMS_REMINDERS = 6
PUSH_EVERYTHING = 3
STOPPED = 1


def demo_notifications_seed(*, now: datetime.datetime | None = None) -> int:
    """Seed the current (demo) gym's messaging; returns how many notifications were
    marked delivered or added. Call after the other demo seeds."""
    now = now or timezone.now()
    config = messaging_settings()
    if not config.sender_name:
        MessagingSettings.objects.filter(pk=config.pk).update(
            sender_name="Demo Fitness Studio", reply_to="hello@demo-fitness.example", class_reminder_minutes=120
        )
    with_phone = list(
        Member.objects.exclude(phone="").exclude(email="").order_by("pk")[: SMS_REMINDERS + PUSH_EVERYTHING + STOPPED]
    )
    sms, push, stopped = (
        with_phone[:SMS_REMINDERS],
        with_phone[SMS_REMINDERS : SMS_REMINDERS + PUSH_EVERYTHING],
        with_phone[SMS_REMINDERS + PUSH_EVERYTHING :],
    )
    for m in sms:
        NotificationPreference.objects.get_or_create(member=m, defaults={"reminders": Channel.SMS})
    for m in push:
        NotificationPreference.objects.get_or_create(
            member=m, defaults={"transactional": Channel.PUSH, "reminders": Channel.PUSH, "marketing": Channel.PUSH}
        )
        Device.objects.get_or_create(token=f"demo-device-{m.pk}", defaults={"member": m, "platform": "android"})
    for m in stopped:
        NotificationPreference.objects.get_or_create(
            member=m, defaults={"reminders": Channel.SMS, "sms_opted_out_at": now - datetime.timedelta(days=20)}
        )

    pending = Notification.objects.filter(status=Status.PENDING)
    changed = pending.filter(member__email="").update(status=Status.SUPPRESSED, reason=Notification.Reason.NO_CONTACT)
    email = Member.objects.filter(pk=OuterRef("member_id")).values("email")[:1]
    changed += pending.update(
        status=Status.SENT, channel=Channel.EMAIL, recipient=Subquery(email), sent_at=F("created_at"), attempts=1
    )
    changed += _history(sms=sms, push=push, stopped=stopped, now=now)
    return changed


def _history(*, sms: list[Member], push: list[Member], stopped: list[Member], now: datetime.datetime) -> int:
    """The log's other outcomes, one notification each (keys make this idempotent)."""
    made = 0
    rows: list[tuple[Member, str, str, str, str, str, str, datetime.datetime]] = []
    for i, m in enumerate(sms):
        at = now - datetime.timedelta(days=i + 1, hours=2)
        rows.append(
            (m, "class_reminder", f"demo:class_reminder:{m.pk}", Channel.SMS, Status.SENT, "", str(m.phone), at)
        )
    for i, m in enumerate(push):
        at = now - datetime.timedelta(days=i + 2, hours=5)
        rows.append((m, "booking_confirmed", f"demo:push:{m.pk}", Channel.PUSH, Status.SENT, "", "1 devices", at))
    for m in stopped:
        at = now - datetime.timedelta(days=3)
        rows.append((m, "class_reminder", f"demo:stopped:{m.pk}", "", Status.SUPPRESSED, "opted_out", "", at))
    if sms:
        m, at = sms[-1], now - datetime.timedelta(days=9)
        rows.append((m, "renewal_upcoming", f"demo:failed:{m.pk}", Channel.SMS, Status.FAILED, "", str(m.phone), at))
    for m, kind, key, channel, status, reason, recipient, at in rows:
        _, created = Notification.objects.get_or_create(
            idempotency_key=key,
            defaults={
                "member": m,
                "kind": kind,
                "category": "reminders" if kind in ("class_reminder", "renewal_upcoming") else "transactional",
                "channel": channel,
                "status": status,
                "reason": reason,
                "recipient": recipient,
                "attempts": 0 if status == Status.SUPPRESSED else (3 if status == Status.FAILED else 1),
                "error": "PermanentSendError: Twilio 21211: The 'To' number is not a valid phone number."
                if status == Status.FAILED
                else "",
                "sent_at": at if status == Status.SENT else None,
                "failed_at": at if status == Status.FAILED else None,
            },
        )
        if created:
            Notification.objects.filter(idempotency_key=key).update(created_at=at)
            made += 1
    return made
