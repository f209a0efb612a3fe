"""`/api/v1/members/`: list, create, retrieve, update; roles, medical notes, isolation, query counts.

The helpers at the top (`auth`, `member_user`, `assert_error`) are shared with the
plans and memberships API tests.
"""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.accounts.tokens import gym_refresh_token_for
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

STAFF_ROLES = [Role.OWNER, Role.MANAGER, Role.TRAINER, Role.RECEPTIONIST]


def auth(gym: Gym, user: User) -> dict[str, str]:
    """A bearer header with an access token of `user` for `gym`."""
    with tenant_context(gym):
        token = str(gym_refresh_token_for(user=user).access_token)
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def member_user(gym: Gym, **member_fields: object) -> tuple[User, Member]:
    """A global user linked to a new member record at `gym` (the member role)."""
    user = UserFactory()
    with tenant_context(gym):
        member = MemberFactory(user=user, **member_fields)
    return user, member


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
def staff_auth(gym_a: Gym, make_staff):
    """`staff_auth(role)` -> bearer headers of a new staff user with `role` at gym A."""

    def make(role: Role) -> dict[str, str]:
        return auth(gym_a, make_staff(gym_a, role))

    return make


# --- list ----------------------------------------------------------------------------------


def test_list_searches_filters_orders_and_pages(gym_a: Gym, client_a: Client, staff_auth) -> None:
    with tenant_context(gym_a):
        ada = MemberFactory(first_name="Ada", last_name="Lovelace", email="ada@example.test", tags=["vip"])
        MemberFactory(first_name="Alan", last_name="Turing", phone="+27821112233")
        MemberFactory(first_name="Grace", last_name="Hopper", status=Member.Status.INACTIVE)
        plan = PlanFactory(name="Gold")
        MembershipFactory(member=ada, plan=plan)
    headers = staff_auth(Role.RECEPTIONIST)

    everyone = client_a.get("/api/v1/members/", **headers)
    assert everyone.status_code == 200
    body = everyone.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert [m["last_name"] for m in body["results"]] == ["Hopper", "Lovelace", "Turing"]
    first = body["results"][1]
    assert first["current_membership"]["plan_name"] == "Gold" and first["current_membership"]["status"] == "active"
    assert "medical_notes" not in first

    def names(**params) -> list[str]:
        response = client_a.get("/api/v1/members/", params, **headers)
        assert response.status_code == 200, response.content
        return [m["first_name"] for m in response.json()["results"]]

    assert names(q="lovel") == ["Ada"]
    assert names(q="ADA@example") == ["Ada"]
    assert names(q="1112233") == ["Alan"]
    assert names(status="inactive") == ["Grace"]
    assert names(plan=plan.pk) == ["Ada"]
    assert names(tag="VIP") == ["Ada"]
    assert names(ordering="-name") == ["Alan", "Ada", "Grace"]
    paged = client_a.get("/api/v1/members/", {"page_size": 2, "page": 2}, **headers).json()
    assert paged["count"] == 3 and len(paged["results"]) == 1 and paged["previous"]


def test_list_rejects_bad_filters_in_the_envelope(client_a: Client, staff_auth) -> None:
    headers = staff_auth(Role.RECEPTIONIST)

    error = assert_error(
        client_a.get("/api/v1/members/", {"status": "bogus", "ordering": "shoe_size"}, **headers),
        400,
        "validation_error",
    )
    assert set(error["details"]) == {"status", "ordering"}
    assert_error(client_a.get("/api/v1/members/", {"page": 99}, **headers), 404, "not_found")


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_every_staff_role_may_list(client_a: Client, staff_auth, role: Role) -> None:
    assert client_a.get("/api/v1/members/", **staff_auth(role)).status_code == 200


def test_members_and_strangers_may_not_use_the_members_api(gym_a: Gym, client_a: Client) -> None:
    user, me = member_user(gym_a)
    headers = auth(gym_a, user)

    assert_error(client_a.get("/api/v1/members/", **headers), 403, "role_too_low")
    assert_error(client_a.get(f"/api/v1/members/{me.pk}/", **headers), 403, "role_too_low")
    assert_error(
        client_a.post("/api/v1/members/", {"first_name": "X"}, content_type="application/json", **headers),
        403,
        "role_too_low",
    )
    assert_error(
        client_a.patch(f"/api/v1/members/{me.pk}/", {}, content_type="application/json", **headers), 403, "role_too_low"
    )
    assert_error(client_a.get("/api/v1/members/"), 401, "not_authenticated")
    assert_error(client_a.get("/api/v1/members/", **auth(gym_a, UserFactory())), 403, "no_gym_access")


