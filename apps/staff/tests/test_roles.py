"""One role check for pages, the gym admin and the API, tried across gyms A and B."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.accounts.tests.factories import UserFactory
from apps.staff.access import check_gym_role
from apps.staff.errors import GymAccessDenied, StaffError
from apps.staff.roles import Role
from apps.staff.services import staff_role_assign
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def test_role_ladder_order() -> None:
    ladder = [Role.OWNER, Role.MANAGER, Role.TRAINER, Role.RECEPTIONIST, Role.MEMBER]
    assert [r.rank for r in ladder] == sorted((r.rank for r in ladder), reverse=True)
    assert Role.MANAGER.at_least(Role.TRAINER) and not Role.RECEPTIONIST.at_least(Role.TRAINER)


def test_anonymous_dashboard_visit_is_sent_to_login(client_a: Client) -> None:
    response = client_a.get("/settings/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/settings/"


def test_user_of_gym_a_is_refused_on_gym_b_pages_and_admin(
    gym_a: Gym, make_staff, client_a: Client, client_b: Client
) -> None:
    owner_a = make_staff(gym_a, Role.OWNER)
    client_a.force_login(owner_a)
    client_b.force_login(owner_a)  # a global identity can log in anywhere...

    assert client_a.get("/").status_code == 200
    refused = client_b.get("/")  # ...but holds no role at gym B
    assert refused.status_code == 403
    assert b"no access to this gym" in refused.content
    assert client_b.get("/settings/").status_code == 403
    admin = client_b.get("/admin/")
    assert admin.status_code == 302 and "/admin/login/" in admin["Location"]
    assert client_b.get("/admin/staff/staffrole/").status_code == 302


def test_gym_admin_is_for_owner_and_manager_only(gym_a: Gym, make_staff, client_a: Client) -> None:
    for role, allowed in [(Role.OWNER, True), (Role.MANAGER, True), (Role.TRAINER, False), (Role.RECEPTIONIST, False)]:
        client = Client(HTTP_HOST="gym-a.localhost")
        client.force_login(make_staff(gym_a, role))
        response = client.get("/admin/staff/staffrole/")
        assert (response.status_code == 200) is allowed, role


def test_gym_admin_lists_only_this_gyms_staff(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    owner_a = make_staff(gym_a, Role.OWNER, email="owner-a@example.test")
    make_staff(gym_b, Role.OWNER, email="owner-b@example.test")
    client = Client(HTTP_HOST="gym-a.localhost")
    client.force_login(owner_a)

    page = client.get("/admin/staff/staffrole/")

    assert b"owner-a@example.test" in page.content
    assert b"owner-b@example.test" not in page.content


def test_check_gym_role_codes(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    desk = make_staff(gym_a, Role.RECEPTIONIST)
    with tenant_context(gym_a):
        assert check_gym_role(user=desk, minimum=Role.RECEPTIONIST) is Role.RECEPTIONIST
        with pytest.raises(GymAccessDenied) as low:
            check_gym_role(user=desk, minimum=Role.MANAGER)
        assert low.value.code == "role_too_low"
    with tenant_context(gym_b), pytest.raises(GymAccessDenied) as elsewhere:
        check_gym_role(user=desk, minimum=Role.MEMBER)
    assert elsewhere.value.code == "no_gym_access"


def test_inactive_role_counts_as_none(gym_a: Gym, make_staff, client_a: Client) -> None:
    from apps.staff.models import StaffRole

    manager = make_staff(gym_a, Role.MANAGER)
    with tenant_context(gym_a):
        StaffRole.objects.filter(user=manager).update(is_active=False)
    client_a.force_login(manager)

    assert client_a.get("/").status_code == 403


def test_last_owner_cannot_be_demoted(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        owner = UserFactory()
        staff_role_assign(user=owner, role=Role.OWNER)
        with pytest.raises(StaffError) as exc:
            staff_role_assign(user=owner, role=Role.MANAGER)
        assert exc.value.code == "last_owner"
        with pytest.raises(StaffError):
            staff_role_assign(user=owner, role=Role.MEMBER)


def test_a_linked_member_record_gives_the_member_role_at_that_gym_only(gym_a: Gym, gym_b: Gym) -> None:
    from apps.members.models import Member
    from apps.members.tests.factories import MemberFactory

    user = UserFactory()
    with tenant_context(gym_a):
        member = MemberFactory(user=user)
        assert check_gym_role(user=user, minimum=Role.MEMBER) is Role.MEMBER
        with pytest.raises(GymAccessDenied) as staff_only:
            check_gym_role(user=user, minimum=Role.RECEPTIONIST)
        assert staff_only.value.code == "role_too_low"
        Member.objects.filter(pk=member.pk).update(status=Member.Status.ERASED)
        with pytest.raises(GymAccessDenied):  # an erased member record gives no access
            check_gym_role(user=user, minimum=Role.MEMBER)
    with tenant_context(gym_b), pytest.raises(GymAccessDenied):
        check_gym_role(user=user, minimum=Role.MEMBER)


def test_members_cannot_open_the_staff_dashboard(gym_a: Gym, client_a: Client) -> None:
    from apps.members.tests.factories import MemberFactory

    user = UserFactory()
    with tenant_context(gym_a):
        MemberFactory(user=user)
    client_a.force_login(user)

    response = client_a.get("/")

    assert response.status_code == 403
