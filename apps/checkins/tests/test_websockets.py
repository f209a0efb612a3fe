"""The front desk's websockets through the real ASGI stack (`fitflow.asgi.application`:
origin check, `GymWebsocketMiddleware`, `AuthMiddlewareStack`, routing) and the real
Redis channel layer (settings.CHANNEL_LAYERS).

- Who may listen: staff by session cookie on both sockets; members by API token
  (header or `token` query parameter) on `/ws/occupancy/` only; everyone else is
  closed with 4401 (no valid login) or 4403 (no role / role too low).
- What they hear: check-ins, check-outs and the automatic check-out, on commit only;
  members hear numbers, never names.
- Gym B hears nothing of gym A.

Each scenario runs in one event loop (`async_to_sync`), and the services run through
`sync_to_async` on the test's own thread and connection, so the consumers see the
test's (rolled-back) rows. The commit is played by
`django_capture_on_commit_callbacks(execute=True)`. "Heard nothing" is proven with a
fence: a later broadcast to the same socket arrives first, and a message sent earlier
would have been ahead of it in the socket's channel.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.accounts.tests.factories import TEST_PASSWORD
from apps.accounts.tokens import gym_refresh_token_for
from apps.checkins.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from apps.checkins.models import CheckIn
from apps.checkins.services import checkin_check_out, checkin_create, checkins_auto_check_out
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym
from fitflow.asgi import application

from .factories import NOW, active_member, minutes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("keep_test_connection")]

FEED = "/ws/check-ins/"
COUNTER = "/ws/occupancy/"
OCCUPANCY_KEYS = {"type", "count", "capacity", "level", "as_of"}
RECEIVE_TIMEOUT_S = 10  # a generous bound for a message that must come, not a timing assertion
HOST_A = "gym-a.localhost"
HOST_B = "gym-b.localhost"


class Rollback(Exception):
    pass


# --- clients ---------------------------------------------------------------------------


def session_cookie(user: User, host: str) -> str:
    """A logged-in session for `user` (as if they logged in on `host`); its key."""
    client = Client(HTTP_HOST=host)
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def access_token(user: User, gym: Gym) -> str:
    """An API access token for `user`, issued at `gym`."""
    with tenant_context(gym):
        return str(gym_refresh_token_for(user=user).access_token)


def socket(
    path: str,
    *,
    host: str = HOST_A,
    cookie: str | None = None,
    bearer: str | None = None,
    query_token: str | None = None,
    origin: str | None = "same",
) -> WebsocketCommunicator:
    """A websocket client on `host` (port omitted); `origin="same"` sends the host's own
    origin, as a browser on the gym's page does; None sends none (a native app)."""
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", (f"http://{host}" if origin == "same" else origin).encode()))
    if cookie:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    if bearer:
        headers.append((b"authorization", f"Bearer {bearer}".encode()))
    if query_token:
        path = f"{path}?{urlencode({'token': query_token})}"
    return WebsocketCommunicator(application, path, headers=headers)


async def listen(communicator: WebsocketCommunicator) -> dict[str, Any]:
    """Open the socket; it must be accepted and say the occupancy first. Returns that."""
    connected, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT_S)
    assert connected, "the socket was refused"
    first = await next_json(communicator)
    assert first["type"] == "occupancy" and set(first) == OCCUPANCY_KEYS, first
    return first


async def refusal(communicator: WebsocketCommunicator) -> int:
    """Open the socket; it must be closed without a word. Returns the close code."""
    connected, code = await communicator.connect(timeout=RECEIVE_TIMEOUT_S)
    if not connected:  # closed during the handshake (host or origin refused)
        return code
    output = await communicator.receive_output(timeout=RECEIVE_TIMEOUT_S)
    assert output["type"] == "websocket.close", f"expected a close, got {output}"
    await communicator.disconnect(code=output["code"])  # the client's side of the closing handshake
    return output["code"]


