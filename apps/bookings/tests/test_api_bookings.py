"""`/api/v1/bookings/`: book (each service error with its status), list, read, cancel
with a reason, the QR PNG, the staff rules (book for a member), a member's own-only
view, query counts, and cross-gym isolation on every endpoint.

The API runs on the real clock, so sessions are placed relative to `timezone.now()`.
"""

from __future__ import annotations

import datetime
import io
import zoneinfo

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context
from PIL import Image

from apps.bookings.models import Booking
from apps.bookings.qr import booking_qr_verify
from apps.bookings.services import booking_create
from apps.classes.models import ClassSession
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.members.tests.test_api_members import assert_error, auth, member_user
from apps.memberships.models import Membership
from apps.plans.models import Plan
from apps.staff.roles import Role
from apps.tenants.models import Gym

from .factories import member_on, monthly_plan, pack_plan, session_at

pytestmark = pytest.mark.django_db

URL = "/api/v1/bookings/"
H = datetime.timedelta(hours=1)


def gym_today(gym: Gym) -> datetime.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(gym.timezone)).date()


def hours_ahead(hours: float) -> datetime.datetime:
    """A whole-minute time `hours` from now."""
    return (timezone.now() + datetime.timedelta(hours=hours)).replace(second=0, microsecond=0)


def post(client: Client, body: dict, headers: dict):
    return client.post(URL, body, content_type="application/json", **headers)


class Caller:
    """A member with a login, a membership on `plan` and bearer headers at a gym."""

    def __init__(self, gym: Gym, plan: Plan | None = None, **member_fields: object) -> None:
        self.user, self.member = member_user(gym, **member_fields)
        self.membership: Membership | None = None
        with tenant_context(gym):
            if plan is not None:
                self.membership = member_on(plan, member=self.member, start=gym_today(gym))
        self.headers = auth(gym, self.user)


@pytest.fixture
def unlimited(gym_a: Gym) -> Plan:
    with tenant_context(gym_a):
        return monthly_plan(credits=None, name="Unlimited")


@pytest.fixture
def mia(gym_a: Gym, unlimited: Plan) -> Caller:
    return Caller(gym_a, unlimited, first_name="Mia", last_name="Moss")


@pytest.fixture
def desk(gym_a: Gym, make_staff) -> dict[str, str]:
    return auth(gym_a, make_staff(gym_a, Role.RECEPTIONIST))


@pytest.fixture
def session(gym_a: Gym) -> ClassSession:
    with tenant_context(gym_a):
        return session_at(hours_ahead(30), capacity=2)


# --- book ---------------------------------------------------------------------------------------


def test_a_member_books_and_gets_the_qr(gym_a: Gym, client_a: Client, mia: Caller, session: ClassSession) -> None:
    response = post(client_a, {"session": session.pk}, mia.headers)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "confirmed" and body["waitlist_position"] is None and body["credits_spent"] == 0
    assert body["member"] == {"id": mia.member.pk, "full_name": "Mia Moss"}
    assert body["plan"] == "Unlimited"
    assert body["session"]["id"] == session.pk and body["session"]["starts_at"].endswith("Z")
    assert body["session"]["gym_class"]["name"] == session.gym_class.name
    assert body["qr_url"] == f"http://gym-a.localhost/api/v1/bookings/{body['id']}/qr.png"
    late = datetime.datetime.fromisoformat(body["late_cancel_from"])
    assert late == session.starts_at - datetime.timedelta(hours=session.cancellation_window_hours)
    with tenant_context(gym_a):
        booking = Booking.objects.get(pk=body["id"])
        assert booking.member_id == mia.member.pk and booking.booked_by_id == mia.user.pk
        assert booking_qr_verify(token=body["qr_token"]) == booking

    png = client_a.get(f"/api/v1/bookings/{body['id']}/qr.png", **mia.headers)
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(io.BytesIO(png.content)).format == "PNG"
    # An image loader's Accept header is fine too.
    assert (
        client_a.get(f"/api/v1/bookings/{body['id']}/qr.png", HTTP_ACCEPT="image/*", **mia.headers).status_code == 200
    )


