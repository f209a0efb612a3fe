"""`/api/v1/memberships/`: list, assign, retrieve and the lifecycle actions; roles, the
member's own-only rule, error statuses, isolation and query counts."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.members.tests.test_api_members import assert_error, auth, member_user
from apps.memberships.models import Membership, MembershipEvent
from apps.memberships.services import membership_assign, membership_change_plan_quote
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def gym_today(gym: Gym) -> datetime.date:
    """Today in the gym's timezone: the services' default `today` during a request."""
    import zoneinfo

    return timezone.now().astimezone(zoneinfo.ZoneInfo(gym.timezone)).date()


@pytest.fixture
def desk(gym_a: Gym, make_staff) -> dict[str, str]:
    """Bearer headers of a receptionist at gym A."""
    return auth(gym_a, make_staff(gym_a, Role.RECEPTIONIST))


@pytest.fixture
def monthly(gym_a: Gym) -> Plan:
    with tenant_context(gym_a):
        return PlanFactory(name="Monthly", price=Decimal("600.00"))


def assign(gym: Gym, member: Member, plan: Plan, start: datetime.date) -> Membership:
    with tenant_context(gym):
        return membership_assign(member=member, plan=plan, start_date=start)


def post(client: Client, url: str, body: dict | None = None, headers: dict | None = None):
    return client.post(url, body or {}, content_type="application/json", **(headers or {}))


# --- list and retrieve ---------------------------------------------------------------


def test_staff_list_filters_and_orders(gym_a: Gym, client_a: Client, desk, monthly: Plan) -> None:
    with tenant_context(gym_a):
        ann, ben = MemberFactory(first_name="Ann"), MemberFactory(first_name="Ben")
        pack = PlanFactory(name="10 classes", kind=Plan.Kind.CLASS_PACK, billing_period="", class_credits=10)
        a1 = MembershipFactory(member=ann, plan=monthly, start_date=datetime.date(2026, 1, 1))
        MembershipFactory(member=ann, plan=pack, start_date=datetime.date(2026, 3, 1), status="expired")
        MembershipFactory(member=ben, plan=monthly, start_date=datetime.date(2026, 2, 1), status="cancelled")

    response = client_a.get("/api/v1/memberships/", **desk)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [m["start_date"] for m in body["results"]] == ["2026-03-01", "2026-02-01", "2026-01-01"]
    row = body["results"][2]
    assert row["member"] == {"id": ann.pk, "full_name": ann.full_name}
    assert row["plan"]["name"] == "Monthly" and row["price"] == "600.00" and row["currency"] == gym_a.currency

    def ids(**params) -> list[int]:
        got = client_a.get("/api/v1/memberships/", params, **desk)
        assert got.status_code == 200, got.content
        return [m["id"] for m in got.json()["results"]]

    assert len(ids(member=ann.pk)) == 2
    assert ids(member=ann.pk, plan=monthly.pk) == [a1.pk]
    assert ids(status="active") == [a1.pk]
    assert ids(ordering="start_date")[0] == a1.pk
    assert_error(client_a.get("/api/v1/memberships/", {"status": "paused"}, **desk), 400, "validation_error")

    detail = client_a.get(f"/api/v1/memberships/{a1.pk}/", **desk)
    assert detail.status_code == 200 and detail.json()["freezes"] == []


def test_member_sees_only_their_own(gym_a: Gym, client_a: Client, monthly: Plan) -> None:
    user, me = member_user(gym_a)
    with tenant_context(gym_a):
        mine = MembershipFactory(member=me, plan=monthly)
        theirs = MembershipFactory(plan=monthly)
    headers = auth(gym_a, user)

    listed = client_a.get("/api/v1/memberships/", **headers).json()
    assert [m["id"] for m in listed["results"]] == [mine.pk]
    assert client_a.get("/api/v1/memberships/", {"member": theirs.member_id}, **headers).json()["count"] == 0
    assert client_a.get(f"/api/v1/memberships/{mine.pk}/", **headers).status_code == 200
    assert_error(client_a.get(f"/api/v1/memberships/{theirs.pk}/", **headers), 404, "not_found")
    assert_error(
        post(client_a, f"/api/v1/memberships/{theirs.pk}/freeze/", {"days": 7, "reason": "x"}, headers),
        404,
        "not_found",
    )


# --- assign --------------------------------------------------------------------------


def test_assign(gym_a: Gym, client_a: Client, desk, monthly: Plan) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(status=Member.Status.INACTIVE)

    response = post(
        client_a,
        "/api/v1/memberships/",
        {"member": member.pk, "plan": monthly.pk, "start_date": "2026-11-01", "reason": "Walk-in sale"},
        desk,
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "active" and body["start_date"] == "2026-11-01"
    assert body["next_billing_date"] == "2026-12-01" and body["price"] == "600.00"
    with tenant_context(gym_a):
        event = MembershipEvent.objects.get(membership_id=body["id"])
        assert event.kind == "created" and event.reason == "Walk-in sale" and event.actor_id is not None
        assert Member.objects.get(pk=member.pk).status == Member.Status.ACTIVE


def test_assign_errors(gym_a: Gym, client_a: Client, desk, monthly: Plan) -> None:
    with tenant_context(gym_a):
        member = MemberFactory()
        archived = PlanFactory(is_active=False)
        erased = MemberFactory(status=Member.Status.ERASED)
    assign(gym_a, member, monthly, gym_today(gym_a))

    shape = assert_error(post(client_a, "/api/v1/memberships/", {"member": 999_999}, desk), 400, "validation_error")
    assert set(shape["details"]) == {"member", "plan"}
    error = assert_error(
        post(client_a, "/api/v1/memberships/", {"member": member.pk, "plan": archived.pk}, desk), 422, "plan_archived"
    )
    assert "plan" in error["details"]
    assert_error(
        post(client_a, "/api/v1/memberships/", {"member": member.pk, "plan": monthly.pk}, desk),
        409,
        "already_has_membership",
    )
    assert_error(
        post(client_a, "/api/v1/memberships/", {"member": erased.pk, "plan": monthly.pk}, desk), 409, "member_erased"
    )


def test_members_may_not_assign(gym_a: Gym, client_a: Client, monthly: Plan) -> None:
    user, me = member_user(gym_a)

    assert_error(
        post(client_a, "/api/v1/memberships/", {"member": me.pk, "plan": monthly.pk}, auth(gym_a, user)),
        403,
        "role_too_low",
    )


# --- freeze and unfreeze ------------------------------------------------------------


def test_staff_freeze_and_unfreeze(gym_a: Gym, client_a: Client, desk, monthly: Plan) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        member = MemberFactory()
    membership = assign(gym_a, member, monthly, today - datetime.timedelta(days=10))
    next_billing = membership.next_billing_date
    url = f"/api/v1/memberships/{membership.pk}"

    frozen = post(client_a, f"{url}/freeze/", {"days": 10, "reason": "Broken ankle"}, desk)
    assert frozen.status_code == 200, frozen.content
    body = frozen.json()
    assert body["status"] == "frozen"
    assert body["next_billing_date"] == (next_billing + datetime.timedelta(days=10)).isoformat()
    assert body["freezes"][0]["start_date"] == today.isoformat() and body["freezes"][0]["reason"] == "Broken ankle"

    thawed = post(client_a, f"{url}/unfreeze/", {"reason": "Back early"}, desk)
    assert thawed.status_code == 200
    assert thawed.json()["status"] == "active" and thawed.json()["next_billing_date"] == next_billing.isoformat()
    assert_error(post(client_a, f"{url}/unfreeze/", {}, desk), 409, "not_frozen")


def test_freeze_errors(gym_a: Gym, client_a: Client, desk, monthly: Plan) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        member = MemberFactory()
        cancelled = MembershipFactory(plan=monthly, status=Membership.Status.CANCELLED)
    url = f"/api/v1/memberships/{assign(gym_a, member, monthly, today).pk}/freeze/"

    def freeze(body: dict, target: str = url):
        return post(client_a, target, {"reason": "Travel", **body}, desk)

    both = assert_error(freeze({"days": 3, "end_date": today.isoformat()}), 400, "validation_error")
    assert "end_date" in both["details"]
    assert_error(freeze({}), 400, "validation_error")
    assert_error(post(client_a, url, {"days": 3}, desk), 400, "validation_error")  # a reason is required
    assert_error(freeze({"days": 91}), 400, "validation_error")
    yesterday = (today - datetime.timedelta(days=1)).isoformat()
    past = assert_error(freeze({"start_date": yesterday, "days": 3}), 400, "freeze_in_past")
    assert "start_date" in past["details"]
    too_long = (today + datetime.timedelta(days=120)).isoformat()
    assert_error(freeze({"end_date": too_long}), 400, "freeze_too_long")
    assert_error(freeze({"days": 3}, f"/api/v1/memberships/{cancelled.pk}/freeze/"), 409, "transition_not_allowed")
    with tenant_context(gym_a):
        assert not Membership.objects.filter(status=Membership.Status.FROZEN).exists()


def test_member_freezes_and_unfreezes_their_own(gym_a: Gym, client_a: Client, monthly: Plan) -> None:
    today = gym_today(gym_a)
    user, me = member_user(gym_a)
    membership = assign(gym_a, me, monthly, today)
    headers = auth(gym_a, user)
    start = (today + datetime.timedelta(days=7)).isoformat()

    scheduled = post(
        client_a,
        f"/api/v1/memberships/{membership.pk}/freeze/",
        {"start_date": start, "days": 14, "reason": "Holiday"},
        headers,
    )
    assert scheduled.status_code == 200, scheduled.content
    assert scheduled.json()["status"] == "active" and scheduled.json()["freezes"][0]["start_date"] == start
    called_off = post(client_a, f"/api/v1/memberships/{membership.pk}/unfreeze/", {}, headers)
    assert called_off.status_code == 200 and called_off.json()["freezes"][0]["ended_on"] == today.isoformat()
    with tenant_context(gym_a):
        assert MembershipEvent.objects.filter(membership=membership, kind="frozen", actor=user).exists()


# --- cancel and renew -----------------------------------------------------------------


def test_cancel_immediately_and_at_period_end(gym_a: Gym, client_a: Client, desk, monthly: Plan) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        one, two = MemberFactory(), MemberFactory()
    now = assign(gym_a, one, monthly, today - datetime.timedelta(days=5))
    later = assign(gym_a, two, monthly, today - datetime.timedelta(days=5))

    gone = post(
        client_a, f"/api/v1/memberships/{now.pk}/cancel/", {"when": "immediately", "reason": "Moved away"}, desk
    )
    assert gone.status_code == 200, gone.content
    assert gone.json()["status"] == "cancelled" and gone.json()["end_date"] == today.isoformat()
    assert gone.json()["cancel_reason"] == "Moved away"

    ending = post(
        client_a, f"/api/v1/memberships/{later.pk}/cancel/", {"when": "at_period_end", "reason": "Too pricey"}, desk
    )
    assert ending.status_code == 200
    assert ending.json()["status"] == "active" and ending.json()["cancel_at_period_end"] is True
    assert ending.json()["end_date"] == (later.next_billing_date - datetime.timedelta(days=1)).isoformat()

    assert_error(
        post(client_a, f"/api/v1/memberships/{now.pk}/cancel/", {"when": "immediately", "reason": "again"}, desk),
        409,
        "transition_not_allowed",
    )
    shape = assert_error(
        post(client_a, f"/api/v1/memberships/{later.pk}/cancel/", {"when": "soon"}, desk), 400, "validation_error"
    )
    assert set(shape["details"]) == {"when", "reason"}


def test_members_may_not_cancel_renew_or_change_plan(gym_a: Gym, client_a: Client, monthly: Plan) -> None:
    user, me = member_user(gym_a)
    membership = assign(gym_a, me, monthly, gym_today(gym_a))
    headers = auth(gym_a, user)
    url = f"/api/v1/memberships/{membership.pk}"

    for response in [
        post(client_a, f"{url}/cancel/", {"when": "at_period_end", "reason": "bye"}, headers),
        post(client_a, f"{url}/renew/", {}, headers),
        client_a.get(f"{url}/change-plan/", {"plan": monthly.pk}, **headers),
        post(client_a, f"{url}/change-plan/", {"plan": monthly.pk}, headers),
    ]:
        assert_error(response, 403, "role_too_low")
    with tenant_context(gym_a):
        assert Membership.objects.get(pk=membership.pk).cancel_at_period_end is False


def test_renew(gym_a: Gym, client_a: Client, desk) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        member = MemberFactory()
        pass_plan = PlanFactory(kind=Plan.Kind.ONE_OFF, billing_period="", duration_days=30, price=Decimal("300.00"))
        recurring = PlanFactory()
        other = MemberFactory()
    term = assign(gym_a, member, pass_plan, today - datetime.timedelta(days=20))
    monthly_term = assign(gym_a, other, recurring, today)

    renewed = post(client_a, f"/api/v1/memberships/{term.pk}/renew/", {"reason": "Paid cash"}, desk)
    assert renewed.status_code == 201, renewed.content
    assert renewed.json()["id"] != term.pk
    assert renewed.json()["start_date"] == (term.end_date + datetime.timedelta(days=1)).isoformat()
    assert_error(post(client_a, f"/api/v1/memberships/{term.pk}/renew/", {}, desk), 409, "already_renewed")
    assert_error(
        post(client_a, f"/api/v1/memberships/{monthly_term.pk}/renew/", {}, desk), 409, "transition_not_allowed"
    )


# --- change plan ------------------------------------------------------------------------


def test_change_plan_preview_then_confirm(gym_a: Gym, client_a: Client, desk, monthly: Plan) -> None:
    today = gym_today(gym_a)
    with tenant_context(gym_a):
        member = MemberFactory()
        premium = PlanFactory(name="Premium", price=Decimal("900.00"))
    membership = assign(gym_a, member, monthly, today - datetime.timedelta(days=12))
    url = f"/api/v1/memberships/{membership.pk}/change-plan/"
    with tenant_context(gym_a):
        expected = membership_change_plan_quote(membership=membership, new_plan=premium, today=today)

    preview = client_a.get(url, {"plan": premium.pk}, **desk)
    assert preview.status_code == 200, preview.content
    quote = preview.json()
    assert quote["amount_due"] == str(expected.amount_due) and quote["unused_credit"] == str(expected.unused_credit)
    assert quote["days_remaining"] == expected.days_remaining and quote["plan"]["name"] == "Premium"
    with tenant_context(gym_a):
        assert Membership.objects.get(pk=membership.pk).plan_id == monthly.pk  # a preview writes nothing

    stale = assert_error(
        post(client_a, url, {"plan": premium.pk, "expected_amount_due": "1.23"}, desk), 409, "quote_changed"
    )
    assert stale["details"]["quote"]["amount_due"] == quote["amount_due"]
    with tenant_context(gym_a):
        assert Membership.objects.get(pk=membership.pk).status == "active"

    done = post(client_a, url, {"plan": premium.pk, "expected_amount_due": quote["amount_due"]}, desk)
    assert done.status_code == 201, done.content
    assert done.json()["membership"]["plan"]["name"] == "Premium" and done.json()["quote"] == quote
    with tenant_context(gym_a):
        assert Membership.objects.get(pk=membership.pk).status == "cancelled"


def test_change_plan_errors(gym_a: Gym, client_a: Client, desk, monthly: Plan) -> None:
    with tenant_context(gym_a):
        member = MemberFactory()
        archived = PlanFactory(is_active=False)
        pack = PlanFactory(kind=Plan.Kind.CLASS_PACK, billing_period="", class_credits=10)
    membership = assign(gym_a, member, monthly, gym_today(gym_a))
    url = f"/api/v1/memberships/{membership.pk}/change-plan/"

    assert_error(client_a.get(url, **desk), 400, "validation_error")
    assert_error(client_a.get(url, {"plan": 999_999}, **desk), 400, "validation_error")
    assert_error(client_a.get(url, {"plan": monthly.pk}, **desk), 422, "plan_change_invalid")
    assert_error(client_a.get(url, {"plan": pack.pk}, **desk), 422, "plan_change_invalid")
    assert_error(post(client_a, url, {"plan": archived.pk}, desk), 422, "plan_archived")


# --- isolation ---------------------------------------------------------------------------


def test_gym_a_cannot_reach_gym_b_memberships(
    gym_a: Gym, gym_b: Gym, make_staff, client_a: Client, client_b: Client
) -> None:
    with tenant_context(gym_b):
        plan_b = PlanFactory()
        theirs = MembershipFactory(plan=plan_b)
    with tenant_context(gym_a):
        assert not Membership.objects.filter(pk=theirs.pk).exists()
        assert not Plan.objects.filter(pk=plan_b.pk).exists()
        assert not Member.objects.filter(pk=theirs.member_id).exists()
    headers = auth(gym_a, make_staff(gym_a, Role.OWNER))
    url = f"/api/v1/memberships/{theirs.pk}"

    assert client_a.get("/api/v1/memberships/", **headers).json()["count"] == 0
    assert_error(client_a.get(f"{url}/", **headers), 404, "not_found")
    for action, body in [
        ("freeze", {"days": 3, "reason": "x"}),
        ("unfreeze", {}),
        ("cancel", {"when": "immediately", "reason": "x"}),
        ("renew", {}),
        ("change-plan", {"plan": plan_b.pk}),
    ]:
        assert_error(post(client_a, f"{url}/{action}/", body, headers), 404, "not_found")
    assert_error(client_a.get(f"{url}/change-plan/", {"plan": plan_b.pk}, **headers), 404, "not_found")
    # B's member and plan ids mean nothing at A.
    assigned = post(client_a, "/api/v1/memberships/", {"member": theirs.member_id, "plan": plan_b.pk}, headers)
    assert set(assert_error(assigned, 400, "validation_error")["details"]) == {"member", "plan"}
    # A's token on B's host.
    assert_error(client_b.get("/api/v1/memberships/", **headers), 401, "token_wrong_gym")
    assert_error(
        post(client_b, f"{url}/cancel/", {"when": "immediately", "reason": "x"}, headers), 401, "token_wrong_gym"
    )
    with tenant_context(gym_b):
        assert Membership.objects.get(pk=theirs.pk).status == "active"


# --- query counts --------------------------------------------------------------------------


def test_membership_list_query_count_is_constant(
    gym_a: Gym, client_a: Client, desk, monthly: Plan, django_assert_max_num_queries
) -> None:
    with tenant_context(gym_a):
        members = Member.objects.bulk_create(
            Member(first_name=f"F{i}", last_name=f"L{i}", email=f"q{i}@example.test") for i in range(1000)
        )
        statuses = list(Membership.Status)
        Membership.objects.bulk_create(
            Membership(
                member=m,
                plan=monthly,
                status=statuses[i % len(statuses)],
                start_date=datetime.date(2026, 1, 1) + datetime.timedelta(days=i % 200),
                price=monthly.price,
                billing_period="monthly",
            )
            for i, m in enumerate(members)
        )
    client_a.get("/api/v1/memberships/", {"page_size": 1}, **desk)

    # gym, user, role, count, memberships with member and plan joined, their freezes;
    # each after a SET search_path.
    for params in ({"page_size": 200}, {"status": "active", "plan": monthly.pk, "page_size": 200}):
        with django_assert_max_num_queries(12):
            response = client_a.get("/api/v1/memberships/", params, **desk)
        assert response.status_code == 200 and len(response.json()["results"]) == 200
