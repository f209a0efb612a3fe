"""Recording notifications. Sending arrives with the notifications issue."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.utils import timezone

from apps.members.models import Member

from .models import Notification


def notification_record(*, member: Member, kind: str, idempotency_key: str, data: dict[str, Any] | None = None) -> bool:
    """Record that `member` is due a `kind` notification, once per `idempotency_key`
    (e.g. `waitlist_promoted:booking:42`). One `INSERT … ON CONFLICT DO NOTHING`, so it
    is cheap inside a booking transaction. Returns True when a new row was recorded."""
    return bool(notifications_record([NotificationInput(member.pk, kind, idempotency_key, data or {})]))


@dataclass(frozen=True)
class NotificationInput:
    """One notification to record: the member's id, the `kind`, the idempotency key
    (kind, object, scheduled time) and the template's JSON `data`."""

    member_id: int
    kind: str
    idempotency_key: str
    data: dict[str, Any] = field(default_factory=dict)


def notifications_record(items: Sequence[NotificationInput]) -> set[str]:
    """Record many notifications with one `INSERT … ON CONFLICT DO NOTHING` (the billing
    run records one per invoice of a batch). Each key is recorded at most once, ever.
    Returns the idempotency keys that were new (keys are cut to 200 characters)."""
    if not items:
        return set()
    table = Notification._meta.db_table
    now = timezone.now()
    rows: list[str] = []
    params: list[Any] = []
    for item in items:
        rows.append("(%s, %s, %s, %s, %s)")
        params += [
            item.member_id,
            item.kind,
            json.dumps(item.data, cls=DjangoJSONEncoder),
            item.idempotency_key[:200],
            now,
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (member_id, kind, data, idempotency_key, created_at)"  # noqa: S608 (model's own table)
            f" VALUES {', '.join(rows)} ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key",
            params,
        )
        return {key for (key,) in cursor.fetchall()}
