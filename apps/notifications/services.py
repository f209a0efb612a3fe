"""Recording notifications and sending them, exactly once, on the member's channel.

Recording (`notification_record`, `notifications_record`) is one
`INSERT … ON CONFLICT (idempotency_key) DO NOTHING` in the caller's transaction; the new
rows are queued for sending when it commits (`notifications_send_task`). The
idempotency key is kind, object and scheduled time (`class_reminder:booking:42:<start>`),
so a reminder is recorded once even when beat fires twice or a task is retried.

Sending (`notifications_send`) claims each pending notification with a conditional
UPDATE (pending and due -> sending), so two workers never both send it, then:
1. picks the channel (`notification_channel`): the member's choice for the category
   (`NotificationPreference`; defaults email / email / marketing off). Transactional
   messages cannot be switched off and fall back to email when the chosen channel is
   off, opted out (SMS STOP) or unusable; others are suppressed (`opted_out`,
   `no_contact`);
2. holds SMS, WhatsApp and push back during quiet hours (21:00-08:00 gym time, not for
   transactional): pending again until 08:00, or suppressed (`quiet_hours`) when it
   would be stale by then (a class reminder after the class);
3. renders it (`rendering.notification_render`) and sends it through the channel's
   backend: email through Django's email API (`emails.notification_email`), SMS /
   WhatsApp / push through `backends`;
4. records the outcome: sent (with the provider's id), or on a transient error pending
   again after an exponential backoff (30 s, then 2 min; 3 attempts in all), or failed
   with the error.
A notification left `sending` by a worker that died is failed by `notifications_stuck_fail`
(never sent twice: the provider may already have it).
"""

from __future__ import annotations

import datetime
import json
import logging
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pgbulk
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from apps.members.models import Member
from apps.tenants.dispatch import gym_tzinfo
from apps.tenants.models import Gym
from apps.tenants.selectors import current_gym, current_schema_name
from fitflow.db.base import search_path_cached

from . import backends
from .kinds import KINDS, kind_category
from .models import Category, Channel, Device, MessagingSettings, Notification, NotificationPreference
from .selectors import messaging_settings

logger = logging.getLogger(__name__)

Status = Notification.Status
Reason = Notification.Reason

# Quiet hours in gym-local time: no SMS, WhatsApp or push from 21:00 to 08:00 except
# transactional messages (issue 7; the UK's ICO direct-marketing guidance and Twilio's
# messaging policy both ask for messages at reasonable hours).
QUIET_START = datetime.time(21, 0)
QUIET_END = datetime.time(8, 0)
MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 30  # first retry after 30 s, then 4x: 2 min
STUCK_AFTER = datetime.timedelta(minutes=15)
QUIET_CHANNELS = (Channel.SMS, Channel.WHATSAPP, Channel.PUSH)


# --- recording ---------------------------------------------------------------------------------


def notification_record(*, member: Member, kind: str, idempotency_key: str, data: dict[str, Any] | None = None) -> bool:
    """Record that `member` is due a `kind` notification, once per `idempotency_key`
    (e.g. `waitlist_promoted:booking:42`). One `INSERT … ON CONFLICT DO NOTHING`, so it
    is cheap inside a booking transaction. Returns True when a new row was recorded."""
    return bool(notifications_record([NotificationInput(member.pk, kind, idempotency_key, data or {})]))


@dataclass(frozen=True)
class NotificationInput:
    """One notification to record: the member's id, the `kind` (see `kinds.KINDS`), the
    idempotency key (kind, object, scheduled time) and the template's JSON `data`."""

    member_id: int
    kind: str
    idempotency_key: str
    data: dict[str, Any] = field(default_factory=dict)


