"""Browser login through allauth on a gym host: works, and is rate-limited."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.tests.factories import TEST_PASSWORD
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def test_staff_login_opens_the_dashboard(gym_a: Gym, make_staff, client_a: Client) -> None:
    make_staff(gym_a, Role.MANAGER, email="m@example.test")

    response = client_a.post("/accounts/login/", {"login": "M@example.test", "password": TEST_PASSWORD}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/"
    assert b"m@example.test" in response.content


def test_wrong_password_rerenders_with_an_error(gym_a: Gym, make_staff, client_a: Client) -> None:
    make_staff(gym_a, Role.MANAGER, email="m@example.test")

    response = client_a.post("/accounts/login/", {"login": "m@example.test", "password": "nope"})

    assert response.status_code == 200
    assert b"not correct" in response.content
    assert b'value="m@example.test"' in response.content  # what was typed is kept


def test_failed_logins_are_rate_limited_even_for_the_right_password_after(
    gym_a: Gym, make_staff, client_a: Client
) -> None:
    make_staff(gym_a, Role.MANAGER, email="m@example.test")

    for _ in range(5):
        client_a.post("/accounts/login/", {"login": "m@example.test", "password": "guess"})
    blocked = client_a.post("/accounts/login/", {"login": "m@example.test", "password": TEST_PASSWORD})

    assert b"Too many failed login attempts" in blocked.content
    assert "_auth_user_id" not in client_a.session


def test_session_on_gym_a_is_not_a_session_on_gym_b(gym_a: Gym, make_staff, client_a: Client) -> None:
    make_staff(gym_a, Role.OWNER, email="o@example.test")
    client_a.post("/accounts/login/", {"login": "o@example.test", "password": TEST_PASSWORD})
    session_cookie = client_a.cookies["sessionid"]

    assert session_cookie["domain"] == ""  # host-only cookie: browsers never send it to another gym
    other = Client(HTTP_HOST="gym-b.localhost")
    other.cookies["sessionid"] = session_cookie.value  # even a replayed cookie gets no access at B
    assert other.get("/").status_code == 403
