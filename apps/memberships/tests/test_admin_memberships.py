"""Memberships in the gym admin: assign through the service, read-only contract and
inlines, the lifecycle actions (with their intermediate forms), isolation, query count."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Freeze, Membership, MembershipEvent
from apps.memberships.services import membership_assign
from apps.memberships.tests.factories import MembershipFactory
from apps.memberships.tests.test_api_memberships import gym_today
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

URL = "/admin/memberships/membership/"


@pytest.fixture
def manager(gym_a: Gym, make_staff):
    return make_staff(gym_a, Role.MANAGER)


@pytest.fixture
def manager_client(manager, client_a: Client) -> Client:
    client_a.force_login(manager)
    return client_a


@pytest.fixture
def monthly(gym_a: Gym) -> Plan:
    with tenant_context(gym_a):
        return PlanFactory(name="Monthly", price=Decimal("600.00"))


def assigned(gym: Gym, plan: Plan, days_ago: int = 5, **member_fields: object) -> Membership:
    with tenant_context(gym):
        member = MemberFactory(**member_fields)
        return membership_assign(
            member=member, plan=plan, start_date=gym_today(gym) - datetime.timedelta(days=days_ago)
        )


def act(client: Client, action: str, memberships: list[Membership], **form: object):
    return client.post(URL, {"action": action, "_selected_action": [m.pk for m in memberships], **form})


def test_assign_through_the_add_form(gym_a: Gym, manager, manager_client: Client, monthly: Plan) -> None:
    with tenant_context(gym_a):
        member = MemberFactory()
        archived = PlanFactory(is_active=False)

    refused = manager_client.post(f"{URL}add/", {"member": member.pk, "plan": archived.pk, "start_date": "2026-11-01"})
    done = manager_client.post(f"{URL}add/", {"member": member.pk, "plan": monthly.pk, "start_date": "2026-11-01"})

    assert refused.status_code == 200 and refused.context["adminform"].form.errors["plan"]
    assert done.status_code == 302
    with tenant_context(gym_a):
        membership = Membership.objects.get(member=member)
        assert membership.price == Decimal("600.00") and membership.next_billing_date == datetime.date(2026, 12, 1)
        assert MembershipEvent.objects.get(membership=membership, kind="created").actor_id == manager.pk


def test_change_page_is_read_only_with_freezes_and_events(gym_a: Gym, manager_client: Client, monthly: Plan) -> None:
    membership = assigned(gym_a, monthly)
    with tenant_context(gym_a):
        Freeze.objects.create(
            membership=membership,
            start_date=datetime.date(2026, 12, 1),
            end_date=datetime.date(2026, 12, 9),
            reason="Surgery",
        )

    page = manager_client.get(f"{URL}{membership.pk}/change/")
    html = page.content.decode()

    assert page.status_code == 200
    assert "Surgery" in html and "Created" in html
    assert 'name="price"' not in html and 'name="status"' not in html
    assert manager_client.get(f"{URL}{membership.pk}/delete/").status_code == 403


def test_freeze_action_asks_then_freezes(gym_a: Gym, manager, manager_client: Client, monthly: Plan) -> None:
    one, two = assigned(gym_a, monthly), assigned(gym_a, monthly)
    today = gym_today(gym_a)

    asked = act(manager_client, "freeze", [one, two])
    assert asked.status_code == 200 and b'name="reason"' in asked.content and b"Freeze memberships" in asked.content
    invalid = act(manager_client, "freeze", [one, two], apply="yes", start_date=today.isoformat(), days="10")
    assert invalid.status_code == 200 and b"This field is required" in invalid.content

    done = act(
        manager_client, "freeze", [one, two], apply="yes", start_date=today.isoformat(), days="10", reason="Injury"
    )

    assert done.status_code == 302
    with tenant_context(gym_a):
        for m in (one, two):
            fresh = Membership.objects.get(pk=m.pk)
            assert fresh.status == "frozen"
            assert fresh.next_billing_date == m.next_billing_date + datetime.timedelta(days=10)
            event = fresh.events.get(kind="frozen")
            assert event.actor_id == manager.pk and event.reason == "Injury"

    thawed = act(manager_client, "unfreeze", [one])
    assert thawed.status_code == 302
    with tenant_context(gym_a):
        assert Membership.objects.get(pk=one.pk).status == "active"


def test_action_reports_a_broken_rule_and_changes_nothing(gym_a: Gym, manager_client: Client, monthly: Plan) -> None:
    with tenant_context(gym_a):
        cancelled = MembershipFactory(plan=monthly, status=Membership.Status.CANCELLED)
    fine = assigned(gym_a, monthly)

    response = act(
        manager_client,
        "freeze",
        [cancelled, fine],
        apply="yes",
        start_date=gym_today(gym_a).isoformat(),
        days="7",
        reason="Travel",
    )

    messages = [str(m) for m in response.wsgi_request._messages]  # type: ignore[attr-defined]
    assert any("cancelled membership cannot be frozen" in m for m in messages), messages
    assert any("1 membership(s) frozen" in m for m in messages), messages
    with tenant_context(gym_a):
        assert Membership.objects.get(pk=cancelled.pk).status == "cancelled"
        assert Membership.objects.get(pk=fine.pk).status == "frozen"


def test_cancel_actions(gym_a: Gym, manager_client: Client, monthly: Plan) -> None:
    now, later = assigned(gym_a, monthly), assigned(gym_a, monthly)

    asked = act(manager_client, "cancel_immediately", [now])
    assert asked.status_code == 200 and b'name="reason"' in asked.content
    assert act(manager_client, "cancel_immediately", [now], apply="yes", reason="Moved").status_code == 302
    assert act(manager_client, "cancel_at_period_end", [later], apply="yes", reason="Price").status_code == 302

    with tenant_context(gym_a):
        gone = Membership.objects.get(pk=now.pk)
        ending = Membership.objects.get(pk=later.pk)
    assert gone.status == "cancelled" and gone.cancel_reason == "Moved"
    assert ending.status == "active" and ending.cancel_at_period_end
    assert ending.end_date == later.next_billing_date - datetime.timedelta(days=1)


def test_renew_action(gym_a: Gym, manager_client: Client) -> None:
    with tenant_context(gym_a):
        day_pass = PlanFactory(kind=Plan.Kind.ONE_OFF, billing_period="", duration_days=10, price=Decimal("100.00"))
    term = assigned(gym_a, day_pass, days_ago=3)

    assert act(manager_client, "renew", [term]).status_code == 302

    with tenant_context(gym_a):
        assert Membership.objects.filter(member_id=term.member_id).count() == 2
        assert Member.objects.get(pk=term.member_id).status == "active"


def test_gym_a_admin_cannot_act_on_gym_b_memberships(gym_a: Gym, gym_b: Gym, manager_client: Client) -> None:
    with tenant_context(gym_b):
        theirs = MembershipFactory(plan=PlanFactory())
    with tenant_context(gym_a):
        assert not Membership.objects.filter(pk=theirs.pk).exists()

    assert manager_client.get(f"{URL}{theirs.pk}/change/").status_code == 302
    act(manager_client, "cancel_immediately", [theirs], apply="yes", reason="x")

    with tenant_context(gym_b):
        assert Membership.objects.get(pk=theirs.pk).status == "active"


def test_membership_changelist_query_count(
    gym_a: Gym, manager_client: Client, monthly: Plan, django_assert_max_num_queries
) -> None:
    with tenant_context(gym_a):
        members = Member.objects.bulk_create(
            Member(first_name=f"F{i}", last_name=f"L{i}", email=f"ad{i}@example.test") for i in range(300)
        )
        Membership.objects.bulk_create(
            Membership(member=m, plan=monthly, start_date=datetime.date(2026, 1, 1), price=monthly.price)
            for m in members
        )
    manager_client.get(URL)

    # session, user, role, counts, memberships with member and plan joined, filter choices;
    # each after a SET search_path. Independent of the number of rows.
    with django_assert_max_num_queries(20):
        response = manager_client.get(URL)
    assert response.status_code == 200 and len(response.context["cl"].result_list) == 100
