"""`/api/v1/plans/`: member visibility, manager writes, archive, delete rules, isolation, query counts."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.members.tests.factories import MemberFactory
from apps.members.tests.test_api_members import assert_error, auth, member_user
from apps.memberships.models import Membership
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

MONTHLY = {"name": "Monthly", "price": "499.00", "kind": "recurring", "billing_period": "monthly"}


@pytest.fixture
def plans(gym_a: Gym) -> dict[str, Plan]:
    with tenant_context(gym_a):
        return {
            "public": PlanFactory(name="Anytime", price=Decimal("600.00")),
            "hidden": PlanFactory(name="Corporate", show_in_app=False),
            "archived": PlanFactory(name="Legacy", is_active=False),
        }


def test_member_sees_only_public_plans(gym_a: Gym, client_a: Client, plans: dict[str, Plan]) -> None:
    user, _ = member_user(gym_a)
    headers = auth(gym_a, user)

    listed = client_a.get("/api/v1/plans/", **headers)
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()["results"]] == ["Anytime"]
    one = client_a.get(f"/api/v1/plans/{plans['public'].pk}/", **headers).json()
    assert one["price"] == "600.00" and one["billing_period"] == "monthly" and one["currency"] == gym_a.currency
    assert one["class_credits"] is None
    for hidden in ("hidden", "archived"):
        assert_error(client_a.get(f"/api/v1/plans/{plans[hidden].pk}/", **headers), 404, "not_found")
    # Staff-only filters do not widen what a member sees.
    assert client_a.get("/api/v1/plans/", {"is_active": "false"}, **headers).json()["count"] == 0


def test_staff_see_every_plan_and_filter(gym_a: Gym, make_staff, client_a: Client, plans: dict[str, Plan]) -> None:
    headers = auth(gym_a, make_staff(gym_a, Role.RECEPTIONIST))

    names = [p["name"] for p in client_a.get("/api/v1/plans/", **headers).json()["results"]]
    assert names == ["Anytime", "Corporate", "Legacy"]
    archived = client_a.get("/api/v1/plans/", {"is_active": "false"}, **headers).json()["results"]
    assert [p["name"] for p in archived] == ["Legacy"]
    assert client_a.get(f"/api/v1/plans/{plans['hidden'].pk}/", **headers).status_code == 200
    by_price = client_a.get("/api/v1/plans/", {"ordering": "-price", "page_size": 1}, **headers).json()
    assert by_price["count"] == 3 and by_price["results"][0]["name"] == "Anytime"
    assert_error(client_a.get("/api/v1/plans/", {"kind": "lifetime"}, **headers), 400, "validation_error")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [(Role.OWNER, True), (Role.MANAGER, True), (Role.TRAINER, False), (Role.RECEPTIONIST, False), (Role.MEMBER, False)],
)
def test_only_managers_and_owners_write_plans(
    gym_a: Gym, make_staff, client_a: Client, plans: dict[str, Plan], role: Role, allowed: bool
) -> None:
    user = member_user(gym_a)[0] if role == Role.MEMBER else make_staff(gym_a, role)
    headers = auth(gym_a, user)
    pk = plans["public"].pk

    responses = [
        client_a.post("/api/v1/plans/", MONTHLY, content_type="application/json", **headers),
        client_a.patch(f"/api/v1/plans/{pk}/", {"price": "650.00"}, content_type="application/json", **headers),
        client_a.post(f"/api/v1/plans/{pk}/archive/", **headers),
        client_a.delete(f"/api/v1/plans/{plans['hidden'].pk}/", **headers),
    ]

    if allowed:
        assert [r.status_code for r in responses] == [201, 200, 200, 204]
    else:
        for response in responses:
            assert_error(response, 403, "role_too_low")


def test_create_update_archive(gym_a: Gym, make_staff, client_a: Client) -> None:
    headers = auth(gym_a, make_staff(gym_a, Role.MANAGER))

    created = client_a.post(
        "/api/v1/plans/",
        {
            **MONTHLY,
            "name": "Off-peak",
            "access_hours": [{"weekdays": [4, 0, 1, 2, 3], "start": "06:00", "end": "16:00"}],
            "class_credits": 8,
        },
        content_type="application/json",
        **headers,
    )
    assert created.status_code == 201, created.content
    plan = created.json()
    assert plan["access_hours"] == [{"weekdays": [0, 1, 2, 3, 4], "start": "06:00", "end": "16:00"}]
    assert plan["is_active"] and plan["class_credits"] == 8

    patched = client_a.patch(
        f"/api/v1/plans/{plan['id']}/",
        {"price": "450.50", "show_in_app": False},
        content_type="application/json",
        **headers,
    )
    assert patched.status_code == 200
    assert patched.json()["price"] == "450.50" and patched.json()["name"] == "Off-peak"
    assert not patched.json()["show_in_app"]

    archived = client_a.post(f"/api/v1/plans/{plan['id']}/archive/", **headers)
    assert archived.status_code == 200 and archived.json()["is_active"] is False
    with tenant_context(gym_a):
        assert Plan.objects.get(pk=plan["id"]).is_active is False


def test_plan_validation_errors(gym_a: Gym, make_staff, client_a: Client, plans: dict[str, Plan]) -> None:
    headers = auth(gym_a, make_staff(gym_a, Role.OWNER))

    def post(body: dict):
        return client_a.post("/api/v1/plans/", body, content_type="application/json", **headers)

    shape = assert_error(post({"price": "-1"}), 400, "validation_error")
    assert set(shape["details"]) == {"name", "price"}
    missing_period = assert_error(post({"name": "X", "price": "10"}), 400, "billing_period_required")
    assert "billing_period" in missing_period["details"]
    assert_error(post({"name": "Drop-in", "price": "80", "kind": "one_off"}), 400, "duration_required")
    assert_error(post({"name": "10 pack", "price": "800", "kind": "class_pack"}), 400, "credits_required")
    assert_error(
        post({**MONTHLY, "access_hours": [{"weekdays": [1], "start": "18:00", "end": "06:00"}]}),
        400,
        "invalid_access_hours",
    )
    assert_error(
        client_a.patch(
            f"/api/v1/plans/{plans['public'].pk}/", {"billing_period": ""}, content_type="application/json", **headers
        ),
        400,
        "billing_period_required",
    )
    assert_error(
        client_a.patch("/api/v1/plans/999999/", {}, content_type="application/json", **headers), 404, "not_found"
    )


def test_a_used_plan_is_archived_never_deleted(gym_a: Gym, make_staff, client_a: Client) -> None:
    with tenant_context(gym_a):
        used = PlanFactory()
        MembershipFactory(plan=used, status=Membership.Status.CANCELLED)
        unused = PlanFactory()
    headers = auth(gym_a, make_staff(gym_a, Role.OWNER))

    assert_error(client_a.delete(f"/api/v1/plans/{used.pk}/", **headers), 409, "plan_in_use")
    assert client_a.delete(f"/api/v1/plans/{unused.pk}/", **headers).status_code == 204
    with tenant_context(gym_a):
        assert Plan.objects.filter(pk=used.pk).exists() and not Plan.objects.filter(pk=unused.pk).exists()


def test_gym_a_cannot_reach_gym_b_plans(gym_a: Gym, gym_b: Gym, make_staff, client_a: Client, client_b: Client) -> None:
    with tenant_context(gym_b):
        theirs = PlanFactory(name="B only")
    headers = auth(gym_a, make_staff(gym_a, Role.OWNER))

    assert client_a.get("/api/v1/plans/", **headers).json()["count"] == 0
    assert_error(client_a.get(f"/api/v1/plans/{theirs.pk}/", **headers), 404, "not_found")
    assert_error(
        client_a.patch(f"/api/v1/plans/{theirs.pk}/", {"name": "Hacked"}, content_type="application/json", **headers),
        404,
        "not_found",
    )
    assert_error(client_a.post(f"/api/v1/plans/{theirs.pk}/archive/", **headers), 404, "not_found")
    assert_error(client_a.delete(f"/api/v1/plans/{theirs.pk}/", **headers), 404, "not_found")
    assert_error(client_b.get("/api/v1/plans/", **headers), 401, "token_wrong_gym")
    assert_error(client_b.post(f"/api/v1/plans/{theirs.pk}/archive/", **headers), 401, "token_wrong_gym")
    with tenant_context(gym_b):
        theirs.refresh_from_db()
        assert theirs.name == "B only" and theirs.is_active


def test_plan_list_query_count_is_constant(gym_a: Gym, client_a: Client, django_assert_max_num_queries) -> None:
    with tenant_context(gym_a):
        Plan.objects.bulk_create(
            Plan(name=f"Plan {i:03d}", price=Decimal(i), billing_period=Plan.BillingPeriod.MONTHLY) for i in range(300)
        )
        member = MemberFactory()
        MembershipFactory(member=member, start_date=datetime.date(2026, 1, 1))
    user, _ = member_user(gym_a)
    headers = auth(gym_a, user)
    client_a.get("/api/v1/plans/", {"page_size": 1}, **headers)

    # gym, user, role (staff role, then the member record), count, plans; each after a SET search_path.
    with django_assert_max_num_queries(12):
        response = client_a.get("/api/v1/plans/", {"page_size": 200}, **headers)
    assert response.status_code == 200 and len(response.json()["results"]) == 200
