"""The live layer of the front desk (DESIGN.md section 4): what services broadcast to
the desks and member apps, through the channel layer (channels-redis).

Two groups per gym, named by `apps.core.channels.gym_group_name` (schema first):
- `occupancy.<schema>`: `{"type": "occupancy.update", "occupancy": {count, capacity,
  level, as_of}}`. Staff desks and members' apps; a number, never a name.
- `checkins.<schema>`: `{"type": "checkin.event", "event": "checked_in" | "checked_out",
  "check_in": {...}, "occupancy": {...}}`. Staff only (names and photos).

Broadcasts are queued with `transaction.on_commit`, so nobody hears of a check-in
that rolled back. The callback counts the occupancy inside the gym's own
`tenant_context` (the outermost commit may happen after the caller left the gym's
schema) and is registered `robust`, so nothing that fails after the commit can turn a
saved check-in into an error for the desk. If Redis is unreachable or hangs, the send
is skipped with a logged warning after at most `SEND_TIMEOUT_SECONDS`, and the pages,
which poll every 15 s while their socket is down, catch up.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django_tenants.utils import tenant_context

from apps.core.channels import gym_group_name
from apps.tenants.models import Gym

from .models import CheckIn
from .selectors import occupancy_now

logger = logging.getLogger(__name__)

OCCUPANCY_TOPIC = "occupancy"
CHECKINS_TOPIC = "checkins"
SEND_TIMEOUT_SECONDS = 1.0
"""A desk must not hang on a dead Redis: give up on the broadcast after 1 s."""


def check_in_payload(check_in: CheckIn) -> dict[str, Any]:
    """The staff feed's view of a check-in (member and membership plan loaded)."""
    member = check_in.member
    membership = check_in.membership
    return {
        "id": check_in.pk,
        "member_id": member.pk,
        "member_name": member.full_name,
        "photo_url": member.photo.url if member.photo else "",
        "plan": membership.plan.name if membership is not None else "",
        "method": check_in.method,
        "checked_in_at": check_in.checked_in_at.isoformat(),
        "checked_out_at": check_in.checked_out_at.isoformat() if check_in.checked_out_at else None,
    }


def _send(messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Send `(group, message)` pairs on the channel layer, giving up (with a warning)
    after `SEND_TIMEOUT_SECONDS` in all or on any error."""
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        async def sends() -> None:
            for group, message in messages:
                await layer.group_send(group, message)

        await asyncio.wait_for(sends(), SEND_TIMEOUT_SECONDS)

    try:
        async_to_sync(send_all)()
    except Exception as exc:  # Redis down must never undo a saved check-in
        logger.warning("live update skipped (channel layer unavailable): %s: %s", type(exc).__name__, exc)


def _occupancy_message(gym: Gym) -> dict[str, Any]:
    """The gym's occupancy now, counted in its schema whatever schema is active."""
    with tenant_context(gym):
        return occupancy_now(gym=gym).as_dict()


def check_in_broadcast(*, gym: Gym, check_in: CheckIn, event: str) -> None:
    """On commit, tell the gym's desks about `check_in` (`event` checked_in or
    checked_out) and everyone watching occupancy about the new count."""
    payload = check_in_payload(check_in)

    def send() -> None:
        occupancy = _occupancy_message(gym)
        _send(
            [
                (
                    gym_group_name(gym, CHECKINS_TOPIC),
                    {"type": "checkin.event", "event": event, "check_in": payload, "occupancy": occupancy},
                ),
                (gym_group_name(gym, OCCUPANCY_TOPIC), {"type": "occupancy.update", "occupancy": occupancy}),
            ]
        )

    transaction.on_commit(send, robust=True)


def occupancy_broadcast(*, gym: Gym) -> None:
    """On commit, send the gym's new occupancy to desks and members' apps (after the
    automatic check-out, which changes many rows at once)."""

    def send() -> None:
        occupancy = _occupancy_message(gym)
        _send(
            [
                (
                    gym_group_name(gym, CHECKINS_TOPIC),
                    {"type": "checkin.event", "event": "occupancy", "check_in": None, "occupancy": occupancy},
                ),
                (gym_group_name(gym, OCCUPANCY_TOPIC), {"type": "occupancy.update", "occupancy": occupancy}),
            ]
        )

    transaction.on_commit(send, robust=True)
