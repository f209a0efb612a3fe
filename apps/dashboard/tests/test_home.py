"""The dashboard home shows this gym's own counts."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.checkins.services import checkin_check_out, checkin_create
from apps.checkins.tests.factories import active_member
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


def test_home_shows_who_is_in_the_gym_now_with_a_link_to_the_desk(
    gym_a: Gym, gym_b: Gym, make_staff, client_a: Client, django_assert_max_num_queries
) -> None:
    # given three members in gym A now (one of them checked out) and five in gym B
    with tenant_context(gym_a):
        in_now = [checkin_create(member=active_member().member, now=timezone.now()) for _ in range(3)]
        checkin_check_out(check_in=in_now[0].check_in)
    with tenant_context(gym_b):
        for _ in range(5):
            checkin_create(member=active_member().member, now=timezone.now())
    Gym.objects.filter(pk=gym_a.pk).update(occupancy_capacity=40)
    client_a.force_login(make_staff(gym_a, Role.RECEPTIONIST))
    client_a.get("/")

    # when the desk opens the dashboard
    with django_assert_max_num_queries(20):
        response = client_a.get("/")

    # then gym A's own count, against its capacity, linking to the check-in desk
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["occupancy"].count == 2 and response.context["occupancy"].capacity == 40
    assert "2 in the gym now" in html and "5% of 40" in html
    assert f'href="{reverse("checkins:desk")}"' in html


def test_home_warns_when_the_gym_is_nearly_full(gym_a: Gym, make_staff, client_a: Client) -> None:
    with tenant_context(gym_a):
        for _ in range(3):
            checkin_create(member=active_member().member, now=timezone.now())
    Gym.objects.filter(pk=gym_a.pk).update(occupancy_capacity=3)
    client_a.force_login(make_staff(gym_a, Role.OWNER))

    html = client_a.get("/").content.decode()

    assert "3 in the gym now" in html and "100% of 3" in html and "Full" in html
