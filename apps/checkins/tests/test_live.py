"""The live layer (`live.py`) for real: two gyms on a real ASGI server with real
websocket clients, the groups and the commit it broadcasts on, and a check-in desk
that keeps working when Redis is down or hangs.

The real-server test runs `uvicorn fitflow.asgi:application` in a subprocess (the
`asgi_server` fixture) with clients of the `websockets` library. The server reads
committed rows only, so it uses two gyms provisioned for this module, seeded in
autocommit and dropped afterwards with their schemas (and the users, sessions and
tokens made for them), which leaves the session gyms A and B untouched.
"""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_exists, tenant_context
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect
from websockets.typing import Origin

from apps.accounts.models import User
from apps.accounts.tests.factories import TEST_PASSWORD
from apps.accounts.tokens import gym_refresh_token_for
from apps.bookings.tests.test_concurrency import provision_with_retry
from apps.checkins import live
from apps.checkins.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from apps.checkins.models import CheckIn
from apps.checkins.services import checkin_create
from apps.core.channels import gym_group_name
from apps.core.tests.servers import LiveServer, free_port
from apps.members.models import Member
from apps.staff.roles import Role
from apps.staff.services import staff_role_assign
from apps.tenants.models import Domain, Gym

from .factories import NOW, active_member

RECEIVE_TIMEOUT_S = 10  # a bound for a message that must come, not a timing assertion
OCCUPANCY_KEYS = {"type", "count", "capacity", "level", "as_of"}


# --- two gyms on a real server -----------------------------------------------------------


@dataclass
class LiveGym:
    """A provisioned gym with committed people: a receptionist's session cookie, a
    member's API access token, and members on active memberships to check in."""

    gym: Gym
    host: str  # without the port
    desk_cookie: str
    member_token: str
    member_ids: list[int]


def _seed(gym: Gym, label: str, users: list[User]) -> tuple[str, str, list[int]]:
    desk = User.objects.create_user(f"desk-{label}@fitflow.test", TEST_PASSWORD)
    member_user = User.objects.create_user(f"member-{label}@fitflow.test", TEST_PASSWORD)
    users += [desk, member_user]
    with tenant_context(gym):
        staff_role_assign(user=desk, role=Role.RECEPTIONIST)
        active_member(member=Member.objects.create(user=member_user, first_name="App", last_name=f"User {label}"))
        member_ids = [
            active_member(member=Member.objects.create(first_name=f"Visitor{i}", last_name=f"Of {label}")).member.pk
            for i in range(2)
        ]
        token = str(gym_refresh_token_for(user=member_user).access_token)
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    client = Client()
    client.force_login(desk)
    return client.cookies[settings.SESSION_COOKIE_NAME].value, token, member_ids


@pytest.fixture(scope="module")
def live_gyms(asgi_server: LiveServer, django_db_blocker) -> Iterator[tuple[LiveGym, LiveGym]]:
    """Two running gyms, committed; dropped with their schemas afterwards, and their
    users, sessions and API tokens deleted."""
    suffix = uuid.uuid4().hex[:6]
    slugs = [f"live-a-{suffix}", f"live-b-{suffix}"]
    users: list[User] = []
    cookies: list[str] = []
    gyms: list[LiveGym] = []
    try:
        with django_db_blocker.unblock():
            for slug in slugs:
                gym = provision_with_retry(
                    name=f"Live {slug}", slug=slug, timezone="Europe/London", currency="GBP", status=Gym.Status.ACTIVE
                )
                cookie, token, member_ids = _seed(gym, slug, users)
                cookies.append(cookie)
                gyms.append(LiveGym(gym, gym.domains.get(is_primary=True).domain, cookie, token, member_ids))
        yield gyms[0], gyms[1]
    finally:
        with django_db_blocker.unblock():
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            for gym in Gym.objects.filter(slug__in=slugs):
                Domain.objects.filter(tenant=gym).delete()
                gym.delete(force_drop=True)
            Session.objects.filter(session_key__in=cookies).delete()
            OutstandingToken.objects.filter(user__in=users).delete()
            User.objects.filter(pk__in=[u.pk for u in users]).delete()
            connection.set_schema_to_public()  # type: ignore[attr-defined]
            assert not Gym.objects.filter(slug__in=slugs).exists()
            assert not any(schema_exists(f"gym_{slug.replace('-', '_')}") for slug in slugs)
            assert not User.objects.filter(pk__in=[u.pk for u in users]).exists()


