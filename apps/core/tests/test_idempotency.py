"""`Idempotency-Key` on the API's writes (apps.core.idempotency), through the real API,
PostgreSQL and Redis: a retry replays the first response and does the work once; the
same key with another request is 422, a retry during the first is 409; results live 24 h;
5xx and 429 are not stored, other 4xx are; keys never cross gyms or users; no header,
no change; the schema documents all of it."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.accounts.tests.factories import TEST_PASSWORD, UserFactory
from apps.bookings.models import Booking
from apps.bookings.tests.factories import member_on, monthly_plan, pack_plan, session_at
from apps.bookings.tests.test_api_bookings import Caller, gym_today, hours_ahead
from apps.classes.models import ClassSession
from apps.core.idempotency import (
    CLAIM_TTL_SECONDS,
    RESULT_TTL_SECONDS,
    StoredResponse,
    idempotency_cache_key,
    idempotency_claim,
    idempotency_release,
    idempotency_schema_hook,
    request_fingerprint,
    response_is_stored,
)
from apps.members.tests.factories import MemberFactory
from apps.members.tests.test_api_members import assert_error, auth
from apps.plans.models import Plan
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

BOOKINGS = "/api/v1/bookings/"
REPLAYED = "Idempotent-Replayed"


def new_key() -> str:
    return str(uuid.uuid4())


def book(client: Client, headers: dict[str, str], session: ClassSession, key: str | None, **extra: object):
    key_header = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    body = {"session": session.pk, **extra}
    return client.post(BOOKINGS, body, content_type="application/json", **headers, **key_header)


def bookings_of(gym: Gym, member_id: int) -> int:
    with tenant_context(gym):
        return Booking.objects.filter(member_id=member_id).count()


def cache_key_of(gym: Gym, user: User, key: str) -> str:
    return idempotency_cache_key(schema_name=gym.schema_name, caller=f"user:{user.pk}", key=key)


def record_of(gym: Gym, cache_key: str) -> StoredResponse | None:
    # The cache's key function prefixes the active schema, as it does during the request.
    with tenant_context(gym):
        return StoredResponse.from_cached(cache.get(cache_key))


def redis_client():
    """The raw Redis client behind Django's cache (for TTLs and key scans)."""
    return cache._cache.get_client(write=True)  # type: ignore[attr-defined]


def idempotency_keys_in_redis() -> list[bytes]:
    """This test process's idempotency records (`<schema>:<prefix>:<version>:idempotency:...`)."""
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    return list(redis_client().scan_iter(f"*:{prefix}:*:idempotency:*", count=1000))


@pytest.fixture
def unlimited(gym_a: Gym) -> Plan:
    with tenant_context(gym_a):
        return monthly_plan(credits=None, name="Unlimited")


@pytest.fixture
def mia(gym_a: Gym, unlimited: Plan) -> Caller:
    return Caller(gym_a, unlimited, first_name="Mia")


@pytest.fixture
def session(gym_a: Gym) -> ClassSession:
    with tenant_context(gym_a):
        return session_at(hours_ahead(30), capacity=5)


# --- replay -------------------------------------------------------------------------------------


def test_a_retried_booking_is_made_once_and_answered_the_same(
    gym_a: Gym, client_a: Client, mia: Caller, session: ClassSession
) -> None:
    key = new_key()

    first = book(client_a, mia.headers, session, key)
    retry = book(client_a, mia.headers, session, key)

    assert first.status_code == 201, first.content
    assert REPLAYED not in first
    assert retry.status_code == 201 and retry[REPLAYED] == "true"
    assert retry.content == first.content and retry["Content-Type"] == first["Content-Type"] == "application/json"
    assert bookings_of(gym_a, mia.member.pk) == 1
    # Without the key the same request runs again, and the service refuses a second booking.
    assert_error(book(client_a, mia.headers, session, None), 409, "already_booked")


