"""The membership action pages: assign, freeze, unfreeze, cancel, change plan (quote shown
before confirming) and renew. Roles, bad input, domain errors that change nothing, isolation."""

from __future__ import annotations

import datetime
import itertools
import zoneinfo
from collections.abc import Callable
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.test import Client
from django_tenants.utils import tenant_context

from apps.conftest import host_of
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Freeze, Membership, MembershipEvent
from apps.memberships.services import membership_change_plan_quote
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

FOREIGN_ID = itertools.count(920_000_001)
ACTIONS = ["freeze", "unfreeze", "cancel", "change-plan", "renew"]


def gym_today(gym: Gym) -> datetime.date:
    """Today in the gym's timezone (the services' default `today`)."""
    return datetime.datetime.now(zoneinfo.ZoneInfo(gym.timezone)).date()


def d(day: datetime.date) -> str:
    return f"{day.day} {day:%b %Y}"


@pytest.fixture
def login(gym_a: Gym, make_staff) -> Callable[..., Client]:
    def make(role: Role = Role.OWNER) -> Client:
        client = Client(HTTP_HOST=host_of(gym_a))
        client.force_login(make_staff(gym_a, role))
        return client

    return make


@pytest.fixture
def monthly(gym_a: Gym) -> Membership:
    """An active monthly membership in its current period: started a month before its
    next billing date, which is 10 days away."""
    today = gym_today(gym_a)
    next_billing = today + datetime.timedelta(days=10)
    with tenant_context(gym_a):
        plan = PlanFactory(name="Monthly", price=Decimal("600.00"))
        member = MemberFactory(first_name="Thandi", last_name="Nkosi")
        return MembershipFactory(
            member=member, plan=plan, start_date=next_billing - relativedelta(months=1), next_billing_date=next_billing
        )


def _state(gym: Gym, membership: Membership) -> tuple:
    with tenant_context(gym):
        m = Membership.objects.get(pk=membership.pk)
        return (m.status, m.end_date, m.next_billing_date, m.cancel_at_period_end, m.freezes.count())


# --- access ----------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_login(client_a: Client, monthly: Membership) -> None:
    for url in [f"/memberships/assign/{monthly.member_id}/"] + [f"/memberships/{monthly.pk}/{a}/" for a in ACTIONS]:
        response = client_a.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), url


@pytest.mark.parametrize("role", [Role.OWNER, Role.MANAGER, Role.TRAINER, Role.RECEPTIONIST])
def test_front_desk_actions_are_for_every_staff_role(login, monthly: Membership, role: Role) -> None:
    client = login(role)
    assert client.get(f"/memberships/assign/{monthly.member_id}/").status_code == 200
    for action in ["freeze", "unfreeze", "renew"]:
        assert client.get(f"/memberships/{monthly.pk}/{action}/").status_code == 200, action


@pytest.mark.parametrize("role", [Role.TRAINER, Role.RECEPTIONIST])
def test_cancel_and_change_plan_need_a_manager(login, gym_a: Gym, monthly: Membership, role: Role) -> None:
    client = login(role)
    before = _state(gym_a, monthly)
    for action in ["cancel", "change-plan"]:
        assert client.get(f"/memberships/{monthly.pk}/{action}/").status_code == 403
    assert client.post(f"/memberships/{monthly.pk}/cancel/", {"when": "immediately", "reason": "x"}).status_code == 403
    assert _state(gym_a, monthly) == before
    for allowed in (Role.OWNER, Role.MANAGER):
        assert login(allowed).get(f"/memberships/{monthly.pk}/cancel/").status_code == 200


def test_the_action_form_loads_into_the_member_page_with_htmx(login, monthly: Membership) -> None:
    client = login()
    full = client.get(f"/memberships/{monthly.pk}/freeze/").content.decode()
    partial = client.get(f"/memberships/{monthly.pk}/freeze/", HTTP_HX_REQUEST="true").content.decode()

    assert "<html" in full and "<html" not in partial
    assert 'name="start_date"' in partial and f'action="/memberships/{monthly.pk}/freeze/"' in partial
    history = client.get(f"/members/{monthly.member_id}/", {"tab": "memberships"}).content.decode()
    assert (
        f'href="/memberships/{monthly.pk}/freeze/" hx-get="/memberships/{monthly.pk}/freeze/" hx-target="#action-panel"'
        in history
    )