def notifications_record(items: Sequence[NotificationInput], *, send: bool = True) -> set[str]:
    """Record many notifications with one `INSERT … ON CONFLICT DO NOTHING` (the billing
    run records one per invoice of a batch), each in its kind's category. Each key is
    recorded at most once, ever; the other columns take their database defaults
    (pending). With `send`, the new ones are queued for sending when
    the transaction commits (one task for the batch). Returns the idempotency keys that
    were new (keys are cut to 200 characters)."""
    if not items:
        return set()
    table = Notification._meta.db_table
    now = timezone.now()
    rows: list[str] = []
    params: list[Any] = []
    for item in items:
        rows.append("(%s, %s, %s, %s, %s, %s)")
        data = json.dumps(item.data, cls=DjangoJSONEncoder)
        params += [item.member_id, item.kind, kind_category(item.kind), data, item.idempotency_key[:200], now]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (member_id, kind, category, data, idempotency_key, created_at)"  # noqa: S608
            f" VALUES {', '.join(rows)} ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key",
            params,
        )
        new = cursor.fetchall()
    if send and new:
        notifications_send_on_commit([pk for pk, _ in new])
    return {key for _, key in new}


def notifications_send_on_commit(notification_ids: list[int]) -> None:
    """Queue `notifications_send_task` for the ids in the current schema once the
    transaction commits (nothing is queued if it rolls back)."""
    from .tasks import notifications_send_task

    schema, ids = current_schema_name(), list(notification_ids)
    transaction.on_commit(lambda: notifications_send_task.apply_async(args=[ids], headers={"_schema_name": schema}))


# --- choosing the channel ----------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelChoice:
    """Where a notification goes: `channel` (a `Channel`, or "" when suppressed with
    `reason`) and `recipient` (email address, phone number, or "<n> devices")."""

    channel: str
    recipient: str = ""
    reason: str = ""


def notification_channel(
    notification: Notification,
    *,
    member: Member,
    preference: NotificationPreference | None,
    tokens: list[str],
    config: MessagingSettings,
) -> ChannelChoice:
    """The channel `notification` goes out on, by the member's preference for its
    category (defaults: email for transactional and reminders, marketing off) and what
    is usable: an email address, a phone number and a configured SMS / WhatsApp backend
    not opted out of (STOP), or registered devices and a configured push backend.
    Transactional messages are never switched off: when the choice is off or unusable
    they fall back to email. Returns the channel, or "" with the suppression reason
    (`opted_out`, `no_contact`)."""
    category = notification.category or kind_category(notification.kind)
    preference = preference or NotificationPreference(member=member)
    wanted = preference.channel_for(category)
    transactional = category == Category.TRANSACTIONAL
    opted_out = (wanted == Channel.SMS and preference.sms_opted_out_at) or (
        wanted == Channel.WHATSAPP and preference.whatsapp_opted_out_at
    )
    if wanted == Channel.NONE or opted_out:
        if not transactional:
            return ChannelChoice("", reason=Reason.OPTED_OUT)
        wanted = Channel.EMAIL
    recipient = _recipient(wanted, member=member, tokens=tokens, config=config)
    if recipient:
        return ChannelChoice(wanted, recipient)
    if transactional and wanted != Channel.EMAIL and member.email:
        return ChannelChoice(Channel.EMAIL, member.email)
    return ChannelChoice("", reason=Reason.NO_CONTACT)


def _recipient(channel: str, *, member: Member, tokens: list[str], config: MessagingSettings) -> str:
    if channel == Channel.EMAIL:
        return member.email or ""
    if channel in (Channel.SMS, Channel.WHATSAPP):
        phone = str(member.phone or "")
        return phone if phone and backends.sms_backend().configured(config, channel) else ""
    if channel == Channel.PUSH:
        return f"{len(tokens)} devices" if tokens and backends.push_backend().configured(config) else ""
    return ""


