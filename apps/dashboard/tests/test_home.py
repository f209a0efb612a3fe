"""The dashboard home shows this gym's own counts."""

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.memberships.models import Membership
from apps.memberships.tests.factories import MembershipFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def test_home_counts_members_and_memberships_of_this_gym_only(
    gym_a: Gym, gym_b: Gym, make_staff, client_a: Client
) -> None:
    with tenant_context(gym_a):
        MembershipFactory.create_batch(3)
        MembershipFactory(status=Membership.Status.FROZEN)
    with tenant_context(gym_b):
        MembershipFactory.create_batch(5)
    client_a.force_login(make_staff(gym_a, Role.RECEPTIONIST))

    response = client_a.get("/")

    assert response.status_code == 200
    assert response.context["members_count"] == 4
    assert response.context["membership_counts"]["active"] == 3
    assert response.context["membership_counts"]["frozen"] == 1
    assert b"3 active memberships" in response.content