def open_socket(
    stack: ExitStack,
    server: LiveServer,
    host: str,
    path: str,
    *,
    cookie: str | None = None,
    token: str | None = None,
    query_token: str | None = None,
) -> ClientConnection:
    """A real websocket client on `host` (the gym's name; the TCP connection goes to the
    server's loopback port), as the gym's own page opens it: Origin is the gym's page.
    `token` goes in the Authorization header, `query_token` in `?token=`. `stack`
    closes it."""
    headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"} if cookie else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if query_token:
        path = f"{path}?{urlencode({'token': query_token})}"
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=RECEIVE_TIMEOUT_S)
    return stack.enter_context(
        ws_connect(
            f"ws://{host}:{server.port}{path}",
            sock=sock,
            origin=Origin(f"http://{host}:{server.port}"),
            additional_headers=headers,
            open_timeout=RECEIVE_TIMEOUT_S,
            proxy=None,
        )
    )


def receive(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=RECEIVE_TIMEOUT_S))


def close_code(ws: ClientConnection) -> int | None:
    """Wait for the server to close `ws`; the close code it sent."""
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=RECEIVE_TIMEOUT_S)
    return closed.value.rcvd.code if closed.value.rcvd else None


def check_in_committed(django_db_blocker, live_gym: LiveGym, member_id: int) -> CheckIn:
    """Check the member in at the gym through the service, committed (autocommit: the
    broadcast goes out as the service's transaction commits)."""
    with django_db_blocker.unblock(), tenant_context(live_gym.gym):
        result = checkin_create(member=Member.objects.get(pk=member_id), now=NOW)
        assert result.allowed, result.message
        assert result.check_in is not None
        return result.check_in


def test_two_gyms_on_a_real_server_hear_only_their_own_check_ins(
    asgi_server: LiveServer, live_gyms: tuple[LiveGym, LiveGym], django_db_blocker
) -> None:
    a, b = live_gyms
    sockets: list[ClientConnection] = []
    stack = ExitStack()

    def opened(live_gym: LiveGym, path: str, **auth: Any) -> ClientConnection:
        ws = open_socket(stack, asgi_server, live_gym.host, path, **auth)
        sockets.append(ws)
        return ws

    try:
        # Desks of A and B on their feeds and counters; A's member app on A's counter.
        feed_a = opened(a, "/ws/check-ins/", cookie=a.desk_cookie)
        feed_b = opened(b, "/ws/check-ins/", cookie=b.desk_cookie)
        counter_b = opened(b, "/ws/occupancy/", cookie=b.desk_cookie)
        app_a = opened(a, "/ws/occupancy/", token=a.member_token)
        for ws in sockets:
            first = receive(ws)
            assert (first["type"], first["count"]) == ("occupancy", 0)

        # A member checks in at gym A: A's desk and A's app hear it.
        check_in = check_in_committed(django_db_blocker, a, a.member_ids[0])
        event = receive(feed_a)
        assert (event["type"], event["event"]) == ("check_in", "checked_in")
        assert (event["check_in"]["id"], event["check_in"]["member_id"]) == (check_in.pk, a.member_ids[0])
        assert event["check_in"]["member_name"] == f"Visitor0 Of {a.gym.slug}"
        assert event["occupancy"]["count"] == 1
        raw = app_a.recv(timeout=RECEIVE_TIMEOUT_S)
        assert isinstance(raw, str)
        count = json.loads(raw)
        assert set(count) == OCCUPANCY_KEYS and count["count"] == 1
        assert "Visitor0" not in raw and a.gym.slug not in raw and "member" not in raw

        # Then one at gym B. B's sockets hear B's check-in first: had A's reached them,
        # it would have been ahead of it in their channels.
        check_in_committed(django_db_blocker, b, b.member_ids[0])
        event_b = receive(feed_b)
        assert (event_b["check_in"]["member_id"], event_b["occupancy"]["count"]) == (b.member_ids[0], 1)
        assert event_b["check_in"]["member_name"] == f"Visitor0 Of {b.gym.slug}"
        assert receive(counter_b)["count"] == 1

        # And B's check-in reached none of A's sockets: A's next check-in is next there.
        check_in_committed(django_db_blocker, a, a.member_ids[1])
        assert receive(feed_a)["check_in"]["member_id"] == a.member_ids[1]
        assert receive(app_a)["count"] == 2

        # Across hosts: B's desk session and B's member token are refused at A, with
        # the close codes reaching the real client.
        assert close_code(opened(a, "/ws/check-ins/", cookie=b.desk_cookie)) == CLOSE_FORBIDDEN
        assert close_code(opened(a, "/ws/occupancy/", token=b.member_token)) == CLOSE_UNAUTHENTICATED
        assert close_code(opened(a, "/ws/occupancy/", query_token=b.member_token)) == CLOSE_UNAUTHENTICATED
        assert close_code(opened(a, "/ws/check-ins/", token=a.member_token)) == CLOSE_FORBIDDEN
        assert close_code(opened(a, "/ws/occupancy/")) == CLOSE_UNAUTHENTICATED
    except Exception:
        print(f"--- uvicorn log tail ---\n{asgi_server.log_tail()}")
        raise
    finally:
        stack.close()


# --- the groups, on commit -------------------------------------------------------------