def quiet_hours_end(now: datetime.datetime, *, tz: datetime.tzinfo) -> datetime.datetime | None:
    """When quiet hours (21:00-08:00 gym-local) end, if `now` falls in them, else None.
    Returns a UTC datetime (08:00 gym-local, the same or the next day)."""
    local = now.astimezone(tz)
    if QUIET_END <= local.time() < QUIET_START:
        return None
    day = local.date() if local.time() < QUIET_END else local.date() + datetime.timedelta(days=1)
    return datetime.datetime.combine(day, QUIET_END, tzinfo=tz).astimezone(datetime.UTC)


def _stale_by(notification: Notification, moment: datetime.datetime) -> bool:
    """True when a held-back message would be stale at `moment`: later than its
    reference time (data `starts_at`, else `due_at`; ISO) plus its kind's
    `stale_after_minutes` (a class reminder is stale once the class has started)."""
    kind = KINDS.get(notification.kind)
    data = notification.data or {}
    reference = data.get("starts_at") or data.get("due_at")
    if kind is None or kind.stale_after_minutes is None or not reference:
        return False
    try:
        at = datetime.datetime.fromisoformat(str(reference))
    except ValueError:
        return False
    if at.tzinfo is None:
        at = at.replace(tzinfo=datetime.UTC)
    return moment > at + datetime.timedelta(minutes=kind.stale_after_minutes)


# --- sending -----------------------------------------------------------------------------------


@dataclass
class SendCounts:
    """What `notifications_send` did: sent, failed, suppressed, held back (quiet hours
    or a retry later), and not claimed (already taken, not due, or not pending)."""

    sent: int = 0
    failed: int = 0
    suppressed: int = 0
    held: int = 0
    skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts, for logs and task results."""
        return dict(self.__dict__)


# Outcomes are written in batches of this many (one UPDATE ... FROM VALUES each): a
# worker that dies loses at most this many "sent" records, and those are failed as
# stuck, never sent twice.
WRITE_EVERY = 50
_WRITTEN = ["status", "reason", "channel", "recipient", "provider_id", "subject", "error", "attempts"]
_WRITTEN += ["scheduled_for", "sent_at", "failed_at"]


def notifications_send(notification_ids: Sequence[int], *, now: datetime.datetime | None = None) -> SendCounts:
    """Send the pending, due notifications among `notification_ids` in the current gym
    (see the module docstring), each exactly once. Returns the counts. Provider errors
    never raise: they end in the notification's status. Ones held back for a retry are
    counted in `held`; the caller (`notifications_send_task`) queues their retry.
    A handful of statements per batch: the claim, one read of the notifications with
    their members and preferences, one of the devices, and the outcomes written
    `WRITE_EVERY` at a time; the gym's schema is set once (`search_path_cached`)."""
    now = now or timezone.now()
    with search_path_cached():
        return _send(list(notification_ids), now=now)


def _send(notification_ids: list[int], *, now: datetime.datetime) -> SendCounts:
    counts = SendCounts()
    claimed = _claim(notification_ids, now=now)
    counts.skipped = len(set(notification_ids)) - len(claimed)
    if not claimed:
        return counts
    gym = current_gym()
    prefetch_related_objects([gym], "domains")  # links in every message name the gym's host
    tz = gym_tzinfo(gym)
    config = messaging_settings()
    notifications = list(
        Notification.objects.filter(pk__in=claimed)
        .select_related("member", "member__notification_preference")
        .order_by("pk")
    )
    tokens: dict[int, list[str]] = {}
    devices = Device.objects.filter(member_id__in={n.member_id for n in notifications})
    for member_id, token in devices.values_list("member_id", "token"):
        tokens.setdefault(member_id, []).append(token)
    done: list[Notification] = []
    for notification in notifications:
        outcome = _send_one(
            notification, gym=gym, tz=tz, config=config, tokens=tokens.get(notification.member_id, []), now=now
        )
        setattr(counts, outcome, getattr(counts, outcome) + 1)
        done.append(notification)
        if len(done) >= WRITE_EVERY:
            pgbulk.update(Notification, done, _WRITTEN)
            done = []
    pgbulk.update(Notification, done, _WRITTEN)
    return counts


