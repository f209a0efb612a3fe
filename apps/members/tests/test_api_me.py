"""`GET /api/v1/me/` for a user linked to a member record: their profile and current membership."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.members.tests.test_api_members import auth, member_user
from apps.memberships.models import Membership
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def test_member_sees_their_profile_and_current_membership(gym_a: Gym, client_a: Client) -> None:
    user, me = member_user(gym_a, first_name="Zanele", medical_notes="Mild asthma", staff_notes="Owes a towel")
    with tenant_context(gym_a):
        plan = PlanFactory(name="Monthly")
        MembershipFactory(member=me, plan=plan, status=Membership.Status.EXPIRED, start_date=datetime.date(2025, 1, 1))
        current = MembershipFactory(member=me, plan=plan, status=Membership.Status.FROZEN)

    body = client_a.get("/api/v1/me/", **auth(gym_a, user)).json()

    assert body["role"] == "member"
    assert body["member"]["id"] == me.pk and body["member"]["first_name"] == "Zanele"
    assert body["member"]["medical_notes"] == "Mild asthma"  # their own notes
    assert "staff_notes" not in body["member"]
    assert body["membership"]["id"] == current.pk and body["membership"]["status"] == "frozen"
    assert body["membership"]["plan"]["name"] == "Monthly" and body["membership"]["currency"] == gym_a.currency


def test_member_without_a_current_membership(gym_a: Gym, client_a: Client) -> None:
    user, me = member_user(gym_a)
    with tenant_context(gym_a):
        MembershipFactory(member=me, status=Membership.Status.CANCELLED)

    body = client_a.get("/api/v1/me/", **auth(gym_a, user)).json()

    assert body["member"]["id"] == me.pk and body["membership"] is None


def test_staff_without_a_member_record(gym_a: Gym, make_staff, client_a: Client) -> None:
    body = client_a.get("/api/v1/me/", **auth(gym_a, make_staff(gym_a, Role.TRAINER))).json()

    assert body["role"] == "trainer" and body["member"] is None and body["membership"] is None


def test_member_record_at_gym_b_is_not_shown_at_gym_a(gym_a: Gym, gym_b: Gym, make_staff, client_a: Client) -> None:
    user = make_staff(gym_a, Role.RECEPTIONIST)
    with tenant_context(gym_b):
        from apps.members.tests.factories import MemberFactory

        MemberFactory(user=user)

    body = client_a.get("/api/v1/me/", **auth(gym_a, user)).json()

    assert body["member"] is None