def test_credits_are_spent_and_the_waitlist_joined(gym_a: Gym, client_a: Client, session: ClassSession) -> None:
    with tenant_context(gym_a):
        pack = pack_plan(credits=5)
    ann, ben, cat = Caller(gym_a, pack), Caller(gym_a, pack), Caller(gym_a, pack)
    assert post(client_a, {"session": session.pk}, ann.headers).json()["credits_spent"] == 1
    assert post(client_a, {"session": session.pk}, ben.headers).status_code == 201

    full = assert_error(post(client_a, {"session": session.pk}, cat.headers), 409, "class_full")
    assert "waitlist" in full["message"]
    waiting = post(client_a, {"session": session.pk, "join_waitlist": True}, cat.headers)

    assert waiting.status_code == 201
    body = waiting.json()
    assert body["status"] == "waitlisted" and body["waitlist_position"] == 1 and body["credits_spent"] == 0
    assert body["qr_url"] is None and body["qr_token"] is None
    assert_error(client_a.get(f"/api/v1/bookings/{body['id']}/qr.png", **cat.headers), 409, "not_confirmed")


@pytest.mark.parametrize(
    "case, status, code",
    [
        ("started", 400, "session_not_bookable"),
        ("cancelled", 400, "session_not_bookable"),
        ("window", 400, "booking_window_closed"),
        ("no_membership", 403, "no_valid_membership"),
        ("plan_not_allowed", 403, "no_valid_membership"),
        ("already_booked", 409, "already_booked"),
        ("conflict", 409, "booking_conflict"),
        ("credits", 402, "insufficient_credits"),
        ("full", 409, "class_full"),
    ],
)
def test_each_booking_error_has_its_status(
    gym_a: Gym, client_a: Client, unlimited: Plan, case: str, status: int, code: str
) -> None:
    plan = unlimited
    with tenant_context(gym_a):
        if case == "credits":
            plan = pack_plan(credits=1)
        caller = Caller(gym_a, None if case == "no_membership" else plan)
        starts = hours_ahead(30)
        fields: dict = {}
        if case == "started":
            starts = timezone.now() - 10 * datetime.timedelta(minutes=1)
        if case == "cancelled":
            fields["status"] = ClassSession.Status.CANCELLED
        if case == "window":
            starts = hours_ahead(24 * 9)
        if case == "plan_not_allowed":
            fields["allowed_plans"] = [pack_plan()]
        if case == "credits":
            fields["credits"] = 2
        if case == "full":
            fields["capacity"] = 1
        target = session_at(starts, **fields)
        if case == "already_booked":
            booking_create(member=caller.member, session=target)
        if case == "conflict":
            booking_create(member=caller.member, session=session_at(starts - datetime.timedelta(minutes=30)))
        if case == "full":
            booking_create(member=member_on(unlimited).member, session=target)

    error = assert_error(post(client_a, {"session": target.pk}, caller.headers), status, code)

    with tenant_context(gym_a):
        assert not Booking.objects.filter(member=caller.member, session=target, status="confirmed").exists() or (
            case == "already_booked"
        )
    assert error["message"]


def test_input_errors(gym_a: Gym, gym_b: Gym, client_a: Client, mia: Caller, desk) -> None:
    with tenant_context(gym_b):
        b_session = session_at(hours_ahead(30))
    with tenant_context(gym_a):
        ClassSession.objects.filter(pk=b_session.pk).delete()  # no session with B's id at A

    assert_error(post(client_a, {}, mia.headers), 400, "validation_error")
    assert_error(post(client_a, {"session": "x"}, mia.headers), 400, "validation_error")
    assert_error(post(client_a, {"session": b_session.pk}, mia.headers), 404, "session_not_found")
    # Staff without a member record must say whom they book.
    with tenant_context(gym_a):
        a_session = session_at(hours_ahead(30))
    error = assert_error(post(client_a, {"session": a_session.pk}, desk), 400, "validation_error")
    assert "member" in error["details"]


def test_staff_book_for_a_member_and_members_cannot(
    gym_a: Gym, client_a: Client, mia: Caller, desk, session: ClassSession, unlimited: Plan
) -> None:
    other = Caller(gym_a, unlimited)

    forbidden = post(client_a, {"session": session.pk, "member": other.member.pk}, mia.headers)
    assert_error(forbidden, 403, "field_forbidden")
    # Naming yourself is fine.
    assert post(client_a, {"session": session.pk, "member": mia.member.pk}, mia.headers).status_code == 201

    booked = post(client_a, {"session": session.pk, "member": other.member.pk}, desk)
    assert booked.status_code == 201 and booked.json()["member"]["id"] == other.member.pk
    assert_error(post(client_a, {"session": session.pk, "member": 999_999}, desk), 404, "member_not_found")
    with tenant_context(gym_a):
        erased = MemberFactory(status=Member.Status.ERASED)
    assert_error(post(client_a, {"session": session.pk, "member": erased.pk}, desk), 404, "member_not_found")