def _claim(ids: list[int], *, now: datetime.datetime) -> list[int]:
    """Take the pending, due notifications among `ids` (pending -> sending, attempts + 1)
    in one statement; returns the ids taken. Another worker's claim makes a row skip."""
    if not ids:
        return []
    table = Notification._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, attempts = attempts + 1, claimed_at = %s"  # noqa: S608 (own table)
            " WHERE id = ANY(%s) AND status = %s AND (scheduled_for IS NULL OR scheduled_for <= %s) RETURNING id",
            [Status.SENDING, now, ids, Status.PENDING, now],
        )
        return [pk for (pk,) in cursor.fetchall()]


def _preference(member: Member) -> NotificationPreference | None:
    try:
        return member.notification_preference
    except NotificationPreference.DoesNotExist:
        return None


def _send_one(
    notification: Notification,
    *,
    gym: Gym,
    tz: datetime.tzinfo,
    config: MessagingSettings,
    tokens: list[str],
    now: datetime.datetime,
) -> str:
    """Send one claimed notification; returns the `SendCounts` field it counts in."""
    member = notification.member
    choice = notification_channel(
        notification, member=member, preference=_preference(member), tokens=tokens, config=config
    )
    if not choice.channel:
        _finish(notification, status=Status.SUPPRESSED, reason=choice.reason)
        return "suppressed"
    transactional = notification.category == Category.TRANSACTIONAL
    if choice.channel in QUIET_CHANNELS and not transactional and (until := quiet_hours_end(now, tz=tz)):
        if _stale_by(notification, until):
            _finish(notification, status=Status.SUPPRESSED, reason=Reason.QUIET_HOURS, channel=choice.channel)
            return "suppressed"
        _hold(notification, until=until, error="", attempts_back=True)
        return "held"
    try:
        provider_id, subject = _deliver(notification, choice=choice, gym=gym, config=config, tokens=tokens)
    except backends.PermanentSendError as exc:
        if invalid := getattr(exc, "invalid_tokens", None):  # every device token was unregistered
            Device.objects.filter(token__in=invalid).delete()
        _finish(notification, status=Status.FAILED, error=str(exc), channel=choice.channel, recipient=choice.recipient)
        return "failed"
    except Exception as exc:  # transient (network, 5xx, 429, SMTP) or a bug: retry, then fail
        logger.warning("notification %s (%s) not sent: %s", notification.pk, notification.kind, exc)
        error = f"{type(exc).__name__}: {exc}"
        if notification.attempts >= MAX_ATTEMPTS:
            _finish(notification, status=Status.FAILED, error=error, channel=choice.channel, recipient=choice.recipient)
            return "failed"
        delay = datetime.timedelta(seconds=BACKOFF_SECONDS * 4 ** (notification.attempts - 1))
        _hold(notification, until=now + delay, error=error, attempts_back=False)
        return "held"
    _finish(
        notification,
        status=Status.SENT,
        channel=choice.channel,
        recipient=choice.recipient,
        provider_id=provider_id,
        subject=subject,
    )
    return "sent"


