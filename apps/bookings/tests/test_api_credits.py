"""`GET /api/v1/credits/`: balances per bucket and the paged ledger; staff read any
member's; a member only their own; query count; the OpenAPI schema of the bookings,
schedule and credits endpoints."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import tenant_context
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from apps.bookings.services import booking_cancel, booking_create
from apps.members.tests.test_api_members import assert_error, auth
from apps.staff.roles import Role
from apps.tenants.models import Gym

from .factories import monthly_plan, pack_plan, session_at
from .test_api_bookings import Caller, hours_ahead

pytestmark = pytest.mark.django_db

URL = "/api/v1/credits/"


def test_balances_and_ledger(gym_a: Gym, client_a: Client) -> None:
    with tenant_context(gym_a):
        pack, unlimited = pack_plan(credits=10, name="10-class pack"), monthly_plan(credits=None, name="Unlimited")
    ann = Caller(gym_a, pack)
    with tenant_context(gym_a):
        first = booking_create(member=ann.member, session=session_at(hours_ahead(30)))
        booking_create(member=ann.member, session=session_at(hours_ahead(40)))
        booking_cancel(booking=first, reason="Changed plans")

    response = client_a.get(URL, **ann.headers)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["total"] == 9 and body["unlimited"] is False
    assert len(body["buckets"]) == 1
    bucket = body["buckets"][0]
    assert bucket["plan"] == "10-class pack" and bucket["balance"] == 9 and bucket["usable"] is True
    assert bucket["membership"] == ann.membership.pk  # type: ignore[union-attr]
    assert body["count"] == 4
    kinds = [(row["kind"], row["amount"], row["balance_after"]) for row in body["results"]]
    assert kinds == [("refund", 1, 9), ("spend", -1, 8), ("spend", -1, 9), ("purchase", 10, 10)]
    spend = body["results"][2]
    assert spend["booking"] == first.pk and spend["class_name"] == first.session.gym_class.name
    assert spend["session_starts_at"].endswith("Z") and spend["plan"] == "10-class pack"
    assert body["results"][3]["booking"] is None and body["results"][3]["class_name"] is None

    paged = client_a.get(URL, {"page_size": 2, "page": 2}, **ann.headers).json()
    assert [r["kind"] for r in paged["results"]] == ["spend", "purchase"]
    assert paged["previous"] and paged["next"] is None and paged["count"] == 4

    # An unlimited membership too: unlimited, and listed first (spent first).
    with tenant_context(gym_a):
        from apps.memberships.services import membership_assign

        membership_assign(member=ann.member, plan=unlimited, start_date=ann.membership.start_date)  # type: ignore[union-attr]
    both = client_a.get(URL, **ann.headers).json()
    assert both["unlimited"] is True and [b["plan"] for b in both["buckets"]] == ["Unlimited", "10-class pack"]
    assert both["buckets"][0]["balance"] is None


def test_roles(gym_a: Gym, client_a: Client, make_staff) -> None:
    with tenant_context(gym_a):
        pack = pack_plan(credits=5)
    ann, ben = Caller(gym_a, pack), Caller(gym_a, pack)
    desk = auth(gym_a, make_staff(gym_a, Role.RECEPTIONIST))

    assert client_a.get(URL, {"member": ben.member.pk}, **desk).json()["total"] == 5
    assert_error(client_a.get(URL, {"member": ben.member.pk}, **ann.headers), 403, "field_forbidden")
    assert client_a.get(URL, {"member": ann.member.pk}, **ann.headers).status_code == 200
    assert_error(client_a.get(URL, **desk), 400, "validation_error")
    assert_error(client_a.get(URL, {"member": 999_999}, **desk), 404, "member_not_found")


def test_query_count(gym_a: Gym, client_a: Client, django_assert_max_num_queries) -> None:
    with tenant_context(gym_a):
        pack = pack_plan(credits=200)
    ann = Caller(gym_a, pack)
    with tenant_context(gym_a):
        for i in range(40):
            booking_create(member=ann.member, session=session_at(hours_ahead(3 + 2 * i)))

    # domain, user, role (staff role, member), my member record, the summary (memberships
    # locked in a savepoint, newest ledger row per bucket), count, page: 11, each after a
    # SET search_path.
    with django_assert_max_num_queries(22):
        response = client_a.get(URL, {"page_size": 200}, **ann.headers)
    assert response.json()["count"] == 41


def test_isolation(gym_a: Gym, gym_b: Gym, client_a: Client, client_b: Client, make_staff) -> None:
    with tenant_context(gym_b):
        b_pack = pack_plan(credits=5)
    b_member = Caller(gym_b, b_pack)
    a_owner = auth(gym_a, make_staff(gym_a, Role.OWNER))

    assert_error(client_a.get(URL, **b_member.headers), 401, "token_wrong_gym")
    assert_error(client_b.get(URL, {"member": 10**6}, **auth(gym_b, make_staff(gym_b))), 404, "member_not_found")
    assert_error(client_a.get(URL, {"member": 10**6}, **a_owner), 404, "member_not_found")


# --- the OpenAPI schema ------------------------------------------------------------------------------

OPERATIONS = {
    ("/api/v1/schedule/", "get"): "schedule_list",
    ("/api/v1/schedule.ics", "get"): "schedule_feed",
    ("/api/v1/bookings/", "get"): "bookings_list",
    ("/api/v1/bookings/", "post"): "bookings_create",
    ("/api/v1/bookings/{id}/", "get"): "bookings_retrieve",
    ("/api/v1/bookings/{id}/", "delete"): "bookings_cancel",
    ("/api/v1/bookings/{id}/qr.png", "get"): "bookings_qr",
    ("/api/v1/bookings/feed-url/", "get"): "bookings_feed_url",
    ("/api/v1/bookings/feed/{token}.ics", "get"): "bookings_feed",
    ("/api/v1/credits/", "get"): "credits_retrieve",
}


def test_every_endpoint_is_in_the_schema_with_its_error_codes(client_a: Client) -> None:
    response = client_a.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    for (path, method), operation_id in OPERATIONS.items():
        assert paths[path][method]["operationId"] == operation_id
    create = paths["/api/v1/bookings/"]["post"]["responses"]
    for status, code in (
        ("409", "class_full"),
        ("402", "insufficient_credits"),
        ("403", "no_valid_membership"),
        ("400", "booking_window_closed"),
    ):
        assert f"`{code}`" in create[status]["description"]
    assert "`range_too_long`" in paths["/api/v1/schedule/"]["get"]["responses"]["400"]["description"]
    assert "image/png" in paths["/api/v1/bookings/{id}/qr.png"]["get"]["responses"]["200"]["content"]
    assert "text/calendar" in paths["/api/v1/schedule.ics"]["get"]["responses"]["200"]["content"]
    components = response.json()["components"]["schemas"]
    assert {"Booking", "Schedule", "ScheduleSession", "Credits", "CreditEntry"} <= set(components)


def test_schema_generates_without_warnings() -> None:
    GENERATOR_STATS.reset()
    SchemaGenerator(urlconf="fitflow.urls_tenants").get_schema(request=None, public=True)

    assert not GENERATOR_STATS, (GENERATOR_STATS._warn_cache, GENERATOR_STATS._error_cache)
