"""Recording notifications. Sending arrives with the notifications issue."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.members.models import Member

from .models import Notification


@transaction.atomic
def notification_record(
    *, member: Member, kind: str, idempotency_key: str, data: dict[str, Any] | None = None
) -> Notification:
    """Record that `member` is due a `kind` notification, once per `idempotency_key`
    (e.g. `waitlist_promoted:booking:42`). Returns the existing row on a repeat."""
    notification, _ = Notification.objects.get_or_create(
        idempotency_key=idempotency_key[:200], defaults={"member": member, "kind": kind, "data": data or {}}
    )
    return notification
