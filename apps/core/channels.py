"""Tenancy for websockets (DESIGN.md section 4).

django-tenants' middleware never runs for websockets (django-tenants #767, #931,
#1143), so `GymWebsocketMiddleware` resolves the gym from the Host header and puts
it in `scope["tenant"]`, and every ORM call in a consumer goes through
`gym_database_sync_to_async`, which runs it inside that gym's `tenant_context`.
Channels' sync executor is one shared thread, so a schema left set bare would
leak into the next gym's call.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.utils.module_loading import import_string
from django_tenants.utils import remove_www, schema_context, tenant_context

from apps.tenants.models import Domain, Gym


def _gym_for_host(host: str) -> Gym | None:
    with schema_context(settings.PUBLIC_SCHEMA_NAME):
        domain = Domain.objects.select_related("tenant").filter(domain=host).first()
        return domain.tenant if domain else None


class GymWebsocketMiddleware:
    """Outer ASGI middleware: `scope["tenant"]` = the gym of the Host header.

    Unknown hosts, the public host and suspended gyms are refused (the socket is
    closed before the inner app runs).
    """

    def __init__(self, inner: Any):
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> Any:
        headers = dict(scope.get("headers") or [])
        host = remove_www(headers.get(b"host", b"").decode("latin1").split(":")[0])
        gym = await database_sync_to_async(_gym_for_host)(host)
        if gym is None or gym.is_public or gym.is_suspended:
            await send({"type": "websocket.close", "code": 4404})
            return None
        return await self.inner(dict(scope, tenant=gym), receive, send)


class BrowserOriginValidator(OriginValidator):
    """Channels' Origin check (cross-site websocket hijacking), but a handshake with
    no Origin header is let through: browsers always send one, so a page on another
    site is still refused, while members' native apps (which authenticate with their
    API token and usually send no Origin) can connect."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or bool(super().valid_origin(parsed_origin))


def allowed_hosts_origin_validator(application: Any) -> BrowserOriginValidator:
    """`BrowserOriginValidator` over settings.ALLOWED_HOSTS (localhost in DEBUG when
    the setting is empty), like channels' `AllowedHostsOriginValidator`."""
    allowed_hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed_hosts)


def gym_database_sync_to_async(func: Callable[..., Any]) -> Callable[..., Any]:
    """Like `database_sync_to_async`, but the wrapped function's first argument is
    the gym, and the body runs inside `tenant_context(gym)`."""

    @wraps(func)
    def in_gym(gym: Gym, *args: Any, **kwargs: Any) -> Any:
        with tenant_context(gym):
            return func(gym, *args, **kwargs)

    return database_sync_to_async(in_gym)


def gym_group_name(gym: Gym, topic: str) -> str:
    """A channel-layer group for one gym, `<topic>.<schema>` (under 100 characters)."""
    name = f"{topic}.{gym.schema_name}"
    if len(name) >= 100:
        raise ValueError("Channel group names must be under 100 characters.")
    return name


def websocket_urlpatterns() -> list[Any]:
    """Every app's websocket routes, from settings.WEBSOCKET_ROUTING_MODULES."""
    patterns: list[Any] = []
    for module in settings.WEBSOCKET_ROUTING_MODULES:
        patterns += import_string(f"{module}.websocket_urlpatterns")
    return patterns
