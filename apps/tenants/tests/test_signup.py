"""The public "create your gym" signup: the happy path and every bad input."""

from __future__ import annotations

from unittest import mock
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test import Client
from django_tenants.utils import schema_exists, tenant_context

from apps.accounts.models import User
from apps.staff.models import StaffRole
from apps.staff.roles import Role
from apps.tenants.models import Domain, Gym

pytestmark = pytest.mark.django_db


def signup_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Harbour Yoga",
        "slug": "harbour-yoga",
        "owner_email": "Owner@Harbour.test",
        "password": "a-long-and-unusual-passphrase",
        "timezone": "Africa/Johannesburg",
        "currency": "ZAR",
    }
    data.update(overrides)
    return data


def test_signup_creates_gym_schema_domain_owner_and_logs_in_on_gym_host(public_client: Client) -> None:
    response = public_client.post("/signup/", signup_data())

    assert response.status_code == 302
    target = urlparse(response["Location"])
    assert target.hostname == "harbour-yoga.localhost"
    assert target.path == "/accounts/welcome/"

    gym = Gym.objects.get(slug="harbour-yoga")
    assert (gym.name, gym.timezone, gym.currency, gym.schema_name) == (
        "Harbour Yoga",
        "Africa/Johannesburg",
        "ZAR",
        "gym_harbour_yoga",
    )
    assert schema_exists("gym_harbour_yoga")
    assert Domain.objects.get(tenant=gym).domain == "harbour-yoga.localhost"
    owner = User.objects.get(email="owner@harbour.test")
    with tenant_context(gym):
        assert StaffRole.objects.get(user=owner).role == Role.OWNER

    # The handoff link logs the owner in on the gym host and opens the dashboard.
    gym_client = Client(HTTP_HOST="harbour-yoga.localhost")
    token = parse_qs(target.query)["t"][0]
    landed = gym_client.get("/accounts/welcome/", {"t": token}, follow=True)
    assert landed.status_code == 200
    assert landed.redirect_chain[-1][0] == "/"
    assert b"Harbour Yoga" in landed.content and b"owner@harbour.test" in landed.content

    # One use only.
    again = Client(HTTP_HOST="harbour-yoga.localhost").get("/accounts/welcome/", {"t": token})
    assert again.status_code == 403


def test_handoff_token_for_one_gym_is_refused_on_another(public_client: Client, client_b: Client) -> None:
    response = public_client.post("/signup/", signup_data(slug="token-gym"))
    token = parse_qs(urlparse(response["Location"]).query)["t"][0]

    refused = client_b.get("/accounts/welcome/", {"t": token})

    assert refused.status_code == 403
    assert b"another gym" in refused.content
    assert "_auth_user_id" not in client_b.session


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("www", "reserved"),
        ("admin", "reserved"),
        ("api", "reserved"),
        ("public", "reserved"),
        ("static", "reserved"),
        ("Bad_Name!", "lowercase letters"),
        ("ab", "lowercase letters"),
        ("-leading", "lowercase letters"),
        ("trailing-", "lowercase letters"),
        ("double--hyphen", "lowercase letters"),
        ("x" * 41, "at most 40"),
        ("gym-a", "already taken"),
        ("GYM-A", "already taken"),
    ],
)
def test_bad_subdomains_get_a_field_error_and_create_nothing(public_client: Client, slug: str, message: str) -> None:
    gyms_before = Gym.objects.count()
    users_before = User.objects.count()

    response = public_client.post("/signup/", signup_data(slug=slug, owner_email="someone@new.test"))

    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors["slug"])
    assert Gym.objects.count() == gyms_before
    assert User.objects.count() == users_before
    # The entered values are kept, so nothing the person typed is lost.
    assert response.context["form"]["name"].value() == "Harbour Yoga"


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("name", "", "required"),
        ("owner_email", "not-an-email", "valid email"),
        ("password", "123", "too short"),
        ("timezone", "Mars/Olympus", "valid choice"),
        ("currency", "XYZ", "valid choice"),
    ],
)
def test_other_bad_inputs_get_field_errors(public_client: Client, field: str, value: str, fragment: str) -> None:
    response = public_client.post("/signup/", signup_data(**{field: value}))

    assert response.status_code == 400
    assert fragment in " ".join(response.context["form"].errors[field])
    assert not Gym.objects.filter(slug="harbour-yoga").exists()


def test_existing_account_must_give_its_password(public_client: Client, make_staff) -> None:
    existing = make_staff(Gym.objects.get(slug="gym-b"), Role.OWNER, email="taken@example.test")

    wrong = public_client.post("/signup/", signup_data(owner_email="taken@example.test"))
    assert wrong.status_code == 400
    assert "account with this email exists" in " ".join(wrong.context["form"].errors["owner_email"])
    assert not Gym.objects.filter(slug="harbour-yoga").exists()

    right = public_client.post(
        "/signup/", signup_data(owner_email="TAKEN@example.test", password="correct-horse-battery-staple")
    )
    assert right.status_code == 302
    gym = Gym.objects.get(slug="harbour-yoga")
    with tenant_context(gym):
        assert StaffRole.objects.get(user=existing).role == Role.OWNER


def test_failed_signup_leaves_no_schema_gym_domain_or_user(public_client: Client) -> None:
    with (
        mock.patch("apps.tenants.services.staff_role_assign", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError),
    ):
        public_client.post("/signup/", signup_data(slug="half-made", owner_email="half@made.test"))

    connection.set_schema_to_public()
    assert not schema_exists("gym_half_made")
    assert not Gym.objects.filter(slug="half-made").exists()
    assert not Domain.objects.filter(domain="half-made.localhost").exists()
    assert not User.objects.filter(email="half@made.test").exists()


def test_find_my_gym_lists_open_gyms_only(public_client: Client, gym_b: Gym) -> None:
    Gym.objects.filter(pk=gym_b.pk).update(status=Gym.Status.SUSPENDED)

    page = public_client.get("/find/", {"q": "gym"})
    partial = public_client.get("/find/", {"q": "gym"}, HTTP_HX_REQUEST="true")

    assert page.status_code == 200
    assert b"Gym A" in page.content and b"Gym B" not in page.content
    assert b"http://gym-a.localhost/accounts/login/" in page.content
    assert b"<html" not in partial.content and b"Gym A" in partial.content


def test_gym_discovery_api_returns_open_gyms_with_api_urls(public_client: Client) -> None:
    response = public_client.get("/api/v1/gyms/", {"q": "Gym A"})

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["slug"] for r in results] == ["gym-a"]
    assert results[0]["api_base_url"] == "http://gym-a.localhost/api/v1/"


def test_gym_discovery_api_query_count_does_not_grow_with_gyms(
    public_client: Client, django_assert_max_num_queries
) -> None:
    from apps.tenants.models import Domain

    public = Gym.objects.get(schema_name="public")
    for i in range(15):  # rows only: discovery never touches gym schemas
        gym = Gym.objects.create(name=f"Listed {i}", slug=f"listed-{i}", schema_name=f"gym_listed_{i}", status="active")
        Domain.objects.create(domain=f"listed-{i}.localhost", tenant=gym, is_primary=True)
    assert public.pk

    # tenant lookup, gyms, their domains (each preceded by django-tenants' SET search_path)
    with django_assert_max_num_queries(6):
        response = public_client.get("/api/v1/gyms/", {"q": "Listed"})

    assert len(response.json()["results"]) == 15
