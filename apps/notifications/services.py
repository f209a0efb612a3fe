"""Recording notifications. Sending arrives with the notifications issue."""

from __future__ import annotations

import json
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
    table = Notification._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (member_id, kind, data, idempotency_key, created_at)"  # noqa: S608 (model's own table)
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            [member.pk, kind, json.dumps(data or {}, cls=DjangoJSONEncoder), idempotency_key[:200], timezone.now()],
        )
        return cursor.fetchone() is not None