async def next_text(communicator: WebsocketCommunicator) -> str:
    """The next text frame, as sent on the wire."""
    output = await communicator.receive_output(timeout=RECEIVE_TIMEOUT_S)
    assert output["type"] == "websocket.send", output
    return output["text"]


async def next_json(communicator: WebsocketCommunicator) -> dict[str, Any]:
    return json.loads(await next_text(communicator))


def run(scenario: Callable[[], Any]) -> Any:
    """Run an async scenario in one event loop from the (sync) test."""
    return async_to_sync(scenario)()


# --- the gyms' people ------------------------------------------------------------------


@pytest.fixture
def desk_a(gym_a: Gym, make_staff) -> User:
    return make_staff(gym_a, Role.RECEPTIONIST)


@pytest.fixture
def member_user_a(gym_a: Gym) -> User:
    """A user linked to an active member of gym A, with no staff role anywhere."""
    user = User.objects.create_user(f"mia-{uuid.uuid4().hex[:8]}@example.test", TEST_PASSWORD)
    with tenant_context(gym_a):
        active_member(member=Member.objects.create(user=user, first_name="Mia", last_name="Memberson"))
    return user


def members_on_plan(gym: Gym, count: int) -> list[Member]:
    """`count` members of `gym` on active memberships covering NOW."""
    with tenant_context(gym):
        return [active_member().member for _ in range(count)]


# --- committing through the services ---------------------------------------------------


