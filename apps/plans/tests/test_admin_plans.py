"""Plans in the gym admin: service-checked forms, archive action, no deleting a used plan."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.memberships.tests.factories import MembershipFactory
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

URL = "/admin/plans/plan/"


@pytest.fixture
def manager_client(gym_a: Gym, make_staff, client_a: Client) -> Client:
    client_a.force_login(make_staff(gym_a, Role.MANAGER))
    return client_a


def form_data(**fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Monthly",
        "description": "",
        "kind": "recurring",
        "price": "500.00",
        "signup_fee": "0.00",
        "tax_rate": "15.00",
        "price_includes_tax": "on",
        "billing_period": "monthly",
        "billing_interval": "1",
        "duration_days": "",
        "class_credits": "",
        "pack_expiry_days": "",
        "access_hours": "[]",
        "trial_days": "0",
        "is_active": "on",
        "show_in_app": "on",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def test_changelist_filters_and_counts(gym_a: Gym, manager_client: Client) -> None:
    with tenant_context(gym_a):
        used = PlanFactory(name="Anytime")
        MembershipFactory(plan=used)
        MembershipFactory(plan=used)
        PlanFactory(name="Retired", is_active=False)

    everyone = manager_client.get(URL)
    archived = manager_client.get(URL, {"is_active__exact": "0"})

    assert everyone.status_code == 200 and b"Anytime" in everyone.content
    assert b"Retired" in archived.content and b"Anytime" not in archived.content
    assert everyone.context["cl"].result_list.get(pk=used.pk).membership_count == 2


def test_add_and_service_rules_show_on_the_form(gym_a: Gym, manager_client: Client) -> None:
    ok = manager_client.post(f"{URL}add/", form_data(name="Student"))
    pack = manager_client.post(f"{URL}add/", form_data(name="Pack", kind="class_pack", billing_period=""))
    hours = manager_client.post(
        f"{URL}add/", form_data(name="Off-peak", access_hours='[{"weekdays": [1], "start": "18:00", "end": "06:00"}]')
    )

    assert ok.status_code == 302
    assert pack.status_code == 200 and pack.context["adminform"].form.errors["class_credits"]
    assert hours.status_code == 200 and hours.context["adminform"].form.errors["access_hours"]
    with tenant_context(gym_a):
        assert list(Plan.objects.values_list("name", flat=True)) == ["Student"]
        assert Plan.objects.get().tax_rate == Decimal("15.00")


def test_change_goes_through_the_service(gym_a: Gym, manager_client: Client) -> None:
    with tenant_context(gym_a):
        plan = PlanFactory(name="Monthly")

    response = manager_client.post(f"{URL}{plan.pk}/change/", form_data(name="Monthly", price="550.00"))

    assert response.status_code == 302
    with tenant_context(gym_a):
        plan.refresh_from_db()
        assert plan.price == Decimal("550.00")


def test_archive_action(gym_a: Gym, manager_client: Client) -> None:
    with tenant_context(gym_a):
        plans = [PlanFactory(), PlanFactory()]

    response = manager_client.post(URL, {"action": "archive", "_selected_action": [p.pk for p in plans]})

    assert response.status_code == 302
    with tenant_context(gym_a):
        assert not Plan.objects.filter(is_active=True).exists()


def test_a_used_plan_cannot_be_deleted(gym_a: Gym, manager_client: Client) -> None:
    with tenant_context(gym_a):
        used = PlanFactory()
        MembershipFactory(plan=used)
        unused = PlanFactory()

    assert manager_client.get(f"{URL}{used.pk}/delete/").status_code == 403
    assert manager_client.post(f"{URL}{unused.pk}/delete/", {"post": "yes"}).status_code == 302
    with tenant_context(gym_a):
        assert Plan.objects.filter(pk=used.pk).exists() and not Plan.objects.filter(pk=unused.pk).exists()
