"""Websocket consumers of the front desk (DESIGN.md section 4).

- `OccupancyConsumer` at `/ws/occupancy/`: anyone with a role at the gym (staff by
  session cookie; members' apps by their API access token, sent as
  `Authorization: Bearer <token>` or, for clients that cannot set headers, the
  `token` query parameter). It sends `{"type": "occupancy", count, capacity, level,
  as_of}` on connect and on every change: a number, never a name.
- `CheckInFeedConsumer` at `/ws/check-ins/`: receptionist or higher. It sends
  `{"type": "occupancy", ...}` on connect, then `{"type": "check_in", "event",
  "check_in", "occupancy"}` for every check-in and check-out.

The gym comes from `scope["tenant"]` (set by `GymWebsocketMiddleware`); every ORM
call runs through `gym_database_sync_to_async`. A socket that may not listen is
accepted and at once closed with code 4401 (no valid login: log in again or refresh
the token) or 4403 (no role here, or the role is too low), before it joins any group
or hears anything. Accepting first is what lets the code reach the client: a close
before the handshake completes is an HTTP 403 on the wire (ASGI spec), whatever the
code. Clients only listen; text frames other than `{"type": "ping"}` are ignored.

The channel layer is channels-redis' pub/sub layer (settings CHANNEL_LAYERS): a group
is a Redis pub/sub channel with no expiry, so a desk of a 24-hour gym that stays open
for days keeps hearing (the core layer forgets a group member after `group_expiry`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import AccessToken

from apps.accounts.tokens import token_gym
from apps.core.channels import gym_database_sync_to_async, gym_group_name
from apps.staff.access import check_gym_role
from apps.staff.errors import GymAccessDenied
from apps.staff.roles import Role
from apps.tenants.models import Gym

from .live import CHECKINS_TOPIC, OCCUPANCY_TOPIC
from .selectors import occupancy_now

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
OCCUPANCY_FIELDS = ("count", "capacity", "level", "as_of")
"""All an occupancy message carries (members hear it too): numbers, never a name."""
"""An open socket re-joins its group hourly (channels-redis' group_expiry is 24 h)."""


def _bearer_token(scope: dict[str, Any]) -> str | None:
    """The API access token of the handshake: `Authorization: Bearer <token>`, else
    the `token` query parameter, else None."""
    headers = dict(scope.get("headers") or [])
    auth = headers.get(b"authorization", b"").decode("latin1")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    return (query.get("token") or [None])[0]


@gym_database_sync_to_async
def _role_for(gym: Gym, user: Any, raw_token: str | None, minimum: Role) -> tuple[int | None, str]:
    """(close code or None, reason): the session user, else the API token's user,
    must hold `minimum` at `gym`. A token of another gym is refused."""
    if not getattr(user, "is_authenticated", False) and raw_token:
        try:
            token = AccessToken(raw_token)  # type: ignore[arg-type]
        except TokenError:
            return CLOSE_UNAUTHENTICATED, "invalid token"
        if token_gym(token) != gym.schema_name:
            return CLOSE_UNAUTHENTICATED, "token_wrong_gym"
        user_id = token.get(jwt_settings.USER_ID_CLAIM)
        user = (
            get_user_model().objects.filter(**{jwt_settings.USER_ID_FIELD: user_id}, is_active=True).first()
            if user_id is not None
            else None
        ) or AnonymousUser()
    try:
        check_gym_role(user=user, minimum=minimum)
    except GymAccessDenied as exc:
        code = CLOSE_UNAUTHENTICATED if exc.code == "not_authenticated" else CLOSE_FORBIDDEN
        return code, exc.code
    return None, ""


@gym_database_sync_to_async
def _occupancy(gym: Gym) -> dict[str, Any]:
    return occupancy_now(gym=gym).as_dict()


class _GymConsumer(AsyncJsonWebsocketConsumer):
    """Checks the role on connect, joins the gym's group, sends the occupancy."""

    minimum_role: Role = Role.MEMBER
    topic: str = OCCUPANCY_TOPIC
    groups: list[str] = []

    GROUP_EVENTS = frozenset({"checkin.event", "occupancy.update"})
    """Channel-layer events whose handlers only forward the message to the socket."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Group events go straight to their handler. Channels (4.2+) first runs
        `aclose_old_connections()` on its single sync thread before every handler, so one
        check-in broadcast to N sockets made N hops in a row through that thread; these
        handlers never touch the database, and skipping the hop took one process from
        250-500 to 1000-1500 dashboards at scan p95 <= 250 ms (bench/checkin_live.py)."""
        if message["type"] in self.GROUP_EVENTS:
            await getattr(self, get_handler_name(message))(message)
            return
        await super().dispatch(message)

    async def connect(self) -> None:
        gym: Gym = self.scope["tenant"]
        close_code, _reason = await _role_for(gym, self.scope.get("user"), _bearer_token(self.scope), self.minimum_role)
        if close_code is not None:
            await self.accept()
            await self.close(code=close_code)
            return
        self.group = gym_group_name(gym, self.topic)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "occupancy", **(await _occupancy(gym))})

    async def disconnect(self, code: int) -> None:
        """Leave the gym's group (a refused socket never joined one)."""
        group = getattr(self, "group", None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """Clients only listen; a text frame `{"type": "ping"}` gets the occupancy back
        (a reconnecting page catching up). Anything else, binary frames and text that
        is not JSON included, is ignored rather than closing the socket with an error."""
        try:
            content = json.loads(text_data) if text_data else None
        except ValueError:
            return
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "occupancy", **(await _occupancy(self.scope["tenant"]))})

    async def occupancy_update(self, message: dict[str, Any]) -> None:
        """`occupancy.update` from `live.py` -> `{"type": "occupancy", count,
        capacity, level, as_of}` (only those fields, whatever the message holds)."""
        occupancy = message["occupancy"]
        await self.send_json({"type": "occupancy", **{k: occupancy[k] for k in OCCUPANCY_FIELDS}})


class OccupancyConsumer(_GymConsumer):
    """`/ws/occupancy/`: the crowd level for staff and members (counts only)."""

    minimum_role = Role.MEMBER
    topic = OCCUPANCY_TOPIC


class CheckInFeedConsumer(_GymConsumer):
    """`/ws/check-ins/`: the live check-in feed for the desks (receptionist and up)."""

    minimum_role = Role.RECEPTIONIST
    topic = CHECKINS_TOPIC

    async def checkin_event(self, message: dict[str, Any]) -> None:
        """`checkin.event` from `live.py` -> `{"type": "check_in", "event":
        checked_in | checked_out | occupancy, "check_in": {...} or None, "occupancy"}`."""
        await self.send_json(
            {
                "type": "check_in",
                "event": message["event"],
                "check_in": message["check_in"],
                "occupancy": message["occupancy"],
            }
        )