# --- assign ------------------------------------------------------------------------------------


def test_assign_a_plan(login, gym_a: Gym) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        member = MemberFactory(status=Member.Status.INACTIVE)
        plan = PlanFactory(name="Annual", billing_period="yearly", price=Decimal("6000.00"))
    client = login(Role.RECEPTIONIST)

    response = client.post(f"/memberships/assign/{member.pk}/", {"plan": plan.pk, "start_date": today.isoformat()})

    with tenant_context(gym_a):
        created = Membership.objects.get(member=member)
        assert Member.objects.get(pk=member.pk).status == Member.Status.ACTIVE
    assert response.status_code == 302
    assert response["Location"] == f"/members/{member.pk}/?tab=memberships#membership-{created.pk}"
    assert (created.plan_id, created.price, created.start_date) == (plan.pk, Decimal("6000.00"), today)
    page = client.get(response["Location"]).content.decode()
    assert f"is on Annual from {d(today)}" in page and d(today + relativedelta(years=1)) in page


def test_assign_with_bad_input_saves_nothing(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        member = MemberFactory()
        archived = PlanFactory(is_active=False)
    client = login()

    for data in [{}, {"plan": archived.pk, "start_date": "2026-01-01"}, {"plan": "x", "start_date": "yesterday"}]:
        response = client.post(f"/memberships/assign/{member.pk}/", data)
        assert response.status_code == 400, data
        assert response.context["form"].errors
    with tenant_context(gym_a):
        assert not Membership.objects.exists()


def test_assign_a_second_overlapping_recurring_membership_is_refused(login, gym_a: Gym, monthly: Membership) -> None:
    with tenant_context(gym_a):
        other = PlanFactory(name="Other monthly")

    response = login().post(
        f"/memberships/assign/{monthly.member_id}/", {"plan": other.pk, "start_date": gym_today(gym_a).isoformat()}
    )

    assert response.status_code == 400
    assert "Nothing was changed." in response.content.decode()
    with tenant_context(gym_a):
        assert Membership.objects.filter(member_id=monthly.member_id).count() == 1


# --- freeze and unfreeze -------------------------------------------------------------------------


def test_freeze_moves_the_dates_and_shows_them(login, gym_a: Gym, monthly: Membership) -> None:
    today = gym_today(gym_a)
    client = login()

    response = client.post(
        f"/memberships/{monthly.pk}/freeze/",
        {
            "start_date": today.isoformat(),
            "end_date": (today + datetime.timedelta(days=13)).isoformat(),
            "reason": "Knee",
        },
    )

    new_billing = monthly.next_billing_date + datetime.timedelta(days=14)
    assert response.status_code == 302
    assert _state(gym_a, monthly) == ("frozen", None, new_billing, False, 1)
    page = client.get(response["Location"]).content.decode()
    assert f"Frozen from {d(today)} to {d(today + datetime.timedelta(days=13))} (14 days)" in page
    assert f"New next billing date: {d(new_billing)}" in page
    assert "Knee" in page and "Unfreeze" in page


def test_freeze_with_bad_dates_is_a_field_error(login, gym_a: Gym, monthly: Membership) -> None:
    today = gym_today(gym_a)
    client = login()
    before = _state(gym_a, monthly)

    backwards = client.post(
        f"/memberships/{monthly.pk}/freeze/",
        {"start_date": today.isoformat(), "end_date": (today - datetime.timedelta(days=1)).isoformat(), "reason": "x"},
    )
    in_the_past = client.post(
        f"/memberships/{monthly.pk}/freeze/",
        {"start_date": (today - datetime.timedelta(days=3)).isoformat(), "end_date": today.isoformat(), "reason": "x"},
    )
    missing = client.post(f"/memberships/{monthly.pk}/freeze/", {"start_date": "", "end_date": "", "reason": ""})

    assert backwards.status_code == 400 and "end_date" in backwards.context["form"].errors
    assert in_the_past.status_code == 400 and "cannot start in the past" in in_the_past.content.decode()
    assert missing.status_code == 400 and set(missing.context["form"].errors) == {"start_date", "end_date", "reason"}
    assert 'value="x"' in backwards.content.decode()  # what was typed is kept
    assert _state(gym_a, monthly) == before


def test_freezing_a_cancelled_membership_is_refused_and_changes_nothing(login, gym_a: Gym) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        cancelled = MembershipFactory(status=Membership.Status.CANCELLED, end_date=today)
    before = _state(gym_a, cancelled)

    response = login().post(
        f"/memberships/{cancelled.pk}/freeze/",
        {"start_date": today.isoformat(), "end_date": today.isoformat(), "reason": "Travel"},
    )

    body = response.content.decode()
    assert response.status_code == 400
    assert "cancelled" in body.lower() and "Nothing was changed." in body
    assert _state(gym_a, cancelled) == before


def test_unfreeze(login, gym_a: Gym, monthly: Membership) -> None:
    today = gym_today(gym_a)
    client = login(Role.RECEPTIONIST)
    client.post(
        f"/memberships/{monthly.pk}/freeze/",
        {
            "start_date": today.isoformat(),
            "end_date": (today + datetime.timedelta(days=9)).isoformat(),
            "reason": "Flu",
        },
    )

    response = client.post(f"/memberships/{monthly.pk}/unfreeze/", {"reason": "Better"})

    assert response.status_code == 302
    status, _, next_billing, _, _ = _state(gym_a, monthly)
    assert status == "active" and next_billing == monthly.next_billing_date  # no frozen days used
    assert "Unfrozen." in client.get(response["Location"]).content.decode()
    # Unfreezing again: nothing is frozen.
    again = client.post(f"/memberships/{monthly.pk}/unfreeze/", {})
    assert again.status_code == 400 and "no freeze" in again.content.decode()


# --- cancel ---------------------------------------------------------------------------------------


def test_cancel_at_period_end_and_immediately(login, gym_a: Gym, monthly: Membership) -> None:
    client = login(Role.MANAGER)

    at_end = client.post(f"/memberships/{monthly.pk}/cancel/", {"when": "period_end", "reason": "Moving"})

    last_day = monthly.next_billing_date - datetime.timedelta(days=1)
    assert at_end.status_code == 302
    assert _state(gym_a, monthly) == ("active", last_day, monthly.next_billing_date, True, 0)
    assert f"the last day is {d(last_day)}" in client.get(at_end["Location"]).content.decode()

    twice = client.post(f"/memberships/{monthly.pk}/cancel/", {"when": "period_end", "reason": "Again"})
    assert twice.status_code == 400 and "already set to end" in twice.content.decode()

    now = client.post(f"/memberships/{monthly.pk}/cancel/", {"when": "immediately", "reason": "Moving"})
    assert now.status_code == 302
    assert _state(gym_a, monthly)[0] == "cancelled"


def test_cancel_needs_a_reason_and_a_choice(login, gym_a: Gym, monthly: Membership) -> None:
    response = login().post(f"/memberships/{monthly.pk}/cancel/", {"when": "someday", "reason": ""})

    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"when", "reason"}
    assert _state(gym_a, monthly)[0] == "active"


