"""Reads of notifications, members' channel preferences and the gym's messaging
settings, in the current gym's schema (the log page, the member page's Notifications
tab, the member API and the sending pipeline).

Timestamps are stored in UTC; a date filter is a gym-local calendar day (the caller
activates the gym's timezone, as every request and task does).
"""

from __future__ import annotations

import datetime

from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.members.models import Member

from .kinds import KINDS
from .models import MessagingSettings, Notification, NotificationPreference


def _day_start(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of `day` in the current (gym's) timezone, timezone-aware."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def notification_log(
    *,
    query: str = "",
    status: str = "",
    channel: str = "",
    kind: str = "",
    category: str = "",
    created_from: datetime.date | None = None,
    created_to: datetime.date | None = None,
    member_id: int | None = None,
) -> QuerySet[Notification]:
    """Every notification of the gym, newest first (`created_at`, then id), each with
    its member (one query for any page).

    Filters, all optional: `query` (every word must match the member's first or last
    name or email, or the kind), `status` (a `Notification.Status` value), `channel` (a
    `Channel` value), `kind` (a key of `KINDS`, exact), `category` (a `Category`
    value), `created_from` / `created_to` (gym-local dates, inclusive), `member_id`.
    The date range compares `created_at` with the days' bounds, so the
    (member, -created_at) index still serves a member's log.
    """
    notifications = Notification.objects.select_related("member")
    for word in query.split():
        notifications = notifications.filter(
            Q(member__first_name__icontains=word)
            | Q(member__last_name__icontains=word)
            | Q(member__email__icontains=word)
            | Q(kind__icontains=word)
        )
    exact = {"status": status, "channel": channel, "kind": kind, "category": category}
    notifications = notifications.filter(**{name: value for name, value in exact.items() if value})
    if created_from:
        notifications = notifications.filter(created_at__gte=_day_start(created_from))
    if created_to:
        notifications = notifications.filter(created_at__lt=_day_start(created_to + datetime.timedelta(days=1)))
    if member_id is not None:
        notifications = notifications.filter(member_id=member_id)
    return notifications.order_by("-created_at", "-id")


def member_notifications(*, member: Member, unread: bool | None = None) -> QuerySet[Notification]:
    """`member`'s notifications, newest first: their in-app list (the API) and the
    member page's tab. `unread`: True for unread only (`read_at` empty), False for
    read only, None for all."""
    notifications = Notification.objects.filter(member=member)
    if unread is not None:
        notifications = notifications.filter(read_at__isnull=unread)
    return notifications.order_by("-created_at", "-id")


def member_preferences(*, member: Member) -> NotificationPreference:
    """`member`'s channel preferences: their row, or an unsaved one with the defaults
    (email for transactional and reminders, marketing off, no opt-outs) when they never
    chose. One query."""
    found = NotificationPreference.objects.filter(member=member).first()
    return found if found is not None else NotificationPreference(member=member)


def notification_kind_choices() -> list[tuple[str, str]]:
    """`(kind, label)` for every known kind, sorted by name (the log's kind filter)."""
    return [(name, name.replace("_", " ").capitalize()) for name in sorted(KINDS)]


def messaging_settings() -> MessagingSettings:
    """The gym's one `MessagingSettings` row, created with the model's defaults when the
    gym has none yet. One query once it exists.

    The first creation holds a transaction-scoped advisory lock named after the schema,
    so two requests racing to create it make one row, not two."""
    found = MessagingSettings.objects.order_by("pk").first()
    if found is not None:
        return found
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))",
                [f"{connection.schema_name}:notifications.messaging_settings"],  # type: ignore[attr-defined]
            )
        found = MessagingSettings.objects.order_by("pk").first()
        return found if found is not None else MessagingSettings.objects.create()