# --- list and read ---------------------------------------------------------------------------


def test_members_see_only_their_own(gym_a: Gym, client_a: Client, mia: Caller, unlimited: Plan, desk) -> None:
    other = Caller(gym_a, unlimited)
    with tenant_context(gym_a):
        soon, later = session_at(hours_ahead(5)), session_at(hours_ahead(50))
        done = session_at(hours_ahead(-30))
        mine_soon = booking_create(member=mia.member, session=soon)
        mine_later = booking_create(member=mia.member, session=later)
        mine_done = Booking.objects.create(member=mia.member, session=done, status=Booking.Status.ATTENDED)
        theirs = booking_create(member=other.member, session=soon)

    def ids(headers, **params) -> list[int]:
        response = client_a.get(URL, params, **headers)
        assert response.status_code == 200, response.content
        return [b["id"] for b in response.json()["results"]]

    assert ids(mia.headers) == [mine_later.pk, mine_soon.pk, mine_done.pk]
    assert ids(mia.headers, when="upcoming") == [mine_soon.pk, mine_later.pk]
    assert ids(mia.headers, when="past") == [mine_done.pk]
    assert ids(mia.headers, status="attended") == [mine_done.pk]
    assert ids(mia.headers, member=other.member.pk) == [mine_later.pk, mine_soon.pk, mine_done.pk]  # ignored
    assert ids(mia.headers, session=soon.pk) == [mine_soon.pk]
    assert_error(client_a.get(URL, {"when": "tomorrow"}, **mia.headers), 400, "validation_error")

    assert client_a.get(f"{URL}{mine_soon.pk}/", **mia.headers).json()["id"] == mine_soon.pk
    assert_error(client_a.get(f"{URL}{theirs.pk}/", **mia.headers), 404, "not_found")
    assert_error(client_a.get(f"{URL}{theirs.pk}/qr.png", **mia.headers), 404, "not_found")
    assert_error(client_a.delete(f"{URL}{theirs.pk}/", **mia.headers), 404, "not_found")

    # Staff: everyone's, filterable by member; any booking's QR.
    assert set(ids(desk)) == {mine_soon.pk, mine_later.pk, mine_done.pk, theirs.pk}
    assert ids(desk, member=other.member.pk) == [theirs.pk]
    assert client_a.get(f"{URL}{theirs.pk}/qr.png", **desk).status_code == 200
    # A past booking's code has expired.
    assert_error(client_a.get(f"{URL}{mine_done.pk}/qr.png", **desk), 410, "expired")


def test_list_query_count(gym_a: Gym, client_a: Client, mia: Caller, desk, django_assert_max_num_queries) -> None:
    with tenant_context(gym_a):
        sessions = [session_at(hours_ahead(3 + i)) for i in range(60)]
        members = Member.objects.bulk_create(
            Member(first_name=f"F{i}", last_name=f"L{i}", email=f"bk{i}@example.test") for i in range(3)
        )
        Booking.objects.bulk_create(
            [Booking(member=mia.member, session=s, status="confirmed") for s in sessions]
            + [Booking(member=m, session=s, status="confirmed") for m in members for s in sessions]
        )

    # domain, user, role, (member), count, page: each after a SET search_path.
    with django_assert_max_num_queries(14):
        mine = client_a.get(URL, {"page_size": 200}, **mia.headers)
    with django_assert_max_num_queries(14):
        everyone = client_a.get(URL, {"page_size": 200}, **desk)

    assert mine.json()["count"] == 60 and len(mine.json()["results"]) == 60
    assert everyone.json()["count"] == 240 and len(everyone.json()["results"]) == 200


# --- cancel ------------------------------------------------------------------------------------


