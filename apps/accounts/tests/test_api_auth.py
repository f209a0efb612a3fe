"""API tokens: login, refresh (rotation), logout (revocation), gym binding and the error format."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from apps.accounts.tests.factories import TEST_PASSWORD, UserFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def login(client: Client, email: str, password: str = TEST_PASSWORD):
    return client.post("/api/v1/auth/login/", {"email": email, "password": password}, content_type="application/json")


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_login_me_refresh_logout_cycle(gym_a: Gym, make_staff, client_a: Client) -> None:
    user = make_staff(gym_a, Role.RECEPTIONIST, email="desk@example.test")

    tokens = login(client_a, "DESK@example.test").json()
    me = client_a.get("/api/v1/me/", **bearer(tokens["access"]))

    assert me.status_code == 200
    assert me.json()["email"] == "desk@example.test" and me.json()["role"] == "receptionist"
    assert me.json()["gym"]["slug"] == "gym-a"

    rotated = client_a.post("/api/v1/auth/refresh/", {"refresh": tokens["refresh"]}, content_type="application/json")
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["refresh"] != tokens["refresh"] and new["access"]
    assert client_a.get("/api/v1/me/", **bearer(new["access"])).status_code == 200

    # The rotated-out refresh token is dead.
    reused = client_a.post("/api/v1/auth/refresh/", {"refresh": tokens["refresh"]}, content_type="application/json")
    assert_error(reused, 401, "token_invalid")

    # Logout revokes the current refresh token.
    out = client_a.post("/api/v1/auth/logout/", {"refresh": new["refresh"]}, content_type="application/json")
    assert out.status_code == 204
    after = client_a.post("/api/v1/auth/refresh/", {"refresh": new["refresh"]}, content_type="application/json")
    assert_error(after, 401, "token_invalid")
    assert user.pk


def test_wrong_password_and_unknown_email_are_401(gym_a: Gym, make_staff, client_a: Client) -> None:
    make_staff(gym_a, Role.OWNER, email="o@example.test")

    assert_error(login(client_a, "o@example.test", "wrong"), 401, "invalid_credentials")
    assert_error(login(client_a, "nobody@example.test"), 401, "invalid_credentials")


def test_login_without_a_role_at_this_gym_is_403(gym_a: Gym, make_staff, client_b: Client) -> None:
    make_staff(gym_a, Role.OWNER, email="a-only@example.test")

    assert_error(login(client_b, "a-only@example.test"), 403, "no_gym_access")


def test_token_of_gym_a_is_refused_on_gym_b(
    gym_a: Gym, gym_b: Gym, make_staff, client_a: Client, client_b: Client
) -> None:
    both = make_staff(gym_a, Role.OWNER, email="both@example.test")
    from django_tenants.utils import tenant_context

    from apps.staff.tests.factories import StaffRoleFactory

    with tenant_context(gym_b):  # even a user with a role at both gyms needs a token per gym
        StaffRoleFactory(user=both, role=Role.OWNER)
    tokens = login(client_a, "both@example.test").json()

    assert_error(client_b.get("/api/v1/me/", **bearer(tokens["access"])), 401, "token_wrong_gym")
    refresh = client_b.post("/api/v1/auth/refresh/", {"refresh": tokens["refresh"]}, content_type="application/json")
    assert_error(refresh, 401, "token_wrong_gym")
    logout = client_b.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}, content_type="application/json")
    assert_error(logout, 401, "token_wrong_gym")
    # Still good at home.
    assert client_a.get("/api/v1/me/", **bearer(tokens["access"])).status_code == 200


def test_role_removed_after_login_means_403(gym_a: Gym, make_staff, client_a: Client) -> None:
    from django_tenants.utils import tenant_context

    from apps.staff.models import StaffRole

    user = make_staff(gym_a, Role.TRAINER, email="t@example.test")
    access = login(client_a, "t@example.test").json()["access"]
    with tenant_context(gym_a):
        StaffRole.objects.filter(user=user).delete()

    assert_error(client_a.get("/api/v1/me/", **bearer(access)), 403, "no_gym_access")


def test_error_format_401_403_404_405_and_validation(gym_a: Gym, client_a: Client) -> None:
    assert_error(client_a.get("/api/v1/me/"), 401, "not_authenticated")
    assert_error(client_a.get("/api/v1/me/", **bearer("not-a-jwt")), 401, "token_invalid")
    assert_error(client_a.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer"), 401, "authentication_failed")
    stranger = UserFactory()
    client_a.force_login(stranger)
    # Session auth is not an API credential; still 401 without a bearer token.
    assert_error(client_a.get("/api/v1/me/"), 401, "not_authenticated")
    assert_error(client_a.get("/api/v1/no-such-endpoint/"), 404, "not_found")
    assert_error(client_a.get("/api/v1/auth/login/"), 405, "method_not_allowed")
    invalid = assert_error(
        client_a.post("/api/v1/auth/login/", {"email": 12}, content_type="application/json"),
        400,
        "validation_error",
    )
    assert invalid["details"] == {"email": ["Not a valid string."], "password": ["This field is required."]}
    mistyped = client_a.post("/api/v1/auth/login/", {"email": "nope", "password": "x"}, content_type="application/json")
    assert_error(mistyped, 401, "invalid_credentials")
    malformed = client_a.post("/api/v1/auth/login/", "{not json", content_type="application/json")
    assert_error(malformed, 400, "parse_error")


def test_403_for_a_user_with_no_role(gym_a: Gym, gym_b: Gym, make_staff, client_b: Client) -> None:
    from django_tenants.utils import tenant_context

    from apps.accounts.tokens import gym_refresh_token_for

    outsider = UserFactory()
    with tenant_context(gym_b):  # a token minted for B, to a user without a role at B
        access = str(gym_refresh_token_for(user=outsider).access_token)

    assert_error(client_b.get("/api/v1/me/", **bearer(access)), 403, "no_gym_access")


def test_login_is_throttled_with_429_and_retry_after(
    gym_a: Gym, client_a: Client, client_b: Client, monkeypatch
) -> None:
    monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, "auth", "3/min")
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES)

    for _ in range(3):
        assert login(client_a, "x@example.test", "bad").status_code == 401
    throttled = assert_error(login(client_a, "x@example.test", "bad"), 429, "throttled")

    assert throttled["details"]["retry_after_seconds"] > 0
    # Counters are per gym: the same IP at gym B is not throttled by gym A's counter.
    assert login(client_b, "x@example.test", "bad").status_code == 401


def test_anonymous_throttle_keys_are_per_gym(gym_a: Gym, gym_b: Gym) -> None:
    from django.core.cache import cache
    from django_tenants.utils import tenant_context

    with tenant_context(gym_a):
        key_a = cache.make_key("throttle_anon_127.0.0.1")
    with tenant_context(gym_b):
        key_b = cache.make_key("throttle_anon_127.0.0.1")
    assert key_a != key_b


def test_expired_tokens_are_401_token_expired(gym_a: Gym, make_staff, client_a: Client) -> None:
    """An expired access token says so (the app refreshes); so does an expired refresh
    token at refresh/ (the app logs in again). Other bad tokens are `token_invalid`."""
    import datetime

    from django.utils import timezone
    from django_tenants.utils import tenant_context

    from apps.accounts.tokens import gym_refresh_token_for

    user = make_staff(gym_a, Role.OWNER)
    an_hour_ago = timezone.now() - datetime.timedelta(hours=1)
    with tenant_context(gym_a):
        refresh = gym_refresh_token_for(user=user)
        access = refresh.access_token
        access.set_exp(from_time=an_hour_ago)
        refresh.set_exp(from_time=an_hour_ago - datetime.timedelta(days=30))

    expired = assert_error(client_a.get("/api/v1/me/", **bearer(str(access))), 401, "token_expired")
    assert expired["details"] == {}
    assert_error(
        client_a.post("/api/v1/auth/refresh/", {"refresh": str(refresh)}, content_type="application/json"),
        401,
        "token_expired",
    )
    assert_error(
        client_a.post("/api/v1/auth/refresh/", {"refresh": "x.y.z"}, content_type="application/json"),
        401,
        "token_invalid",
    )
