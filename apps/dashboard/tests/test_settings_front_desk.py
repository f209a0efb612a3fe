"""The settings page's front-desk section: capacity, repeat-scan window, automatic
check-out and payment grace. Saved by owners and managers, refused field by field
when out of range (nothing saved), out of a receptionist's reach, per gym."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from apps.staff.roles import Role
from apps.tenants.errors import GymError
from apps.tenants.models import Gym
from apps.tenants.services import gym_update_settings

pytestmark = pytest.mark.django_db

FRONT_DESK = ("occupancy_capacity", "checkin_repeat_minutes", "auto_checkout_hours", "payment_grace_days")


def general(gym: Gym) -> dict[str, str]:
    """The general section as the page posts it, unchanged."""
    return {"name": gym.name, "timezone": gym.timezone, "currency": gym.currency, "country": str(gym.country or "")}


def front_desk_of(gym: Gym) -> dict[str, int]:
    with schema_context("public"):
        fresh = Gym.objects.get(pk=gym.pk)
    return {name: getattr(fresh, name) for name in FRONT_DESK}


@pytest.fixture
def owner_client(gym_a: Gym, make_staff, client_a: Client) -> Client:
    client_a.force_login(make_staff(gym_a, Role.OWNER))
    return client_a


def test_page_shows_the_front_desk_section_with_current_values(gym_a: Gym, owner_client: Client) -> None:
    response = owner_client.get("/settings/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Front desk" in html
    for name in FRONT_DESK:
        assert f'name="{name}"' in html
        assert f'value="{getattr(gym_a, name)}"' in html


@pytest.mark.parametrize("role", [Role.OWNER, Role.MANAGER])
def test_owner_and_manager_save_the_front_desk_settings(gym_a: Gym, gym_b: Gym, make_staff, role: Role) -> None:
    client = Client(HTTP_HOST="gym-a.localhost")
    client.force_login(make_staff(gym_a, role))
    before_b = front_desk_of(gym_b)
    wanted = {
        "occupancy_capacity": 140,
        "checkin_repeat_minutes": 0,
        "auto_checkout_hours": 24,
        "payment_grace_days": 60,
    }

    response = client.post("/settings/", {**general(gym_a), **{k: str(v) for k, v in wanted.items()}})

    assert response.status_code == 302 and response["Location"] == "/settings/"
    assert front_desk_of(gym_a) == wanted
    assert front_desk_of(gym_b) == before_b  # the other gym keeps its own
    page = client.get("/settings/")
    assert page.context["form"].initial["occupancy_capacity"] == 140
    assert b"Settings saved." in page.content


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("occupancy_capacity", "0", "greater than or equal to 1"),
        ("occupancy_capacity", "10001", "less than or equal to 10000"),
        ("checkin_repeat_minutes", "-1", "greater than or equal to 0"),
        ("checkin_repeat_minutes", "1441", "less than or equal to 1440"),
        ("auto_checkout_hours", "0", "greater than or equal to 1"),
        ("auto_checkout_hours", "25", "less than or equal to 24"),
        ("payment_grace_days", "61", "less than or equal to 60"),
        ("payment_grace_days", "three", "Enter a whole number"),
        ("occupancy_capacity", "", "This field is required"),
    ],
)
def test_bad_value_rerenders_with_the_field_error_and_saves_nothing(
    gym_a: Gym, owner_client: Client, field: str, value: str, message: str
) -> None:
    before = front_desk_of(gym_a)
    good = {"occupancy_capacity": "90", "checkin_repeat_minutes": "30", "auto_checkout_hours": "4"}
    post = {**general(gym_a), "name": "Renamed", **good, "payment_grace_days": "5", field: value}

    response = owner_client.post("/settings/", post)

    assert response.status_code == 400
    form = response.context["form"]
    assert list(form.errors) == [field]
    assert message in form.errors[field][0]
    assert f'id="id_{field}_errors"' in response.content.decode()
    assert front_desk_of(gym_a) == before  # nothing saved, not even the valid fields
    with schema_context("public"):
        assert Gym.objects.get(pk=gym_a.pk).name == "Gym A"


def test_htmx_post_swaps_the_form_with_its_errors(gym_a: Gym, owner_client: Client) -> None:
    response = owner_client.post("/settings/", {**general(gym_a), "occupancy_capacity": "0"}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 400
    assert html.lstrip().startswith('<form id="settings-form"') and "<html" not in html
    assert 'id="id_occupancy_capacity_errors"' in html


def test_post_without_the_section_keeps_the_front_desk_settings(gym_a: Gym, owner_client: Client) -> None:
    with schema_context("public"):
        Gym.objects.filter(pk=gym_a.pk).update(occupancy_capacity=75, payment_grace_days=7)

    response = owner_client.post("/settings/", {**general(gym_a), "name": "Gym A Renamed"})

    assert response.status_code == 302
    assert front_desk_of(gym_a)["occupancy_capacity"] == 75 and front_desk_of(gym_a)["payment_grace_days"] == 7


@pytest.mark.parametrize("role", [Role.RECEPTIONIST, Role.TRAINER])
def test_desk_staff_cannot_change_them(gym_a: Gym, make_staff, role: Role) -> None:
    client = Client(HTTP_HOST="gym-a.localhost")
    client.force_login(make_staff(gym_a, role))
    before = front_desk_of(gym_a)

    page = client.get("/settings/")
    post = client.post("/settings/", {**general(gym_a), "occupancy_capacity": "5000", "payment_grace_days": "60"})

    assert page.status_code == 403 and post.status_code == 403
    assert front_desk_of(gym_a) == before


def test_gym_b_owner_cannot_change_gym_a(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    client = Client(HTTP_HOST="gym-a.localhost")
    client.force_login(make_staff(gym_b, Role.OWNER))
    before = front_desk_of(gym_a)

    response = client.post("/settings/", {**general(gym_a), "occupancy_capacity": "5000"})

    assert response.status_code == 403
    assert front_desk_of(gym_a) == before


def test_service_refuses_out_of_range_values_and_saves_nothing(gym_a: Gym) -> None:
    before = front_desk_of(gym_a)

    with pytest.raises(GymError) as refused:
        gym_update_settings(
            gym=gym_a,
            name="Gym A",
            timezone="Europe/London",
            currency="GBP",
            occupancy_capacity=5,
            auto_checkout_hours=25,
        )

    assert (refused.value.code, refused.value.field) == ("out_of_range", "auto_checkout_hours")
    assert front_desk_of(gym_a) == before