def test_a_retried_cancel_runs_once(gym_a: Gym, client_a: Client, session: ClassSession) -> None:
    with tenant_context(gym_a):
        pack = pack_plan(credits=3)
    ann = Caller(gym_a, pack)
    booking_id = book(client_a, ann.headers, session, None).json()["id"]
    assert client_a.get("/api/v1/credits/", **ann.headers).json()["total"] == 2
    key = new_key()

    def cancel(key_header: dict[str, str]):
        return client_a.delete(
            f"{BOOKINGS}{booking_id}/", {"reason": "Sick"}, content_type="application/json", **ann.headers, **key_header
        )

    first = cancel({"HTTP_IDEMPOTENCY_KEY": key})
    retry = cancel({"HTTP_IDEMPOTENCY_KEY": key})

    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    assert retry.status_code == 200 and retry[REPLAYED] == "true" and retry.content == first.content
    assert client_a.get("/api/v1/credits/", **ann.headers).json()["total"] == 3  # refunded once
    # The view did not run for the retry: run again without the key, it refuses.
    assert_error(cancel({}), 409, "booking_not_cancellable")


def test_the_same_key_for_another_request_is_422(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    with tenant_context(gym_a):
        yoga, spin = session_at(hours_ahead(30)), session_at(hours_ahead(40))
    key = new_key()
    booking_id = book(client_a, mia.headers, yoga, key).json()["id"]

    other_body = book(client_a, mia.headers, spin, key)
    other_body_field = book(client_a, mia.headers, yoga, key, join_waitlist=True)
    other_path = client_a.delete(f"{BOOKINGS}{booking_id}/", HTTP_IDEMPOTENCY_KEY=key, **mia.headers)
    other_query = client_a.post(
        f"{BOOKINGS}?x=1",
        {"session": yoga.pk},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
        **mia.headers,
    )

    for response in (other_body, other_body_field, other_path, other_query):
        error = assert_error(response, 422, "idempotency_key_reused")
        assert error["details"] == {}
        assert REPLAYED not in response
    with tenant_context(gym_a):
        assert list(Booking.objects.filter(member=mia.member).values_list("session_id", "status")) == [
            (yoga.pk, "confirmed")
        ]
    # The stored result is untouched: the right retry still replays it.
    assert book(client_a, mia.headers, yoga, key)[REPLAYED] == "true"


def test_a_retry_while_the_first_still_runs_is_409(
    gym_a: Gym, client_a: Client, mia: Caller, session: ClassSession
) -> None:
    key = new_key()
    # The first request holds the claim (as it does between its start and its answer).
    first_request = RequestFactory().post(BOOKINGS, {"session": session.pk}, content_type="application/json")
    cache_key = cache_key_of(gym_a, mia.user, key)
    with tenant_context(gym_a):
        assert idempotency_claim(cache_key=cache_key, fingerprint=request_fingerprint(first_request)) is None
        claim_ttl = redis_client().ttl(cache.make_key(cache_key))
    assert 0 < claim_ttl <= CLAIM_TTL_SECONDS

    retry = book(client_a, mia.headers, session, key)
    other = book(client_a, mia.headers, session, key, join_waitlist=True)

    assert_error(retry, 409, "idempotency_request_in_progress")
    assert_error(other, 422, "idempotency_key_reused")
    assert bookings_of(gym_a, mia.member.pk) == 0
    # The claim is still the first request's: a 409 neither stores nor frees it.
    record = record_of(gym_a, cache_key)
    assert record is not None and record.in_progress

    # The first request ends without a result (it crashed, or its claim expired): retries run.
    with tenant_context(gym_a):
        idempotency_release(cache_key=cache_key)
    assert book(client_a, mia.headers, session, key).status_code == 201
    assert bookings_of(gym_a, mia.member.pk) == 1


# --- what is stored, and for how long -----------------------------------------------------------


def test_the_result_is_kept_for_24_hours(gym_a: Gym, client_a: Client, mia: Caller, session: ClassSession) -> None:
    key = new_key()
    before = timezone.now()
    first = book(client_a, mia.headers, session, key)

    cache_key = cache_key_of(gym_a, mia.user, key)
    record = record_of(gym_a, cache_key)
    assert record is not None and not record.in_progress
    assert record.status == 201 and record.content == first.content
    assert dict(record.headers)["Content-Type"] == "application/json"
    assert record.expires_at is not None
    assert before + datetime.timedelta(hours=24) <= record.expires_at <= timezone.now() + datetime.timedelta(hours=24)
    with tenant_context(gym_a):
        ttl = redis_client().ttl(cache.make_key(cache_key))
    assert RESULT_TTL_SECONDS - 60 < ttl <= RESULT_TTL_SECONDS == 24 * 3600

    # When Redis has expired it, the same request runs again (here the service refuses a second booking).
    with tenant_context(gym_a):
        cache.delete(cache_key)
    assert_error(book(client_a, mia.headers, session, key), 409, "already_booked")


def test_a_4xx_is_stored_and_replayed(gym_a: Gym, client_a: Client, unlimited: Plan, session: ClassSession) -> None:
    no_plan = Caller(gym_a)  # a member without a membership may not book
    key = new_key()

    refused = book(client_a, no_plan.headers, session, key)
    assert refused.status_code == 403, refused.content
    with tenant_context(gym_a):
        member_on(unlimited, member=no_plan.member, start=gym_today(gym_a))

    # As Stripe does: the retry gets the stored refusal, even though it would pass now.
    again = book(client_a, no_plan.headers, session, key)
    assert again.status_code == 403 and again[REPLAYED] == "true" and again.content == refused.content
    assert bookings_of(gym_a, no_plan.member.pk) == 0
    assert book(client_a, no_plan.headers, session, new_key()).status_code == 201


def test_a_5xx_is_not_stored_and_the_retry_runs(
    gym_a: Gym, mia: Caller, session: ClassSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client(HTTP_HOST="gym-a.localhost", raise_request_exception=False)
    key = new_key()

    def failing_booking_create(**kwargs: object) -> None:
        raise RuntimeError("the database went away")

    with monkeypatch.context() as patch:
        patch.setattr("apps.bookings.apis.booking_create", failing_booking_create)
        failed = book(client, mia.headers, session, key)
    assert failed.status_code == 500
    assert record_of(gym_a, cache_key_of(gym_a, mia.user, key)) is None  # claim dropped, nothing stored

    retry = book(client, mia.headers, session, key)
    assert retry.status_code == 201 and REPLAYED not in retry
    assert bookings_of(gym_a, mia.member.pk) == 1


def test_which_statuses_are_stored() -> None:
    assert all(response_is_stored(code) for code in (200, 201, 204, 400, 402, 403, 404, 409, 422))
    assert not any(response_is_stored(code) for code in (429, 500, 502, 503))


# --- scope ---------------------------------------------------------------------------------------


@pytest.fixture
def both_gyms_member(gym_a: Gym, gym_b: Gym) -> Iterator[tuple[User, dict[Gym, ClassSession]]]:
    """One global user who is a member with a plan at gym A and at gym B, and a session at each."""
    user = UserFactory()
    sessions = {}
    for gym in (gym_a, gym_b):
        with tenant_context(gym):
            member_on(monthly_plan(credits=None), member=MemberFactory(user=user), start=gym_today(gym))
            sessions[gym] = session_at(hours_ahead(30))
    yield user, sessions


def test_a_key_never_crosses_gyms(gym_a: Gym, gym_b: Gym, client_a: Client, client_b: Client, both_gyms_member) -> None:
    user, sessions = both_gyms_member
    key = new_key()
    # The same user, key and body (the sessions may even share an id) at both gyms.
    at_a = client_a.post(
        BOOKINGS, {"session": sessions[gym_a].pk}, content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key, **auth(gym_a, user),
    )  # fmt: skip
    at_b = client_b.post(
        BOOKINGS, {"session": sessions[gym_b].pk}, content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key, **auth(gym_b, user),
    )  # fmt: skip

    assert at_a.status_code == 201 and at_b.status_code == 201, (at_a.content, at_b.content)
    assert REPLAYED not in at_a and REPLAYED not in at_b
    assert at_a.json()["session"]["id"] == sessions[gym_a].pk and at_b.json()["session"]["id"] == sessions[gym_b].pk
    with tenant_context(gym_a):
        assert Booking.objects.filter(session=sessions[gym_a]).count() == 1
    with tenant_context(gym_b):
        assert Booking.objects.filter(session=sessions[gym_b]).count() == 1
    # Each gym replays its own answer, and the two records are apart in Redis.
    again_b = client_b.post(
        BOOKINGS, {"session": sessions[gym_b].pk}, content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key, **auth(gym_b, user),
    )  # fmt: skip
    assert again_b[REPLAYED] == "true" and again_b.content == at_b.content
    keys = idempotency_keys_in_redis()
    assert len(keys) == 2
    assert {k.decode().split(":", 1)[0] for k in keys} == {gym_a.schema_name, gym_b.schema_name}
    assert record_of(gym_a, cache_key_of(gym_a, user, key)).content == at_a.content  # type: ignore[union-attr]
    assert record_of(gym_b, cache_key_of(gym_b, user, key)).content == at_b.content  # type: ignore[union-attr]
    # Gym B's record is not reachable from gym A's schema under gym A's key, nor the reverse.
    assert record_of(gym_a, cache_key_of(gym_b, user, key)) is None


def test_a_key_never_crosses_users(gym_a: Gym, client_a: Client, unlimited: Plan, session: ClassSession) -> None:
    mia, ben = Caller(gym_a, unlimited), Caller(gym_a, unlimited)
    key = new_key()

    mia_booking = book(client_a, mia.headers, session, key)
    ben_same_body = book(client_a, ben.headers, session, key)

    assert mia_booking.status_code == 201 and ben_same_body.status_code == 201
    assert REPLAYED not in ben_same_body
    assert ben_same_body.json()["member"]["id"] == ben.member.pk != mia_booking.json()["member"]["id"]
    # Another body under the same key is not "reused" for Ben either: it is his own key.
    with tenant_context(gym_a):
        other_session = session_at(hours_ahead(40))
    cleo = Caller(gym_a, unlimited)
    assert book(client_a, cleo.headers, other_session, key).status_code == 201
    # A new access token for the same user keeps the scope: the retry still replays.
    fresh_headers = auth(gym_a, mia.user)
    assert fresh_headers != mia.headers
    again = book(client_a, fresh_headers, session, key)
    assert again[REPLAYED] == "true" and again.content == mia_booking.content


def test_login_is_scoped_to_the_exact_request(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    key = new_key()

    def login(password: str):
        return client_a.post(
            "/api/v1/auth/login/",
            {"email": mia.user.email, "password": password},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    first = login(TEST_PASSWORD)
    retry = login(TEST_PASSWORD)
    wrong = login("not-the-password")

    assert first.status_code == 200 and set(first.json()) == {"access", "refresh"}
    assert retry[REPLAYED] == "true" and retry.json() == first.json()
    # Only a hash of each request is stored, never the password.
    stored = [redis_client().get(k) for k in idempotency_keys_in_redis()]
    assert len(stored) == 2 and not any(TEST_PASSWORD.encode() in value for value in stored)
    # Without a caller to scope by, another body under the key is another request, not 422.
    assert_error(wrong, 401, "invalid_credentials")
    assert REPLAYED not in wrong
    # Someone else with the same key and their own credentials gets their own tokens.
    ben = Caller(gym_a)
    bens = client_a.post(
        "/api/v1/auth/login/",
        {"email": ben.user.email, "password": TEST_PASSWORD},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert bens.status_code == 200 and REPLAYED not in bens and bens.json() != first.json()


# --- when the key is ignored or refused ----------------------------------------------------------


def test_without_the_header_nothing_changes(gym_a: Gym, client_a: Client, mia: Caller, session: ClassSession) -> None:
    first = book(client_a, mia.headers, session, None)
    second = book(client_a, mia.headers, session, None)

    assert first.status_code == 201 and REPLAYED not in first
    assert_error(second, 409, "already_booked")
    assert idempotency_keys_in_redis() == []


def test_reads_and_failed_credentials_ignore_the_key(
    gym_a: Gym, gym_b: Gym, client_a: Client, mia: Caller, session: ClassSession
) -> None:
    key = new_key()
    listing = client_a.get(BOOKINGS, HTTP_IDEMPOTENCY_KEY=key, **mia.headers)
    bad_token = book(client_a, {"HTTP_AUTHORIZATION": "Bearer not-a-token"}, session, key)
    wrong_gym = book(client_a, auth(gym_b, mia.user), session, key)

    assert listing.status_code == 200 and REPLAYED not in listing
    assert bad_token.status_code == 401 and wrong_gym.status_code == 401
    assert idempotency_keys_in_redis() == []
    # The key is still free for the real request.
    assert book(client_a, mia.headers, session, key).status_code == 201


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "has space", "tab\tkey", "caf\u00e9", ""],
    ids=["256 chars", "space", "tab", "non-ASCII", "empty"],
)
def test_a_malformed_key_is_400(gym_a: Gym, client_a: Client, mia: Caller, session: ClassSession, key: str) -> None:
    response = book(client_a, mia.headers, session, key)

    error = assert_error(response, 400, "validation_error")
    assert list(error["details"]) == ["Idempotency-Key"]
    assert bookings_of(gym_a, mia.member.pk) == 0


def test_a_255_character_key_is_fine(gym_a: Gym, client_a: Client, mia: Caller, session: ClassSession) -> None:
    key = "k" * 254 + "~"
    assert book(client_a, mia.headers, session, key).status_code == 201
    assert book(client_a, mia.headers, session, key)[REPLAYED] == "true"


# --- the schema ----------------------------------------------------------------------------------


def test_the_schema_documents_the_header_on_every_write(client_a: Client) -> None:
    schema = client_a.get("/api/schema/", {"format": "json"}).json()

    writes = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
        if method in ("post", "put", "patch", "delete")
    ]
    assert len(writes) >= 25
    error_ref = {"$ref": "#/components/schemas/ApiError"}
    for path, method, operation in writes:
        where = f"{method.upper()} {path}"
        header = [p for p in operation["parameters"] if p["in"] == "header" and p["name"] == "Idempotency-Key"]
        assert len(header) == 1, where
        assert header[0]["required"] is False and header[0]["schema"]["maxLength"] == 255, where
        responses = operation["responses"]
        assert "idempotency_request_in_progress" in responses["409"]["description"], where
        assert "idempotency_key_reused" in responses["422"]["description"], where
        assert "Idempotency-Key" in responses["400"]["description"], where
        for status in ("400", "409", "422"):
            schema_of = responses[status]["content"]["application/json"]["schema"]
            assert schema_of == error_ref or error_ref in schema_of.get("oneOf", []), (where, status)
        success = [s for s in responses if s.startswith("2")]
        assert success and all("Idempotent-Replayed" in responses[s]["headers"] for s in success), where
    assert "ApiError" in schema["components"]["schemas"]
    # Reads are left alone.
    bookings_get = schema["paths"]["/api/v1/bookings/"]["get"]
    assert not any(p["name"] == "Idempotency-Key" for p in bookings_get.get("parameters", []))
    assert "422" not in bookings_get["responses"]


def test_the_hook_merges_into_responses_the_view_documents() -> None:
    error_ref = {"$ref": "#/components/schemas/ApiError"}
    schema = {
        "paths": {
            "/api/v1/things/": {
                "post": {
                    "responses": {
                        "201": {"description": "Made."},
                        "409": {
                            "description": "`already_done`.",
                            "content": {"application/json": {"schema": error_ref}},
                        },
                        "400": {"description": "Bad.", "content": {"application/json": {"schema": {"type": "object"}}}},
                    }
                },
                "get": {"responses": {"200": {"description": "Read."}}},
            },
            "/api/schema/": {"post": {"responses": {}}},
        }
    }

    result = idempotency_schema_hook(schema, generator=None, request=None, public=True)
    twice = idempotency_schema_hook(result, generator=None, request=None, public=True)

    post = twice["paths"]["/api/v1/things/"]["post"]
    assert [p["name"] for p in post["parameters"]] == ["Idempotency-Key"]
    assert post["responses"]["409"]["description"].startswith("`already_done`.")
    assert post["responses"]["409"]["description"].count("idempotency_request_in_progress") == 1
    assert post["responses"]["409"]["content"]["application/json"]["schema"] == error_ref
    assert post["responses"]["400"]["content"]["application/json"]["schema"] == {
        "oneOf": [{"type": "object"}, error_ref]
    }
    assert post["responses"]["422"]["content"]["application/json"]["schema"] == error_ref
    assert "Idempotent-Replayed" in post["responses"]["201"]["headers"]
    assert "parameters" not in twice["paths"]["/api/v1/things/"]["get"]
    assert twice["paths"]["/api/schema/"]["post"] == {"responses": {}}
    assert {"ApiError", "ApiErrorBody"} <= set(twice["components"]["schemas"])


def test_cache_keys_carry_the_gym_and_the_caller() -> None:
    keys = {
        idempotency_cache_key(schema_name=schema, caller=caller, key="k")
        for schema in ("gym_a", "gym_b")
        for caller in ("user:1", "user:2", "anon:abc")
    }
    assert len(keys) == 6
    assert all(k.startswith(("idempotency:gym_a:", "idempotency:gym_b:")) for k in keys)