# --- change plan ---------------------------------------------------------------------------------


def test_change_plan_shows_the_proration_before_confirming(login, gym_a: Gym, monthly: Membership) -> None:
    with tenant_context(gym_a):
        gold = PlanFactory(name="Gold", price=Decimal("900.00"))
        expected = membership_change_plan_quote(membership=monthly, new_plan=gold, today=gym_today(gym_a))
    client = login()
    assert "Gold" in client.get(f"/memberships/{monthly.pk}/change-plan/").content.decode()

    quote = client.post(f"/memberships/{monthly.pk}/change-plan/", {"plan": gold.pk, "reason": "Upgrade"})

    body = quote.content.decode()
    assert quote.status_code == 200
    assert expected.days_remaining == 10 and expected.amount_due > 0
    assert f"{expected.days_remaining} of {expected.days_in_period}" in body
    assert (
        f"\N{MINUS SIGN}{expected.unused_credit} GBP" in body and f'id="amount-due">{expected.amount_due} GBP' in body
    )
    assert "Confirm plan change" in body and 'name="confirm" value="True"' in body
    assert _state(gym_a, monthly)[0] == "active"  # nothing changed yet

    confirmed = client.post(
        f"/memberships/{monthly.pk}/change-plan/", {"plan": gold.pk, "reason": "Upgrade", "confirm": "True"}
    )

    assert confirmed.status_code == 302
    with tenant_context(gym_a):
        new = Membership.objects.get(member_id=monthly.member_id, status="active")
        event = MembershipEvent.objects.get(membership=monthly, kind="plan_changed")
    assert new.plan_id == gold.pk and event.reason == "Upgrade"
    assert _state(gym_a, monthly)[0] == "cancelled"
    assert f"Moved to Gold: amount due {expected.amount_due} GBP" in client.get(confirmed["Location"]).content.decode()


