"""The plans pages: list for any staff role; create, edit, archive, restore and delete
for owner and manager; bad input; a used plan is archived, never deleted; isolation."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.accounts.tests.factories import UserFactory
from apps.conftest import host_of
from apps.members.tests.factories import MemberFactory
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

FOREIGN_ID = itertools.count(910_000_001)


@pytest.fixture
def login(gym_a: Gym, make_staff) -> Callable[..., Client]:
    def make(role: Role = Role.OWNER) -> Client:
        client = Client(HTTP_HOST=host_of(gym_a))
        client.force_login(make_staff(gym_a, role))
        return client

    return make


@pytest.fixture
def plan(gym_a: Gym) -> Plan:
    with tenant_context(gym_a):
        return PlanFactory(name="Monthly Gold", price=Decimal("600.00"))


def _plan_form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Off-peak",
        "description": "Weekdays before four",
        "kind": "recurring",
        "price": "399.00",
        "signup_fee": "0.00",
        "tax_rate": "15.00",
        "price_includes_tax": "on",
        "billing_period": "monthly",
        "billing_interval": "1",
        "duration_days": "",
        "class_credits": "",
        "pack_expiry_days": "",
        "trial_days": "7",
        "is_active": "on",
        "show_in_app": "on",
        "hours-TOTAL_FORMS": "2",
        "hours-INITIAL_FORMS": "0",
        "hours-MIN_NUM_FORMS": "0",
        "hours-MAX_NUM_FORMS": "14",
        "hours-0-weekdays": ["0", "1", "2", "3", "4"],
        "hours-0-start": "06:00",
        "hours-0-end": "16:00",
    }
    data.update(overrides)
    return data


def _plan_pages(plan_id: int) -> list[str]:
    return ["/plans/new/", f"/plans/{plan_id}/edit/", f"/plans/{plan_id}/delete/"]


def test_anonymous_visitors_are_sent_to_login(client_a: Client, plan: Plan) -> None:
    for url in ["/plans/", *_plan_pages(plan.pk)]:
        response = client_a.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url
    assert client_a.post(f"/plans/{plan.pk}/archive/").status_code == 302


@pytest.mark.parametrize("role", [Role.OWNER, Role.MANAGER])
def test_owner_and_manager_manage_plans(login, plan: Plan, role: Role) -> None:
    client = login(role)
    page = client.get("/plans/").content.decode()
    assert "Monthly Gold" in page and f"/plans/{plan.pk}/edit/" in page and "New plan" in page
    for url in _plan_pages(plan.pk):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("role", [Role.TRAINER, Role.RECEPTIONIST])
def test_other_staff_read_the_list_but_change_nothing(login, gym_a: Gym, plan: Plan, role: Role) -> None:
    client = login(role)
    page = client.get("/plans/")
    assert page.status_code == 200
    assert "Monthly Gold" in page.content.decode() and f"/plans/{plan.pk}/edit/" not in page.content.decode()
    for url in _plan_pages(plan.pk):
        assert client.get(url).status_code == 403, url
    for action in ["archive", "restore", "delete", "edit"]:
        assert client.post(f"/plans/{plan.pk}/{action}/").status_code == 403, action
    assert client.post("/plans/new/", _plan_form()).status_code == 403
    with tenant_context(gym_a):
        assert Plan.objects.get(pk=plan.pk).is_active and Plan.objects.count() == 1


def test_a_member_login_and_other_gyms_staff_are_refused(gym_a: Gym, gym_b: Gym, make_staff, plan: Plan) -> None:
    member_user = UserFactory()
    with tenant_context(gym_a):
        MemberFactory(user=member_user)
    as_member = Client(HTTP_HOST=host_of(gym_a))
    as_member.force_login(member_user)
    outsider = Client(HTTP_HOST=host_of(gym_a))
    outsider.force_login(make_staff(gym_b, Role.OWNER))
    for client in (as_member, outsider):
        assert client.get("/plans/").status_code == 403
        assert client.get(f"/plans/{plan.pk}/edit/").status_code == 403


def test_create_a_plan_with_access_hours(login, gym_a: Gym) -> None:
    response = login(Role.MANAGER).post("/plans/new/", _plan_form())

    assert response.status_code == 302 and response["Location"] == "/plans/"
    with tenant_context(gym_a):
        created = Plan.objects.get(name="Off-peak")
    assert (created.price, created.tax_rate, created.trial_days) == (Decimal("399.00"), Decimal("15.00"), 7)
    assert created.billing_period == "monthly" and created.class_credits is None
    assert created.access_hours == [{"weekdays": [0, 1, 2, 3, 4], "start": "06:00", "end": "16:00"}]


def test_the_list_shows_plans_on_sale_and_archived(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        PlanFactory(name="Off-peak", access_hours=[{"weekdays": [0, 1, 2, 3, 4], "start": "06:00", "end": "16:00"}])
        PlanFactory(name="Ten-class pack", kind="class_pack", billing_period="", class_credits=10)
        PlanFactory(name="Old student", is_active=False)
    page = login().get("/plans/").content.decode()

    on_sale, archived = page.split("Archived", 1)
    assert "Off-peak" in on_sale and "Ten-class pack" in on_sale and "Old student" not in on_sale
    assert "Old student" in archived and "Restore" in archived
    assert "Mon-Fri 06:00-16:00" in on_sale and "10 credits" in on_sale


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"price": "-1"}, "price"),
        ({"price": "abc"}, "price"),
        ({"tax_rate": "150"}, "tax_rate"),
        ({"billing_period": ""}, "billing_period"),  # recurring needs a period
        ({"kind": "one_off", "duration_days": ""}, "duration_days"),
        ({"kind": "class_pack", "class_credits": ""}, "class_credits"),
        ({"billing_interval": "0"}, "billing_interval"),
    ],
)
def test_bad_plan_input_is_a_field_error_with_400(login, gym_a: Gym, overrides: dict, field: str) -> None:
    response = login().post("/plans/new/", _plan_form(**overrides))

    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert 'value="Weekdays before four"' in response.content.decode() or "Weekdays before four" in (
        response.content.decode()
    )
    with tenant_context(gym_a):
        assert not Plan.objects.exists()


def test_bad_access_hours_are_shown_on_their_row(login, gym_a: Gym) -> None:
    response = login().post(
        "/plans/new/",
        _plan_form(**{"hours-0-start": "18:00", "hours-0-end": "09:00", "hours-1-start": "07:00", "hours-1-end": ""}),
    )

    body = response.content.decode()
    assert response.status_code == 400
    assert "The end must be after the start." in body
    assert "Pick at least one weekday." in body and "Give an end time." in body
    with tenant_context(gym_a):
        assert not Plan.objects.exists()


def test_edit_a_plan_keeps_existing_contracts(login, gym_a: Gym, plan: Plan) -> None:
    with tenant_context(gym_a):
        membership = MembershipFactory(plan=plan)
    client = login()
    edit = client.get(f"/plans/{plan.pk}/edit/").content.decode()
    assert 'value="Monthly Gold"' in edit and 'value="600.00"' in edit

    response = client.post(f"/plans/{plan.pk}/edit/", _plan_form(name="Monthly Gold", price="650.00"))

    assert response.status_code == 302
    with tenant_context(gym_a):
        plan.refresh_from_db()
        membership.refresh_from_db()
    assert plan.price == Decimal("650.00") and membership.price == Decimal("600.00")


def test_edit_with_bad_input_changes_nothing(login, gym_a: Gym, plan: Plan) -> None:
    response = login().post(f"/plans/{plan.pk}/edit/", _plan_form(name="", price="-5"))

    assert response.status_code == 400
    with tenant_context(gym_a):
        plan.refresh_from_db()
    assert (plan.name, plan.price) == ("Monthly Gold", Decimal("600.00"))


def test_archive_and_restore(login, gym_a: Gym, plan: Plan) -> None:
    client = login(Role.MANAGER)

    assert client.post(f"/plans/{plan.pk}/archive/").status_code == 302
    with tenant_context(gym_a):
        assert not Plan.objects.get(pk=plan.pk).is_active
    assert "archived" in client.get("/plans/").content.decode()
    assert client.get(f"/plans/{plan.pk}/archive/").status_code == 405

    client.post(f"/plans/{plan.pk}/restore/")
    with tenant_context(gym_a):
        assert Plan.objects.get(pk=plan.pk).is_active


def test_a_never_used_plan_can_be_deleted(login, gym_a: Gym, plan: Plan) -> None:
    client = login()
    assert f"/plans/{plan.pk}/delete/" in client.get("/plans/").content.decode()

    response = client.post(f"/plans/{plan.pk}/delete/")

    assert response.status_code == 302
    with tenant_context(gym_a):
        assert not Plan.objects.filter(pk=plan.pk).exists()


def test_a_used_plan_can_only_be_archived(login, gym_a: Gym, plan: Plan) -> None:
    with tenant_context(gym_a):
        MembershipFactory(plan=plan, status="cancelled")
    client = login()
    assert f"/plans/{plan.pk}/delete/" not in client.get("/plans/").content.decode()
    assert "can only be archived" in client.get(f"/plans/{plan.pk}/delete/").content.decode()

    response = client.post(f"/plans/{plan.pk}/delete/")

    assert response.status_code == 409
    assert "can only be archived" in response.content.decode()
    with tenant_context(gym_a):
        assert Plan.objects.filter(pk=plan.pk, is_active=True).exists()


def test_gym_a_staff_get_404_for_gym_b_plans(login, gym_a: Gym, gym_b: Gym) -> None:
    with tenant_context(gym_b):
        foreign = PlanFactory(id=next(FOREIGN_ID), name="Gym B secret plan")
    client = login()

    assert "Gym B secret plan" not in client.get("/plans/").content.decode()
    for url in [f"/plans/{foreign.pk}/edit/", f"/plans/{foreign.pk}/delete/"]:
        assert client.get(url).status_code == 404, url
    for action in ["edit", "archive", "restore", "delete"]:
        assert client.post(f"/plans/{foreign.pk}/{action}/", _plan_form()).status_code == 404, action
    with tenant_context(gym_b):
        foreign.refresh_from_db()
    assert (foreign.name, foreign.is_active) == ("Gym B secret plan", True)