# --- create ------------------------------------------------------------------------------


def test_receptionist_creates_a_member(gym_a: Gym, client_a: Client, staff_auth) -> None:
    response = client_a.post(
        "/api/v1/members/",
        {
            "first_name": "Nomsa",
            "last_name": "Dlamini",
            "email": "Nomsa@Example.test",
            "phone": "+27 82 555 0101",
            "date_of_birth": "1990-04-01",
            "tags": [" Morning ", "morning"],
            "source": "referral",
        },
        content_type="application/json",
        **staff_auth(Role.RECEPTIONIST),
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "nomsa@example.test" and body["phone"] == "+27825550101"
    assert body["tags"] == ["morning"] and body["current_membership"] is None
    assert "medical_notes" not in body
    with tenant_context(gym_a):
        assert Member.objects.get(pk=body["id"]).source == "referral"


def test_create_validation_errors(gym_a: Gym, client_a: Client, staff_auth) -> None:
    headers = staff_auth(Role.RECEPTIONIST)

    error = assert_error(
        client_a.post(
            "/api/v1/members/",
            {"email": "not-an-email", "phone": "12", "status": "erased", "gender": "robot"},
            content_type="application/json",
            **headers,
        ),
        400,
        "validation_error",
    )
    assert set(error["details"]) == {"first_name", "email", "phone", "status", "gender"}


def test_create_with_a_taken_email_is_409(gym_a: Gym, client_a: Client, staff_auth) -> None:
    with tenant_context(gym_a):
        MemberFactory(email="taken@example.test")

    error = assert_error(
        client_a.post(
            "/api/v1/members/",
            {"first_name": "Dup", "email": "TAKEN@example.test"},
            content_type="application/json",
            **staff_auth(Role.RECEPTIONIST),
        ),
        409,
        "email_taken",
    )
    assert "email" in error["details"]


# --- medical notes ------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "sees"), [(r, r != Role.RECEPTIONIST) for r in STAFF_ROLES])
def test_medical_notes_are_shown_to_trainer_and_up_only(
    gym_a: Gym, client_a: Client, staff_auth, role: Role, sees: bool
) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(medical_notes="Asthma; inhaler in locker 12.")
    headers = staff_auth(role)

    detail = client_a.get(f"/api/v1/members/{member.pk}/", **headers).json()
    listed = client_a.get("/api/v1/members/", **headers).json()["results"][0]

    if sees:
        assert detail["medical_notes"] == listed["medical_notes"] == "Asthma; inhaler in locker 12."
    else:
        assert "medical_notes" not in detail and "medical_notes" not in listed
        assert b"Asthma" not in client_a.get(f"/api/v1/members/{member.pk}/", **headers).content


def test_receptionist_may_not_write_medical_notes(gym_a: Gym, client_a: Client, staff_auth) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(medical_notes="Knee surgery 2024.")
    headers = staff_auth(Role.RECEPTIONIST)

    patch = client_a.patch(
        f"/api/v1/members/{member.pk}/",
        {"medical_notes": "", "first_name": "Changed"},
        content_type="application/json",
        **headers,
    )
    create = client_a.post(
        "/api/v1/members/",
        {"first_name": "New", "medical_notes": "Diabetic"},
        content_type="application/json",
        **headers,
    )

    assert assert_error(patch, 403, "field_forbidden")["details"] == {"fields": ["medical_notes"]}
    assert_error(create, 403, "field_forbidden")
    with tenant_context(gym_a):
        member.refresh_from_db()
        assert member.medical_notes == "Knee surgery 2024." and member.first_name != "Changed"
        assert not Member.objects.filter(first_name="New").exists()


def test_trainer_writes_medical_notes(gym_a: Gym, client_a: Client, staff_auth) -> None:
    headers = staff_auth(Role.TRAINER)

    created = client_a.post(
        "/api/v1/members/",
        {"first_name": "Sipho", "medical_notes": "Pacemaker"},
        content_type="application/json",
        **headers,
    )
    assert created.status_code == 201 and created.json()["medical_notes"] == "Pacemaker"
    patched = client_a.patch(
        f"/api/v1/members/{created.json()['id']}/", {"medical_notes": ""}, content_type="application/json", **headers
    )
    assert patched.status_code == 200 and patched.json()["medical_notes"] == ""


# --- retrieve and update --------------------------------------------------------------------


def test_retrieve_and_patch(gym_a: Gym, client_a: Client, staff_auth) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(first_name="Lebo", email="lebo@example.test", joined_on=datetime.date(2025, 3, 1))
    headers = staff_auth(Role.RECEPTIONIST)

    got = client_a.get(f"/api/v1/members/{member.pk}/", **headers)
    assert got.status_code == 200
    assert got.json()["joined_on"] == "2025-03-01" and got.json()["has_app_login"] is False

    patched = client_a.patch(
        f"/api/v1/members/{member.pk}/",
        {"phone": "+27825550199", "status": "inactive", "tags": ["Student"]},
        content_type="application/json",
        **headers,
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["first_name"] == "Lebo" and patched.json()["status"] == "inactive"
    assert patched.json()["tags"] == ["student"]
    with tenant_context(gym_a):
        member.refresh_from_db()
        assert str(member.phone) == "+27825550199"


def test_patch_errors(gym_a: Gym, client_a: Client, staff_auth) -> None:
    with tenant_context(gym_a):
        MemberFactory(email="one@example.test")
        two = MemberFactory(email="two@example.test")
        erased = MemberFactory(status=Member.Status.ERASED)
    headers = staff_auth(Role.MANAGER)

    def patch(pk: int, body: dict):
        return client_a.patch(f"/api/v1/members/{pk}/", body, content_type="application/json", **headers)

    assert_error(patch(two.pk, {"email": "One@example.test"}), 409, "email_taken")
    assert_error(patch(two.pk, {"first_name": ""}), 400, "validation_error")
    assert_error(patch(two.pk, {"status": "erased"}), 400, "validation_error")
    assert_error(patch(erased.pk, {"first_name": "Back"}), 409, "member_erased")
    assert_error(patch(999_999, {"first_name": "X"}), 404, "not_found")
    assert_error(client_a.get("/api/v1/members/999999/", **headers), 404, "not_found")


# --- isolation -----------------------------------------------------------------------------


def test_gym_a_staff_cannot_reach_gym_b_members(
    gym_a: Gym, gym_b: Gym, make_staff, client_a: Client, client_b: Client
) -> None:
    with tenant_context(gym_b):
        theirs = MemberFactory(first_name="Bee", medical_notes="B's secret")
    owner_a = make_staff(gym_a, Role.OWNER)
    headers = auth(gym_a, owner_a)

    assert client_a.get("/api/v1/members/", **headers).json()["count"] == 0
    assert_error(client_a.get(f"/api/v1/members/{theirs.pk}/", **headers), 404, "not_found")
    assert_error(
        client_a.patch(
            f"/api/v1/members/{theirs.pk}/", {"first_name": "Hacked"}, content_type="application/json", **headers
        ),
        404,
        "not_found",
    )
    # A's token on B's host.
    assert_error(client_b.get("/api/v1/members/", **headers), 401, "token_wrong_gym")
    assert_error(client_b.get(f"/api/v1/members/{theirs.pk}/", **headers), 401, "token_wrong_gym")
    assert_error(
        client_b.patch(
            f"/api/v1/members/{theirs.pk}/", {"first_name": "Hacked"}, content_type="application/json", **headers
        ),
        401,
        "token_wrong_gym",
    )
    with tenant_context(gym_b):
        theirs.refresh_from_db()
        assert theirs.first_name == "Bee"


# --- query counts --------------------------------------------------------------------------


def test_member_list_query_count_is_constant(
    gym_a: Gym, client_a: Client, staff_auth, django_assert_max_num_queries
) -> None:
    with tenant_context(gym_a):
        Member.objects.bulk_create(
            Member(first_name=f"First{i}", last_name=f"Last{i:04d}", email=f"m{i}@example.test", tags=["t"])
            for i in range(1000)
        )
        plan = PlanFactory()
        members = list(Member.objects.order_by("id")[:600])
        Membership.objects.bulk_create(
            Membership(member=m, plan=plan, start_date=datetime.date(2026, 1, 1), price=plan.price) for m in members
        )
    headers = staff_auth(Role.TRAINER)
    client_a.get("/api/v1/members/", {"page_size": 1}, **headers)  # warm up: first-request imports

    # 6 queries: gym by host, user, role, count, members, their current memberships;
    # django-tenants sends a `SET search_path` before each (TENANT_LIMIT_SET_CALLS is off).
    for params in ({"page_size": 200}, {"page_size": 200, "q": "Last0", "tag": "t"}, {"plan": plan.pk}):
        with django_assert_max_num_queries(12):
            response = client_a.get("/api/v1/members/", params, **headers)
        assert response.status_code == 200
    assert response.json()["count"] == 600
