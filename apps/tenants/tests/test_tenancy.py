"""Host routing, suspension, cache keys and file paths: nothing crosses gyms."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_tenants.utils import schema_context, tenant_context
from PIL import Image

from apps.staff.roles import Role
from apps.tenants.models import Gym, gym_logo_upload_to
from apps.tenants.services import gym_reactivate, gym_suspend

pytestmark = pytest.mark.django_db


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (15, 118, 110)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_unknown_host_gets_a_friendly_404_page_and_json_under_api(db) -> None:
    client = Client(HTTP_HOST="no-such-gym.localhost")

    page = client.get("/")
    api = client.get("/api/v1/me/")

    assert page.status_code == 404
    assert b"No gym lives here" in page.content
    assert b"no-such-gym.localhost" in page.content
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "unknown_gym"


def test_suspended_gym_shows_a_page_and_its_api_answers_403_gym_suspended(gym_a: Gym, make_staff) -> None:
    owner = make_staff(gym_a, Role.OWNER)
    gym_suspend(gym=gym_a, reason="unpaid")
    client = Client(HTTP_HOST="gym-a.localhost")
    client.force_login(owner)

    page = client.get("/")
    api = client.post("/api/v1/auth/login/", {"email": owner.email, "password": "x"}, content_type="application/json")
    health = client.get("/health/")

    assert page.status_code == 403
    assert b"Gym A is suspended" in page.content
    assert api.status_code == 403
    assert api.json() == {"error": {"code": "gym_suspended", "message": "This gym is suspended.", "details": {}}}
    assert health.status_code in (200, 503)  # health still answers for a suspended gym

    gym_reactivate(gym=gym_a)
    assert client.get("/").status_code == 200


def test_cache_key_for_the_same_name_differs_between_gyms(gym_a: Gym, gym_b: Gym) -> None:
    with tenant_context(gym_a):
        key_a = cache.make_key("occupancy")
        cache.set("occupancy", "gym A's value")
    with tenant_context(gym_b):
        key_b = cache.make_key("occupancy")
        seen_from_b = cache.get("occupancy")
        cache.set("occupancy", "gym B's value")
    with tenant_context(gym_a):
        seen_from_a = cache.get("occupancy")

    assert key_a != key_b
    assert gym_a.schema_name in key_a and gym_b.schema_name in key_b
    assert seen_from_b is None
    assert seen_from_a == "gym A's value"


def test_logo_upload_path_starts_with_the_schema(gym_a: Gym) -> None:
    assert gym_logo_upload_to(gym_a, "logo.png") == "gym_gym_a/branding/logo.png"


def test_settings_page_stores_logo_under_schema_and_other_gym_cannot_fetch_it(
    gym_a: Gym, make_staff, settings, tmp_path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    owner = make_staff(gym_a, Role.OWNER)
    client = Client(HTTP_HOST="gym-a.localhost")
    client.force_login(owner)

    response = client.post(
        "/settings/",
        {
            "name": "Gym A Renamed",
            "timezone": "Africa/Johannesburg",
            "currency": "ZAR",
            "country": "ZA",
            "logo": SimpleUploadedFile("logo.png", png_bytes(), content_type="image/png"),
        },
    )

    assert response.status_code == 302
    gym_a.refresh_from_db()
    assert gym_a.name == "Gym A Renamed" and gym_a.timezone == "Africa/Johannesburg" and gym_a.currency == "ZAR"
    assert gym_a.logo.name.startswith("gym_gym_a/branding/")
    assert (tmp_path / gym_a.logo.name).exists()
    own = client.get(f"/media/{gym_a.logo.name}")
    assert own.status_code == 200
    other = Client(HTTP_HOST="gym-b.localhost").get(f"/media/{gym_a.logo.name}")
    assert other.status_code == 404
    traversal = Client(HTTP_HOST="gym-b.localhost").get(f"/media/gym_gym_b/../{gym_a.logo.name}")
    assert traversal.status_code == 404


def test_settings_page_rerenders_with_field_errors_and_changes_nothing(gym_a: Gym, make_staff) -> None:
    owner = make_staff(gym_a, Role.OWNER)
    client = Client(HTTP_HOST="gym-a.localhost")
    client.force_login(owner)

    response = client.post("/settings/", {"name": "", "timezone": "Nowhere/Else", "currency": "ZZZ"})

    assert response.status_code == 400
    form = response.context["form"]
    assert set(form.errors) >= {"name", "timezone", "currency"}
    gym_a.refresh_from_db()
    assert gym_a.name == "Gym A" and gym_a.timezone == "Europe/London"


def test_settings_page_is_for_managers_and_owners_only(gym_a: Gym, make_staff) -> None:
    desk = make_staff(gym_a, Role.RECEPTIONIST)
    client = Client(HTTP_HOST="gym-a.localhost")
    client.force_login(desk)

    assert client.get("/").status_code == 200
    assert client.get("/settings/").status_code == 403
    assert client.post("/settings/", {"name": "Hijacked", "timezone": "UTC", "currency": "USD"}).status_code == 403
    with schema_context("public"):
        assert Gym.objects.get(pk=gym_a.pk).name == "Gym A"
