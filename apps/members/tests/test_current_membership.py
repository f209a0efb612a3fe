"""Every place that shows a member's current membership agrees on which one it is
(`apps.memberships.selectors.membership_pick_current`): the members API (list and
detail), `me/`, the members page and the CSV export. The page and the export list
every current membership, that one first."""

from __future__ import annotations

import csv
import datetime
import io
import zoneinfo

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.conftest import host_of
from apps.members.tests.test_api_members import auth, member_user
from apps.memberships.models import Membership
from apps.memberships.selectors import membership_current_for
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

IN_PICK_ORDER = ["Monthly Gold", "Ten-class pack", "Renewal term"]


@pytest.fixture
def holder(gym_a: Gym):
    """A user linked to a member holding three current memberships. Newest start first
    (the prefetch order) they are: a renewal starting in 5 days, a class pack bought 10
    days ago, a monthly plan from 60 days ago. The current one is the monthly plan (in
    effect today, and recurring beats a pack), then the pack, then the renewal."""
    today = timezone.now().astimezone(zoneinfo.ZoneInfo(gym_a.timezone)).date()
    user, member = member_user(gym_a, first_name="Nomsa", last_name="Zulu-Current")
    with tenant_context(gym_a):
        monthly = MembershipFactory(
            member=member, plan=PlanFactory(name="Monthly Gold"), start_date=today - datetime.timedelta(days=60)
        )
        MembershipFactory(
            member=member,
            plan=PlanFactory(name="Ten-class pack", kind=Plan.Kind.CLASS_PACK, billing_period="", class_credits=10),
            status=Membership.Status.FROZEN,
            start_date=today - datetime.timedelta(days=10),
            next_billing_date=None,
        )
        MembershipFactory(
            member=member, plan=PlanFactory(name="Renewal term"), start_date=today + datetime.timedelta(days=5)
        )
        MembershipFactory(
            member=member,
            plan=PlanFactory(name="Old plan"),
            status=Membership.Status.EXPIRED,
            start_date=today - datetime.timedelta(days=1),
        )
        assert membership_current_for(member=member, today=today) == monthly
    return user, member, monthly


def test_the_members_api_shows_the_picked_membership(gym_a: Gym, client_a: Client, make_staff, holder) -> None:
    _, member, monthly = holder
    headers = auth(gym_a, make_staff(gym_a, Role.RECEPTIONIST))

    listed = client_a.get("/api/v1/members/", {"q": "Zulu-Current"}, **headers).json()["results"]
    detail = client_a.get(f"/api/v1/members/{member.pk}/", **headers).json()

    assert [m["id"] for m in listed] == [member.pk]
    for shown in (listed[0]["current_membership"], detail["current_membership"]):
        assert shown["id"] == monthly.pk and shown["plan_name"] == "Monthly Gold" and shown["status"] == "active"


def test_me_shows_the_same_membership(gym_a: Gym, client_a: Client, holder) -> None:
    user, _, monthly = holder
    body = client_a.get("/api/v1/me/", **auth(gym_a, user)).json()
    assert body["membership"]["id"] == monthly.pk


def test_the_members_page_and_the_export_list_the_picked_one_first(gym_a: Gym, make_staff, holder) -> None:
    client = Client(HTTP_HOST=host_of(gym_a))
    client.force_login(make_staff(gym_a, Role.OWNER))

    page = client.get("/members/", {"q": "Zulu-Current"}).content.decode()
    export = client.get("/members/export/", {"q": "Zulu-Current"})
    text = export.content.decode("utf-8-sig")
    (row,) = csv.DictReader(io.StringIO(text, newline=""))

    start = page.index("Nomsa Zulu-Current")
    member_row = page[start : page.index("</tr>", start)]  # the plan filter's options list the plans too
    positions = [member_row.index(name) for name in IN_PICK_ORDER]
    assert positions == sorted(positions) and "Old plan" not in member_row
    assert row["Current Plan"] == "; ".join(IN_PICK_ORDER)
    assert row["Membership Status"] == "Active; Frozen; Active"
