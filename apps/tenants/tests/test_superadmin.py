"""The platform super-admin on the public host: list, search, filter, suspend, reactivate, tier."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import User
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


@pytest.fixture
def superadmin_client(public_client: Client) -> Client:
    admin = User.objects.create_superuser(email="root@fitflow.test", password="x-very-long-password")
    public_client.force_login(admin)
    return public_client


def test_gym_list_search_and_filter(superadmin_client: Client, gym_a: Gym, gym_b: Gym) -> None:
    Gym.objects.filter(pk=gym_b.pk).update(status=Gym.Status.SUSPENDED)

    listing = superadmin_client.get("/admin/tenants/gym/")
    search = superadmin_client.get("/admin/tenants/gym/", {"q": "gym-a.localhost"})
    filtered = superadmin_client.get("/admin/tenants/gym/", {"status__exact": "suspended"})

    assert listing.status_code == 200
    assert b"Gym A" in listing.content and b"Gym B" in listing.content and b"gym-a.localhost" in listing.content
    assert b"Gym A" in search.content and b"Gym B" not in search.content
    assert b"Gym B" in filtered.content and b"Gym A" not in filtered.content


def test_suspend_reactivate_and_change_tier_actions(superadmin_client: Client, gym_a: Gym, make_staff) -> None:
    owner = make_staff(gym_a, Role.OWNER)
    member_side = Client(HTTP_HOST="gym-a.localhost")
    member_side.force_login(owner)

    superadmin_client.post("/admin/tenants/gym/", {"action": "suspend", "_selected_action": [gym_a.pk]})
    gym_a.refresh_from_db()
    assert gym_a.status == Gym.Status.SUSPENDED
    assert member_side.get("/").status_code == 403

    superadmin_client.post("/admin/tenants/gym/", {"action": "reactivate", "_selected_action": [gym_a.pk]})
    superadmin_client.post("/admin/tenants/gym/", {"action": "set_tier_pro", "_selected_action": [gym_a.pk]})
    gym_a.refresh_from_db()
    assert (gym_a.status, gym_a.tier) == (Gym.Status.ACTIVE, Gym.Tier.PRO)
    assert member_side.get("/").status_code == 200


def test_gym_staff_cannot_use_the_platform_admin(public_client: Client, gym_a: Gym, make_staff) -> None:
    public_client.force_login(make_staff(gym_a, Role.OWNER))

    response = public_client.get("/admin/tenants/gym/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_platform_admin_is_not_served_on_gym_hosts(superadmin_client: Client, client_a: Client) -> None:
    root = User.objects.get(email="root@fitflow.test")
    client_a.force_login(root)

    # Gym hosts serve the gym admin, which knows no Gym model and refuses a user without a gym role.
    assert client_a.get("/admin/tenants/gym/").status_code in (302, 404)
    assert client_a.get("/").status_code == 403


def test_users_are_deactivated_not_deleted_from_the_platform_admin(
    superadmin_client: Client, gym_a: Gym, make_staff
) -> None:
    staff = make_staff(gym_a, Role.MANAGER)

    assert superadmin_client.get(f"/admin/accounts/user/{staff.pk}/delete/").status_code == 403
    assert superadmin_client.get(f"/admin/accounts/user/{staff.pk}/change/").status_code == 200


def test_a_user_without_gym_roles_can_be_deleted_from_public(db) -> None:
    from apps.accounts.tests.factories import UserFactory

    loner = UserFactory()
    loner.delete()  # the collector must not look for gym-only tables from public

    assert not User.objects.filter(pk=loner.pk).exists()