def test_cancel_with_a_reason(gym_a: Gym, client_a: Client, session: ClassSession) -> None:
    with tenant_context(gym_a):
        pack = pack_plan(credits=3)
    ann = Caller(gym_a, pack)
    booking_id = post(client_a, {"session": session.pk}, ann.headers).json()["id"]

    response = client_a.delete(
        f"{URL}{booking_id}/", {"reason": "Work ran late"}, content_type="application/json", **ann.headers
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled" and body["cancel_reason"] == "Work ran late" and body["cancelled_at"]
    assert body["qr_url"] is None
    credits = client_a.get("/api/v1/credits/", **ann.headers).json()
    assert credits["total"] == 3  # refunded: in time
    again = client_a.delete(f"{URL}{booking_id}/", **ann.headers)
    assert_error(again, 409, "booking_not_cancellable")


def test_late_cancel_by_query_reason_and_the_waitlist_moves_up(
    gym_a: Gym, client_a: Client, unlimited: Plan, desk
) -> None:
    with tenant_context(gym_a):
        pack = pack_plan(credits=3)
        soon = session_at(hours_ahead(3), capacity=1)  # inside the 12-hour cancellation window
    ann, ben = Caller(gym_a, pack), Caller(gym_a, unlimited)
    ann_id = post(client_a, {"session": soon.pk}, ann.headers).json()["id"]
    ben_id = post(client_a, {"session": soon.pk, "join_waitlist": True}, ben.headers).json()["id"]

    response = client_a.delete(f"{URL}{ann_id}/?reason=Sick", **ann.headers)

    body = response.json()
    assert response.status_code == 200 and body["status"] == "late_cancelled" and body["cancel_reason"] == "Sick"
    assert client_a.get("/api/v1/credits/", **ann.headers).json()["total"] == 2  # no refund
    assert client_a.get(f"{URL}{ben_id}/", **ben.headers).json()["status"] == "confirmed"
    # Staff cancel anyone's booking.
    staff_cancel = client_a.delete(f"{URL}{ben_id}/", {"reason": "Desk"}, content_type="application/json", **desk)
    assert staff_cancel.status_code == 200 and staff_cancel.json()["status"] == "late_cancelled"


# --- isolation -----------------------------------------------------------------------------------


def test_cross_gym_isolation_on_every_endpoint(
    gym_a: Gym, gym_b: Gym, client_a: Client, client_b: Client, mia: Caller, make_staff
) -> None:
    with tenant_context(gym_b):
        b_plan = monthly_plan(credits=None)
        b_member = Caller(gym_b, b_plan)
        b_session = session_at(hours_ahead(30))
        b_booking = booking_create(member=b_member.member, session=b_session)
    with tenant_context(gym_a):
        Booking.objects.filter(pk=b_booking.pk).delete()
        ClassSession.objects.filter(pk=b_session.pk).delete()
    b_owner = auth(gym_b, make_staff(gym_b, Role.OWNER))
    a_owner = auth(gym_a, make_staff(gym_a, Role.OWNER))

    # A's token on B's host: 401 everywhere.
    for method, path in [
        ("get", URL),
        ("post", URL),
        ("get", f"{URL}{b_booking.pk}/"),
        ("delete", f"{URL}{b_booking.pk}/"),
        ("get", f"{URL}{b_booking.pk}/qr.png"),
        ("get", f"{URL}feed-url/"),
        ("get", "/api/v1/credits/"),
        ("get", "/api/v1/schedule/"),
    ]:
        response = getattr(client_b, method)(path, **mia.headers)
        assert_error(response, 401, "token_wrong_gym")

    # B's ids on A's host: 404, for a member and for the owner.
    for headers in (mia.headers, a_owner):
        assert_error(client_a.get(f"{URL}{b_booking.pk}/", **headers), 404, "not_found")
        assert_error(client_a.delete(f"{URL}{b_booking.pk}/", **headers), 404, "not_found")
        assert_error(client_a.get(f"{URL}{b_booking.pk}/qr.png", **headers), 404, "not_found")
        assert_error(post(client_a, {"session": b_session.pk}, headers), 404, "session_not_found")
        assert b_booking.pk not in [b["id"] for b in client_a.get(URL, **headers).json()["results"]]
    with tenant_context(gym_a):
        a_session = session_at(hours_ahead(30))
        beyond_a = (Member.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 500
    with tenant_context(gym_b):
        only_at_b = MemberFactory(pk=beyond_a)
    assert_error(post(client_a, {"session": a_session.pk, "member": only_at_b.pk}, a_owner), 404, "member_not_found")
    # B's owner at B still sees it.
    assert client_b.get(f"{URL}{b_booking.pk}/", **b_owner).status_code == 200
    # A user with no role at A: 403.
    assert_error(client_a.get(URL, **auth(gym_a, b_member.user)), 403, "no_gym_access")
    assert_error(client_a.get(URL), 401, "not_authenticated")