def test_change_plan_refusals_show_a_message_and_change_nothing(login, gym_a: Gym, monthly: Membership) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        gold = PlanFactory(name="Gold", price=Decimal("900.00"))
        Freeze.objects.create(
            membership=monthly,
            start_date=today + datetime.timedelta(days=2),
            end_date=today + datetime.timedelta(days=4),
        )
        pack = PlanFactory(name="Pack", kind=Plan.Kind.CLASS_PACK, billing_period="", class_credits=10)
    client = login()

    scheduled = client.post(f"/memberships/{monthly.pk}/change-plan/", {"plan": gold.pk})
    not_offered = client.post(f"/memberships/{monthly.pk}/change-plan/", {"plan": pack.pk, "confirm": "True"})

    assert scheduled.status_code == 400 and "freeze scheduled" in scheduled.content.decode()
    assert not_offered.status_code == 400 and "plan" in not_offered.context["form"].errors
    with tenant_context(gym_a):
        assert Membership.objects.filter(member_id=monthly.member_id).count() == 1
    assert _state(gym_a, monthly)[0] == "active"


# --- renew ---------------------------------------------------------------------------------------


def test_renew_a_one_off_pass(login, gym_a: Gym) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        pass_plan = PlanFactory(name="30-day pass", kind=Plan.Kind.ONE_OFF, billing_period="", duration_days=30)
        old = MembershipFactory(
            plan=pass_plan,
            start_date=today - datetime.timedelta(days=20),
            end_date=today + datetime.timedelta(days=9),
            next_billing_date=None,
        )
    client = login(Role.RECEPTIONIST)

    response = client.post(f"/memberships/{old.pk}/renew/", {"reason": "Pays cash"})

    new_start = today + datetime.timedelta(days=10)
    with tenant_context(gym_a):
        new = Membership.objects.exclude(pk=old.pk).get(member_id=old.member_id)
    assert response.status_code == 302
    assert (new.start_date, new.end_date) == (new_start, new_start + datetime.timedelta(days=29))
    assert f"the new term starts {d(new_start)}" in client.get(response["Location"]).content.decode()


def test_renewing_an_active_recurring_membership_is_refused(login, gym_a: Gym, monthly: Membership) -> None:
    response = login().post(f"/memberships/{monthly.pk}/renew/", {})

    assert response.status_code == 400 and "renews itself" in response.content.decode()
    with tenant_context(gym_a):
        assert Membership.objects.filter(member_id=monthly.member_id).count() == 1


# --- isolation -------------------------------------------------------------------------------------


def test_gym_a_staff_get_404_for_gym_b_memberships(login, gym_a: Gym, gym_b: Gym) -> None:
    today = gym_today(gym_b)
    with tenant_context(gym_b):
        plan = PlanFactory(id=next(FOREIGN_ID))
        member = MemberFactory(id=next(FOREIGN_ID))
        foreign = MembershipFactory(id=next(FOREIGN_ID), member=member, plan=plan, next_billing_date=today)
    client = login()
    posts = {
        "freeze": {"start_date": today.isoformat(), "end_date": today.isoformat(), "reason": "x"},
        "unfreeze": {},
        "cancel": {"when": "immediately", "reason": "x"},
        "change-plan": {"plan": plan.pk, "confirm": "True"},
        "renew": {},
    }

    for action in ACTIONS:
        assert client.get(f"/memberships/{foreign.pk}/{action}/").status_code == 404, action
        assert client.post(f"/memberships/{foreign.pk}/{action}/", posts[action]).status_code == 404, action
    assign = client.post(f"/memberships/assign/{member.pk}/", {"plan": plan.pk, "start_date": today.isoformat()})
    assert assign.status_code == 404
    with tenant_context(gym_b):
        assert Membership.objects.get(pk=foreign.pk).status == "active"
        assert Membership.objects.filter(member=member).count() == 1