def _deliver(
    notification: Notification, *, choice: ChannelChoice, gym: Gym, config: MessagingSettings, tokens: list[str]
) -> tuple[str, str]:
    """Render and hand the message to the channel's backend; returns (provider id,
    subject). Raises `backends.PermanentSendError`, or anything else for a transient
    error."""
    from .emails import notification_email
    from .rendering import notification_render

    member = notification.member
    rendered = notification_render(notification, member=member, gym=gym, config=config, channel=choice.channel)
    if choice.channel == Channel.EMAIL:
        message = notification_email(notification, member=member, gym=gym, config=config, rendered=rendered)
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as exc:
            raise backends.PermanentSendError(f"recipient refused: {exc.recipients}") from exc
        status = getattr(message, "anymail_status", None)  # django-anymail's provider message id
        return str(getattr(status, "message_id", "") or ""), rendered.subject
    if choice.channel in (Channel.SMS, Channel.WHATSAPP):
        template = (
            (config.whatsapp_templates or {}).get(notification.kind, "") if choice.channel == Channel.WHATSAPP else ""
        )
        text = backends.TextMessage(
            to=choice.recipient,
            body=rendered.short,
            template_sid=template,
            template_variables=rendered.template_variables if template else {},
        )
        sms = backends.sms_backend()
        result = (
            sms.send_sms(text, config=config)
            if choice.channel == Channel.SMS
            else sms.send_whatsapp(text, config=config)
        )
        return result.provider_id, ""
    push = backends.PushMessage(
        tokens=tokens,
        title=rendered.subject,
        body=rendered.short,
        data={"kind": notification.kind, "notification_id": str(notification.pk)},
    )
    result = backends.push_backend().send_push(push, config=config)
    if result.invalid_tokens:
        Device.objects.filter(token__in=result.invalid_tokens).delete()
    return result.provider_id, rendered.subject


_TEXT_LIMITS = {"error": 500, "provider_id": 120, "subject": 200, "recipient": 254}  # the fields' max_length


def _finish(notification: Notification, *, status: str, **fields: str) -> None:
    """Set the final outcome on the claimed `notification` (written by `_send`)."""
    now = timezone.now()
    notification.status, notification.scheduled_for = status, None
    if status == Status.SENT:
        notification.sent_at, notification.error = now, ""
    elif status == Status.FAILED:
        notification.failed_at = now
    for name, value in fields.items():
        setattr(notification, name, str(value)[: _TEXT_LIMITS.get(name, 500)])


def _hold(notification: Notification, *, until: datetime.datetime, error: str, attempts_back: bool) -> None:
    """Back to pending until `until` (a retry, or the end of quiet hours, which does not
    count as an attempt); written by `_send`."""
    notification.status, notification.scheduled_for, notification.error = Status.PENDING, until, error[:500]
    if attempts_back:
        notification.attempts -= 1


def notifications_due(*, now: datetime.datetime | None = None, lost_after_seconds: int = 120) -> list[int]:
    """Ids of pending notifications to send now: held back until a moment that has
    come (quiet hours, retries), or never queued (recorded more than
    `lost_after_seconds` ago and still pending with no schedule: its task was lost)."""
    from django.db.models import Q

    now = now or timezone.now()
    lost = now - datetime.timedelta(seconds=lost_after_seconds)
    due = Notification.objects.filter(status=Status.PENDING).filter(
        Q(scheduled_for__lte=now) | Q(scheduled_for__isnull=True, created_at__lt=lost)
    )
    return list(due.order_by("pk").values_list("pk", flat=True)[:5000])


def notifications_stuck_fail(*, now: datetime.datetime | None = None) -> int:
    """Fail notifications left `sending` for more than 15 minutes (their worker died).
    They are not sent again: the provider may already have sent them, and a member must
    never get a message twice. Returns how many."""
    now = now or timezone.now()
    stuck = Notification.objects.filter(status=Status.SENDING, claimed_at__lt=now - STUCK_AFTER)
    return stuck.update(status=Status.FAILED, failed_at=now, error="The worker stopped while sending; not retried.")


def notifications_retry_at(notification_ids: Sequence[int]) -> dict[int, datetime.datetime]:
    """When each held-back notification among the ids is due again (UTC)."""
    held = Notification.objects.filter(pk__in=notification_ids, status=Status.PENDING, scheduled_for__isnull=False)
    return {pk: when for pk, when in held.values_list("pk", "scheduled_for") if when is not None}


__all__ = [
    "ChannelChoice",
    "NotificationInput",
    "SendCounts",
    "notification_channel",
    "notification_record",
    "notifications_due",
    "notifications_record",
    "notifications_retry_at",
    "notifications_send",
    "notifications_send_on_commit",
    "notifications_stuck_fail",
    "quiet_hours_end",
]