@pytest.fixture
def commit(django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """`await commit(gym, work)`: run `work()` in `gym`, then play the commit (the
    on-commit callbacks, i.e. the broadcasts) after leaving the gym's schema, as when
    a caller's outer transaction commits later: live.py must enter the gym itself.
    Returns what `work` returned."""

    def in_gym_then_commit(gym: Gym, work: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True), tenant_context(gym):
            return work()

    return sync_to_async(in_gym_then_commit)


# --- who may listen --------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.RECEPTIONIST, Role.TRAINER, Role.MANAGER, Role.OWNER])
def test_staff_with_a_session_listen_to_both_sockets_and_get_the_occupancy(gym_a: Gym, make_staff, role) -> None:
    cookie = session_cookie(make_staff(gym_a, role), HOST_A)
    members = members_on_plan(gym_a, 2)
    with tenant_context(gym_a):
        checkin_create(member=members[0], now=NOW)
        checkin_create(member=members[1], now=NOW)

    async def scenario() -> tuple[dict, dict]:
        feed, counter = socket(FEED, cookie=cookie), socket(COUNTER, cookie=cookie)
        try:
            return await listen(feed), await listen(counter)
        finally:
            await feed.disconnect()
            await counter.disconnect()

    for first in run(scenario):
        assert (first["count"], first["capacity"], first["level"]) == (2, gym_a.occupancy_capacity, "quiet")
        assert datetime.datetime.fromisoformat(first["as_of"]).tzinfo is not None


def test_a_member_listens_to_the_occupancy_with_a_token_from_login(gym_a: Gym, member_user_a: User) -> None:
    login = Client(HTTP_HOST=HOST_A).post(
        "/api/v1/auth/login/",
        {"email": member_user_a.email, "password": TEST_PASSWORD},
        content_type="application/json",
    )
    assert login.status_code == 200, login.content
    token = login.json()["access"]

    async def scenario() -> tuple[dict, dict, int]:
        by_header = socket(COUNTER, bearer=token)
        by_query = socket(COUNTER, query_token=token)
        try:
            return await listen(by_header), await listen(by_query), await refusal(socket(FEED, bearer=token))
        finally:
            await by_header.disconnect()
            await by_query.disconnect()

    header_first, query_first, feed_code = run(scenario)
    assert header_first["count"] == query_first["count"] == 0
    assert feed_code == CLOSE_FORBIDDEN


def test_staff_may_also_use_an_api_token(gym_a: Gym, desk_a: User) -> None:
    token = access_token(desk_a, gym_a)

    async def scenario() -> dict:
        feed = socket(FEED, bearer=token)
        try:
            return await listen(feed)
        finally:
            await feed.disconnect()

    assert run(scenario)["count"] == 0


def test_anonymous_sockets_are_refused_4401(gym_a: Gym) -> None:
    async def scenario() -> list[int]:
        return [await refusal(socket(FEED)), await refusal(socket(COUNTER))]

    assert run(scenario) == [CLOSE_UNAUTHENTICATED, CLOSE_UNAUTHENTICATED]


def test_a_member_is_refused_on_the_feed_4403_even_with_a_session(gym_a: Gym, member_user_a: User) -> None:
    cookie = session_cookie(member_user_a, HOST_A)

    async def scenario() -> tuple[int, dict]:
        counter = socket(COUNTER, cookie=cookie)
        try:
            return await refusal(socket(FEED, cookie=cookie)), await listen(counter)
        finally:
            await counter.disconnect()

    code, first = run(scenario)
    assert code == CLOSE_FORBIDDEN and first["count"] == 0


def test_staff_of_gym_b_are_refused_at_gym_a_4403(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    owner_b = make_staff(gym_b, Role.OWNER)
    cookie = session_cookie(owner_b, HOST_A)  # the session is valid; the role is at B only

    async def scenario() -> list[int]:
        return [await refusal(socket(FEED, cookie=cookie)), await refusal(socket(COUNTER, cookie=cookie))]

    assert run(scenario) == [CLOSE_FORBIDDEN, CLOSE_FORBIDDEN]


def test_a_gym_b_token_is_refused_at_gym_a_4401(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    # The owner of B is also a member at A: the token, not the person, is refused.
    owner_b = make_staff(gym_b, Role.OWNER)
    with tenant_context(gym_a):
        MemberFactory(user=owner_b)
    token_b = access_token(owner_b, gym_b)

    async def scenario() -> list[int]:
        return [
            await refusal(socket(COUNTER, bearer=token_b)),
            await refusal(socket(COUNTER, query_token=token_b)),
            await refusal(socket(FEED, bearer=token_b)),
        ]

    assert run(scenario) == [CLOSE_UNAUTHENTICATED] * 3


@pytest.mark.parametrize("token", ["not-a-jwt", "expired", "refresh"])
def test_bad_tokens_are_refused_4401(gym_a: Gym, member_user_a: User, token: str) -> None:
    with tenant_context(gym_a):
        refresh = gym_refresh_token_for(user=member_user_a)
    if token == "expired":
        access = refresh.access_token
        access.set_exp(from_time=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1))
        token = str(access)
    elif token == "refresh":  # a refresh token is not an access token
        token = str(refresh)

    async def scenario() -> int:
        return await refusal(socket(COUNTER, bearer=token))

    assert run(scenario) == CLOSE_UNAUTHENTICATED


def test_a_deactivated_users_token_is_refused_4401(gym_a: Gym, member_user_a: User) -> None:
    token = access_token(member_user_a, gym_a)
    User.objects.filter(pk=member_user_a.pk).update(is_active=False)

    async def scenario() -> int:
        return await refusal(socket(COUNTER, bearer=token))

    assert run(scenario) == CLOSE_UNAUTHENTICATED


@pytest.mark.parametrize("host", ["nowhere.localhost", "localhost"])
def test_unknown_and_public_hosts_are_refused(desk_a: User, host: str) -> None:
    cookie = session_cookie(desk_a, HOST_A)

    async def scenario() -> int:
        return await refusal(socket(COUNTER, host=host, cookie=cookie))

    assert run(scenario) == 4404  # GymWebsocketMiddleware, before any consumer runs


def test_a_staff_session_from_a_foreign_page_is_refused(desk_a: User) -> None:
    """Cross-site websocket hijacking: another site's page opening the feed with the
    desk's cookie."""
    cookie = session_cookie(desk_a, HOST_A)

    async def scenario() -> bool:
        connected, _ = await socket(FEED, cookie=cookie, origin="https://evil.example").connect(RECEIVE_TIMEOUT_S)
        return connected

    assert run(scenario) is False


def test_a_members_app_without_an_origin_header_listens(gym_a: Gym, member_user_a: User) -> None:
    token = access_token(member_user_a, gym_a)

    async def scenario() -> dict:
        counter = socket(COUNTER, bearer=token, origin=None)
        try:
            return await listen(counter)
        finally:
            await counter.disconnect()

    assert run(scenario)["count"] == 0


# --- what they hear --------------------------------------------------------------------


def test_check_in_check_out_and_auto_check_out_reach_desks_and_counters(
    gym_a: Gym, desk_a: User, member_user_a: User, commit
) -> None:
    cookie = session_cookie(desk_a, HOST_A)
    member_token = access_token(member_user_a, gym_a)
    anna, ben = members_on_plan(gym_a, 2)
    with tenant_context(gym_a):
        Member.objects.filter(pk=anna.pk).update(first_name="Anna", last_name="Zylberstein")

    async def scenario() -> None:
        feed = socket(FEED, cookie=cookie)
        desk_counter = socket(COUNTER, cookie=cookie)
        member_counter = socket(COUNTER, bearer=member_token)
        member_frames: list[str] = []
        try:
            await listen(feed), await listen(desk_counter), await listen(member_counter)

            # Anna checks in at the desk.
            result = await commit(gym_a, lambda: checkin_create(member=anna, actor=desk_a, now=NOW))
            assert result.allowed
            event = await next_json(feed)
            assert (event["type"], event["event"]) == ("check_in", "checked_in")
            assert set(event) == {"type", "event", "check_in", "occupancy"}
            check_in = event["check_in"]
            assert check_in["id"] == result.check_in.pk and check_in["member_id"] == anna.pk
            assert check_in["member_name"] == "Anna Zylberstein" and check_in["method"] == CheckIn.Method.SEARCH
            assert check_in["plan"] == result.membership.plan.name and check_in["checked_out_at"] is None
            assert datetime.datetime.fromisoformat(check_in["checked_in_at"]) == NOW
            assert event["occupancy"]["count"] == 1
            assert (await next_json(desk_counter))["count"] == 1
            member_frames.append(await next_text(member_counter))

            # Ben too; then Anna checks out.
            await commit(gym_a, lambda: checkin_create(member=ben, now=NOW + minutes(5)))
            assert (await next_json(feed))["occupancy"]["count"] == 2
            assert (await next_json(desk_counter))["count"] == 2
            member_frames.append(await next_text(member_counter))

            await commit(
                gym_a, lambda: checkin_check_out(check_in=result.check_in, actor=desk_a, now=NOW + minutes(60))
            )
            event = await next_json(feed)
            assert (event["event"], event["check_in"]["id"], event["occupancy"]["count"]) == (
                "checked_out",
                result.check_in.pk,
                1,
            )
            assert datetime.datetime.fromisoformat(event["check_in"]["checked_out_at"]) == NOW + minutes(60)
            assert (await next_json(desk_counter))["count"] == 1
            member_frames.append(await next_text(member_counter))

            # Ben never checks out: the automatic check-out closes his visit.
            hours = datetime.timedelta(hours=gym_a.auto_checkout_hours)
            closed = await commit(gym_a, lambda: checkins_auto_check_out(now=NOW + minutes(5) + hours + minutes(1)))
            assert closed == 1
            event = await next_json(feed)
            assert (event["type"], event["event"], event["check_in"]) == ("check_in", "occupancy", None)
            assert event["occupancy"]["count"] == 0
            assert (await next_json(desk_counter))["count"] == 0
            member_frames.append(await next_text(member_counter))
        finally:
            for communicator in (feed, desk_counter, member_counter):
                await communicator.disconnect()

        # The member heard every change, as numbers only.
        heard = [json.loads(frame) for frame in member_frames]
        assert [m["count"] for m in heard] == [1, 2, 1, 0]
        assert all(set(m) == OCCUPANCY_KEYS and m["type"] == "occupancy" for m in heard)
        for frame in member_frames:
            for secret in ("Anna", "Zylberstein", ben.first_name, ben.last_name, "member_id", "check_in"):
                assert secret not in frame

    run(scenario)


def test_nothing_is_broadcast_for_a_rolled_back_or_refused_check_in(
    gym_a: Gym, desk_a: User, commit, django_capture_on_commit_callbacks
) -> None:
    cookie = session_cookie(desk_a, HOST_A)
    rolled_back, fence = members_on_plan(gym_a, 2)
    with tenant_context(gym_a):
        refused = Member.objects.create(first_name="Nora", last_name="Noplan")  # no membership

    def check_in_then_roll_back() -> list:
        with django_capture_on_commit_callbacks(execute=True) as callbacks, tenant_context(gym_a):
            try:
                with transaction.atomic():
                    assert checkin_create(member=rolled_back, now=NOW).allowed
                    raise Rollback
            except Rollback:
                pass
            assert not CheckIn.objects.filter(member=rolled_back).exists()
        return callbacks

    async def scenario() -> dict:
        feed = socket(FEED, cookie=cookie)
        counter = socket(COUNTER, cookie=cookie)
        try:
            await listen(feed), await listen(counter)
            assert await sync_to_async(check_in_then_roll_back)() == []
            answer = await commit(gym_a, lambda: checkin_create(member=refused, now=NOW))
            assert (answer.allowed, answer.code) == (False, "no_active_membership")
            # The fence: the next thing either socket hears is this committed check-in.
            await commit(gym_a, lambda: checkin_create(member=fence, now=NOW))
            assert (await next_json(counter))["count"] == 1
            return await next_json(feed)
        finally:
            await feed.disconnect()
            await counter.disconnect()

    event = run(scenario)
    assert (event["event"], event["check_in"]["member_id"], event["occupancy"]["count"]) == ("checked_in", fence.pk, 1)


def test_gym_b_hears_nothing_of_gym_a(gym_a: Gym, gym_b: Gym, desk_a: User, make_staff, commit) -> None:
    cookie_a = session_cookie(desk_a, HOST_A)
    cookie_b = session_cookie(make_staff(gym_b, Role.RECEPTIONIST), HOST_B)
    [member_a] = members_on_plan(gym_a, 1)
    [member_b] = members_on_plan(gym_b, 1)

    async def scenario() -> tuple[dict, dict, dict]:
        feed_a = socket(FEED, cookie=cookie_a)
        feed_b = socket(FEED, host=HOST_B, cookie=cookie_b)
        counter_b = socket(COUNTER, host=HOST_B, cookie=cookie_b)
        try:
            await listen(feed_a), await listen(feed_b), await listen(counter_b)
            await commit(gym_a, lambda: checkin_create(member=member_a, now=NOW))
            heard_a = await next_json(feed_a)
            await commit(gym_b, lambda: checkin_create(member=member_b, now=NOW))  # the fence
            return heard_a, await next_json(feed_b), await next_json(counter_b)
        finally:
            for communicator in (feed_a, feed_b, counter_b):
                await communicator.disconnect()

    heard_a, heard_b, count_b = run(scenario)
    assert heard_a["check_in"]["member_id"] == member_a.pk
    assert (heard_b["check_in"]["member_id"], heard_b["occupancy"]["count"]) == (member_b.pk, 1)
    assert count_b["count"] == 1


def test_listeners_ignore_junk_and_answer_a_ping(gym_a: Gym, member_user_a: User) -> None:
    token = access_token(member_user_a, gym_a)

    async def scenario() -> dict:
        counter = socket(COUNTER, bearer=token)
        try:
            await listen(counter)
            await counter.send_to(text_data="not json")
            await counter.send_to(bytes_data=b"\x00\x01")
            await counter.send_json_to(["not", "a", "ping"])
            await counter.send_json_to({"type": "ping"})
            return await next_json(counter)  # still open, and the ping is the first answer
        finally:
            await counter.disconnect()

    answer = run(scenario)
    assert answer["type"] == "occupancy" and set(answer) == OCCUPANCY_KEYS