def _listen_and_run(groups: list[str], action: Callable[[], Any], messages: int) -> list[dict[str, Any]]:
    """Join a fresh channel to `groups` on the real layer, run the sync `action` (on the
    test's thread), and return the first `messages` messages the channel receives."""

    async def scenario() -> list[dict[str, Any]]:
        layer = get_channel_layer()
        assert layer is not None
        channel = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, channel)
        try:
            await sync_to_async(action)()
            return [await layer.receive(channel) for _ in range(messages)]
        finally:
            for group in groups:
                await layer.group_discard(group, channel)

    return async_to_sync(scenario)()


@pytest.mark.django_db
def test_the_broadcast_counts_its_own_gym_even_when_the_commit_runs_in_another_schema(
    gym_a: Gym, gym_b: Gym, django_capture_on_commit_callbacks
) -> None:
    """The groups carry the schema, and the occupancy is counted in the check-in's gym
    even when the outer transaction commits while another gym's schema is active."""
    with tenant_context(gym_b):
        for _ in range(2):
            checkin_create(member=active_member().member, now=NOW)
    with tenant_context(gym_a):
        member = active_member().member

    def check_in_at_a_commit_in_b() -> None:
        with tenant_context(gym_b), django_capture_on_commit_callbacks(execute=True), tenant_context(gym_a):
            checkin_create(member=member, now=NOW)

    groups = [gym_group_name(gym_a, live.CHECKINS_TOPIC), gym_group_name(gym_a, live.OCCUPANCY_TOPIC)]
    assert groups == ["checkins.gym_gym_a", "occupancy.gym_gym_a"]
    received = _listen_and_run(groups, check_in_at_a_commit_in_b, messages=2)

    by_type = {m["type"]: m for m in received}
    assert set(by_type) == {"checkin.event", "occupancy.update"}
    assert by_type["checkin.event"]["check_in"]["member_id"] == member.pk
    assert by_type["checkin.event"]["occupancy"]["count"] == 1
    assert by_type["occupancy.update"]["occupancy"]["count"] == 1
    assert set(by_type["occupancy.update"]["occupancy"]) == OCCUPANCY_KEYS - {"type"}


# --- Redis down or hung ----------------------------------------------------------------


@pytest.fixture
def layer_at(settings, monkeypatch) -> Iterator[Callable[[int], None]]:
    """`layer_at(port)`: point the channel layer at Redis on 127.0.0.1:`port` (rebuilt)."""

    def point(port: int) -> None:
        backend = settings.CHANNEL_LAYERS["default"]["BACKEND"]  # the layer production uses
        settings.CHANNEL_LAYERS = {
            "default": {"BACKEND": backend, "CONFIG": {"hosts": [f"redis://127.0.0.1:{port}/0"], "prefix": "dead:ch"}}
        }
        monkeypatch.setattr(channel_layers, "backends", {})

    yield point
    channel_layers.backends = {}


@pytest.fixture
def hung_redis() -> Iterator[int]:
    """A port where connections are accepted (by the kernel's backlog) and never
    answered: a Redis that hangs. Yields the port."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield server.getsockname()[1]


def _check_in_and_commit(gym: Gym, capture: Any) -> bool:
    """Check a member in at `gym` and play the commit (the broadcast); True if the
    check-in is saved and open afterwards."""
    with tenant_context(gym):
        member = active_member().member
        with capture(execute=True) as callbacks:
            result = checkin_create(member=member, now=NOW)
        assert len(callbacks) == 1  # the broadcast was queued, and has run
        assert result.allowed and result.check_in is not None
        return CheckIn.objects.filter(pk=result.check_in.pk, member=member, checked_out_at__isnull=True).exists()


@pytest.mark.django_db
def test_redis_down_the_check_in_is_saved_and_a_warning_logged(
    gym_a: Gym, layer_at, django_capture_on_commit_callbacks, caplog
) -> None:
    layer_at(free_port())  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="apps.checkins.live"):
        saved = _check_in_and_commit(gym_a, django_capture_on_commit_callbacks)

    assert saved
    warnings = [r for r in caplog.records if r.name == "apps.checkins.live" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "live update skipped" in warnings[0].getMessage()


@pytest.mark.django_db
def test_a_hung_redis_is_given_up_after_the_send_timeout(
    gym_a: Gym, layer_at, hung_redis: int, django_capture_on_commit_callbacks, caplog
) -> None:
    layer_at(hung_redis)
    with caplog.at_level(logging.WARNING, logger="apps.checkins.live"):
        saved = _check_in_and_commit(gym_a, django_capture_on_commit_callbacks)

    assert saved
    [warning] = [r for r in caplog.records if r.name == "apps.checkins.live" and r.levelno == logging.WARNING]
    # The send was cut by live.SEND_TIMEOUT_SECONDS: Redis never answered, nor failed.
    assert "TimeoutError" in warning.getMessage()
