"""The front-desk API: check-in by rotating QR (round trip from `me/qr/`) and by
member id, refusals as 200 answers, overrides by role, check-out, a day's list (with
its query count), occupancy, the schema, and cross-gym isolation on every endpoint.

The API runs on the real clock, so memberships start on the gym's today and sessions
are placed relative to `timezone.now()`.
"""

from __future__ import annotations

import base64
import datetime
from datetime import date as D

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.accounts.tests.factories import UserFactory
from apps.bookings.models import Booking
from apps.bookings.services import booking_create
from apps.bookings.tests.factories import session_at
from apps.checkins.models import CheckIn
from apps.checkins.qr import MEMBER_QR_SALT, member_rotating_qr_token
from apps.checkins.selectors import occupancy_level
from apps.checkins.services import checkin_create
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.members.tests.test_api_members import assert_error, auth, member_user
from apps.memberships.models import Membership
from apps.memberships.services import membership_freeze
from apps.plans.models import Plan
from apps.staff.roles import Role
from apps.tenants.dispatch import gym_local_date
from apps.tenants.models import Gym

from .factories import active_member, monthly_plan

pytestmark = pytest.mark.django_db

CHECK_INS = "/api/v1/check-ins/"
OCCUPANCY = "/api/v1/occupancy/"
ME_QR = "/api/v1/me/qr/"
RESULT_KEYS = {"allowed", "code", "message", "member", "membership", "check_in", "booking", "warnings"}


def check_out_url(pk: int) -> str:
    return f"{CHECK_INS}{pk}/check-out/"


def post(client: Client, body: dict, headers: dict):
    return client.post(CHECK_INS, body, content_type="application/json", **headers)


class Caller:
    """A member of `gym` with an app login and bearer headers; on an active monthly
    membership of `plan` from the gym's today unless `plan` is None."""

    def __init__(self, gym: Gym, plan: Plan | None = None, **member_fields: object) -> None:
        self.user, self.member = member_user(gym, **member_fields)
        self.membership: Membership | None = None
        if plan is not None:
            with tenant_context(gym):
                self.membership = active_member(plan, member=self.member, start=gym_local_date(gym))
        self.headers = auth(gym, self.user)


@pytest.fixture
def gold(gym_a: Gym) -> Plan:
    with tenant_context(gym_a):
        return monthly_plan(name="Gold")


@pytest.fixture
def mia(gym_a: Gym, gold: Plan) -> Caller:
    return Caller(gym_a, gold, first_name="Mia", last_name="Moss")


@pytest.fixture
def desk(gym_a: Gym, make_staff) -> dict[str, str]:
    """Bearer headers of a receptionist at gym A."""
    return auth(gym_a, make_staff(gym_a, Role.RECEPTIONIST))


@pytest.fixture
def manager(gym_a: Gym, make_staff) -> dict[str, str]:
    return auth(gym_a, make_staff(gym_a, Role.MANAGER))


def open_check_ins(gym: Gym) -> list[CheckIn]:
    with tenant_context(gym):
        return list(CheckIn.objects.filter(checked_out_at__isnull=True))


# --- the rotating QR round trip ----------------------------------------------------------------


def test_member_qr_round_trip_checks_in_green(gym_a: Gym, client_a: Client, mia: Caller, make_staff) -> None:
    receptionist = make_staff(gym_a, Role.RECEPTIONIST)
    with tenant_context(gym_a):
        Member.objects.filter(pk=mia.member.pk).update(photo="gym_gym_a/members/photos/mia.jpg")

    # given the member opens their QR in the app
    qr = client_a.get(ME_QR, **mia.headers)

    assert qr.status_code == 200, qr.content
    assert qr["Cache-Control"] == "no-store"
    code = qr.json()
    assert set(code) == {"token", "svg", "expires_at", "refresh_after_seconds"}
    assert code["refresh_after_seconds"] == 30
    assert code["svg"].startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(code["svg"].split(",", 1)[1]).startswith(b"<svg")
    payload = signing.loads(code["token"], salt=MEMBER_QR_SALT)
    assert payload["g"] == gym_a.schema_name and payload["m"] == mia.member.pk
    issued = datetime.datetime.fromtimestamp(payload["t"], tz=datetime.UTC)
    assert datetime.datetime.fromisoformat(code["expires_at"]) == issued + datetime.timedelta(seconds=60)
    assert code["expires_at"].endswith("Z")

    # when the desk scans it
    response = post(client_a, {"qr": code["token"]}, auth(gym_a, receptionist))

    # then green: 201 with who, their membership and the new check-in
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == RESULT_KEYS
    assert (body["allowed"], body["code"]) == (True, "checked_in") and body["message"]
    assert body["member"] == {
        "id": mia.member.pk,
        "name": "Mia Moss",
        "photo_url": "http://gym-a.localhost/media/gym_gym_a/members/photos/mia.jpg",
    }
    assert mia.membership is not None
    assert body["membership"] == {
        "id": mia.membership.pk,
        "plan": "Gold",
        "status": "active",
        "end_date": mia.membership.end_date.isoformat() if mia.membership.end_date else None,
    }
    assert set(body["check_in"]) == {"id", "checked_in_at", "checked_out_at", "method"}
    assert body["check_in"]["method"] == "member_qr" and body["check_in"]["checked_out_at"] is None
    assert body["booking"] is None and isinstance(body["warnings"], list)
    [row] = open_check_ins(gym_a)
    assert row.pk == body["check_in"]["id"] and row.member_id == mia.member.pk
    assert row.checked_in_by_id == receptionist.pk and row.membership_id == mia.membership.pk
    # and the member's app sees the gym one fuller
    occupancy = client_a.get(OCCUPANCY, **mia.headers).json()
    assert occupancy["count"] == 1 and occupancy["capacity"] == gym_a.occupancy_capacity


def test_me_qr_needs_a_member_record(gym_a: Gym, client_a: Client, make_staff) -> None:
    owner = make_staff(gym_a, Role.OWNER)
    stranger = UserFactory()

    error = assert_error(client_a.get(ME_QR, **auth(gym_a, owner)), 403, "not_a_member")
    assert client_a.get(ME_QR, **auth(gym_a, owner))["Cache-Control"] == "no-store"
    assert "member" in error["message"].lower()
    assert_error(client_a.get(ME_QR, **auth(gym_a, stranger)), 403, "no_gym_access")
    assert_error(client_a.get(ME_QR), 401, "not_authenticated")


def test_staff_with_a_member_record_gets_a_qr(gym_a: Gym, client_a: Client, make_staff) -> None:
    trainer = make_staff(gym_a, Role.TRAINER)
    with tenant_context(gym_a):
        member = MemberFactory(user=trainer)

    response = client_a.get(ME_QR, **auth(gym_a, trainer))

    assert response.status_code == 200
    assert signing.loads(response.json()["token"], salt=MEMBER_QR_SALT)["m"] == member.pk


def test_each_scan_of_me_qr_is_checked_against_its_own_clock(gym_a: Gym, client_a: Client, mia: Caller, desk) -> None:
    # An expired rotating code (issued 2 minutes ago) is refused as unknown_code.
    with tenant_context(gym_a):
        stale = member_rotating_qr_token(member=mia.member, now=timezone.now() - datetime.timedelta(minutes=2))

    response = post(client_a, {"qr": stale}, desk)

    assert response.status_code == 200
    body = response.json()
    assert (body["allowed"], body["code"], body["member"], body["check_in"]) == (False, "unknown_code", None, None)
    assert "expired" in body["message"]
    assert not open_check_ins(gym_a)


# --- check-in by member id ----------------------------------------------------------------------


def test_check_in_a_picked_member_marks_their_class_attended(gym_a: Gym, client_a: Client, mia: Caller, desk) -> None:
    with tenant_context(gym_a):
        soon = session_at((timezone.now() + datetime.timedelta(minutes=30)).replace(second=0, microsecond=0))
        booking = booking_create(member=mia.member, session=soon)

    response = post(client_a, {"member": mia.member.pk}, desk)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["allowed"] and body["check_in"]["method"] == "search"
    assert body["booking"] == {
        "id": booking.pk,
        "class_name": soon.gym_class.name,
        "starts_at": soon.starts_at.isoformat().replace("+00:00", "Z"),
    }
    with tenant_context(gym_a):
        booking.refresh_from_db()
        assert booking.status == Booking.Status.ATTENDED
        assert CheckIn.objects.get(pk=body["check_in"]["id"]).booking_id == booking.pk


# --- refusals are answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case, code",
    [
        ("no_membership", "no_active_membership"),
        ("frozen", "membership_frozen"),
        ("forged_qr", "unknown_code"),
    ],
)
def test_refusals_answer_200_and_write_nothing(
    gym_a: Gym, client_a: Client, gold: Plan, desk, case: str, code: str
) -> None:
    membership: Membership | None = None
    with tenant_context(gym_a):
        member = MemberFactory(first_name="Rex", last_name="Red")
        if case == "frozen":
            today = gym_local_date(gym_a)
            membership = active_member(gold, member=member, start=today)
            membership_freeze(
                membership=membership, start_date=today, end_date=today + datetime.timedelta(days=9), reason="Travel"
            )
    body_in = {"qr": "not-a-fitflow-code"} if case == "forged_qr" else {"member": member.pk}

    response = post(client_a, body_in, desk)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == RESULT_KEYS
    assert (body["allowed"], body["code"]) == (False, code) and body["message"]
    assert body["check_in"] is None and body["booking"] is None and body["warnings"] == []
    if case == "forged_qr":
        assert body["member"] is None
    else:
        assert body["member"] == {"id": member.pk, "name": "Rex Red", "photo_url": None}
    if membership is not None:
        assert body["membership"]["id"] == membership.pk and body["membership"]["plan"] == "Gold"
    else:
        assert body["membership"] is None
    with tenant_context(gym_a):
        assert not CheckIn.objects.exists()


def test_already_checked_in_answers_200_with_the_open_check_in(gym_a: Gym, client_a: Client, mia: Caller, desk) -> None:
    first = post(client_a, {"member": mia.member.pk}, desk)
    assert first.status_code == 201

    again = post(client_a, {"member": mia.member.pk}, desk)

    assert again.status_code == 200, again.content
    body = again.json()
    assert (body["allowed"], body["code"]) == (False, "already_checked_in")
    assert body["check_in"]["id"] == first.json()["check_in"]["id"]
    assert body["member"]["id"] == mia.member.pk
    with tenant_context(gym_a):
        assert CheckIn.objects.count() == 1


# --- overrides -----------------------------------------------------------------------------------


@pytest.fixture
def frozen(gym_a: Gym, gold: Plan) -> Membership:
    with tenant_context(gym_a):
        today = gym_local_date(gym_a)
        membership = active_member(gold, start=today)
        membership_freeze(
            membership=membership, start_date=today, end_date=today + datetime.timedelta(days=9), reason="Injury"
        )
        return membership


def test_a_receptionist_cannot_override(gym_a: Gym, client_a: Client, desk, frozen: Membership) -> None:
    body = {"member": frozen.member_id, "override_reason": "Says it is sorted"}

    error = assert_error(post(client_a, body, desk), 403, "role_too_low")

    assert "override_reason" in error["details"]
    with tenant_context(gym_a):
        assert not CheckIn.objects.exists()
    # A blank reason is no override: the plain refusal.
    blank = post(client_a, {"member": frozen.member_id, "override_reason": "   "}, desk)
    assert blank.status_code == 200 and blank.json()["code"] == "membership_frozen"


@pytest.mark.parametrize("role", [Role.MANAGER, Role.OWNER])
def test_a_manager_overrides_a_refusal(
    gym_a: Gym, client_a: Client, make_staff, frozen: Membership, role: Role
) -> None:
    headers = auth(gym_a, make_staff(gym_a, role))

    response = post(client_a, {"member": frozen.member_id, "override_reason": "Doctor cleared"}, headers)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["allowed"], body["code"]) == (True, "checked_in")
    assert body["check_in"]["method"] == "override"
    assert any("Doctor cleared" in warning for warning in body["warnings"])
    with tenant_context(gym_a):
        row = CheckIn.objects.get(pk=body["check_in"]["id"])
        assert (row.override_reason, row.overridden_code) == ("Doctor cleared", "membership_frozen")


# --- input errors and roles ----------------------------------------------------------------------


def test_check_in_input_errors(gym_a: Gym, client_a: Client, mia: Caller, desk) -> None:
    neither = assert_error(post(client_a, {}, desk), 400, "validation_error")
    assert set(neither["details"]) == {"qr", "member"}
    both = assert_error(post(client_a, {"qr": "abc", "member": mia.member.pk}, desk), 400, "validation_error")
    assert set(both["details"]) == {"qr", "member"}
    assert "member" in assert_error(post(client_a, {"member": "x"}, desk), 400, "validation_error")["details"]
    assert "qr" in assert_error(post(client_a, {"qr": ""}, desk), 400, "validation_error")["details"]
    assert_error(post(client_a, {"member": 999_999}, desk), 404, "member_not_found")
    with tenant_context(gym_a):
        erased = MemberFactory(status=Member.Status.ERASED)
    assert_error(post(client_a, {"member": erased.pk}, desk), 404, "member_not_found")
    with tenant_context(gym_a):
        assert not CheckIn.objects.exists()


def test_members_are_refused_on_staff_endpoints(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    with tenant_context(gym_a):
        check_in = checkin_create(member=mia.member).check_in
    assert check_in is not None

    assert_error(post(client_a, {"member": mia.member.pk}, mia.headers), 403, "role_too_low")
    assert_error(client_a.get(CHECK_INS, **mia.headers), 403, "role_too_low")
    assert_error(client_a.post(check_out_url(check_in.pk), **mia.headers), 403, "role_too_low")
    assert_error(client_a.get(CHECK_INS), 401, "not_authenticated")
    assert len(open_check_ins(gym_a)) == 1


@pytest.mark.parametrize("role", [Role.RECEPTIONIST, Role.TRAINER, Role.MANAGER, Role.OWNER])
def test_every_staff_role_may_use_the_desk(gym_a: Gym, client_a: Client, make_staff, mia: Caller, role: Role) -> None:
    headers = auth(gym_a, make_staff(gym_a, role))

    created = post(client_a, {"member": mia.member.pk}, headers)
    listed = client_a.get(CHECK_INS, **headers)
    out = client_a.post(check_out_url(created.json()["check_in"]["id"]), **headers)

    assert (created.status_code, listed.status_code, out.status_code) == (201, 200, 200)


# --- check-out -----------------------------------------------------------------------------------


def test_check_out_and_its_errors(gym_a: Gym, client_a: Client, mia: Caller, make_staff) -> None:
    receptionist = make_staff(gym_a, Role.RECEPTIONIST)
    headers = auth(gym_a, receptionist)
    check_in_id = post(client_a, {"member": mia.member.pk}, headers).json()["check_in"]["id"]
    assert client_a.get(OCCUPANCY, **headers).json()["count"] == 1

    response = client_a.post(check_out_url(check_in_id), **headers)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"id", "member", "checked_in_at", "checked_out_at", "check_out_kind", "method"}
    assert body["id"] == check_in_id and body["member"] == {"id": mia.member.pk, "name": "Mia Moss"}
    assert body["check_out_kind"] == "manual" and body["method"] == "search"
    assert body["checked_out_at"] >= body["checked_in_at"]
    with tenant_context(gym_a):
        row = CheckIn.objects.get(pk=check_in_id)
        assert row.checked_out_by_id == receptionist.pk and row.checked_out_at is not None
    assert client_a.get(OCCUPANCY, **headers).json()["count"] == 0

    again = assert_error(client_a.post(check_out_url(check_in_id), **headers), 409, "already_checked_out")
    assert "Already checked out" in again["message"]
    assert_error(client_a.post(check_out_url(999_999), **headers), 404, "check_in_not_found")
    # Checked out, the member may check in again at once.
    assert post(client_a, {"member": mia.member.pk}, headers).status_code == 201


# --- occupancy -----------------------------------------------------------------------------------


def test_occupancy_for_any_role_here(gym_a: Gym, client_a: Client, gold: Plan, mia: Caller, make_staff) -> None:
    with tenant_context(gym_a):
        for _ in range(3):
            checkin_create(member=active_member(gold, start=gym_local_date(gym_a)).member)

    for headers in (mia.headers, auth(gym_a, make_staff(gym_a, Role.RECEPTIONIST))):
        response = client_a.get(OCCUPANCY, **headers)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"count", "capacity", "level", "as_of"}
        assert (body["count"], body["capacity"]) == (3, gym_a.occupancy_capacity)
        assert body["level"] == occupancy_level(count=3, capacity=gym_a.occupancy_capacity)
        assert datetime.datetime.fromisoformat(body["as_of"]).tzinfo is not None
    assert_error(client_a.get(OCCUPANCY, **auth(gym_a, UserFactory())), 403, "no_gym_access")
    assert_error(client_a.get(OCCUPANCY), 401, "not_authenticated")


def test_occupancy_level_follows_the_gym_capacity(gym_a: Gym, client_a: Client, gold: Plan, mia: Caller) -> None:
    with tenant_context(gym_a):
        Gym.objects.filter(pk=gym_a.pk).update(occupancy_capacity=4)
        for _ in range(4):
            checkin_create(member=active_member(gold, start=gym_local_date(gym_a)).member)

    body = client_a.get(OCCUPANCY, **mia.headers).json()

    assert (body["count"], body["capacity"], body["level"]) == (4, 4, "full")


# --- a day's list --------------------------------------------------------------------------------

JUNE_10 = D(2026, 6, 10)  # British Summer Time: gym-local midnight is 23:00 UTC the day before


def _utc(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def test_list_is_one_gym_local_day_newest_first(gym_a: Gym, client_a: Client, gold: Plan, desk) -> None:
    with tenant_context(gym_a):
        ada = active_member(gold, start=D(2026, 6, 1), member=MemberFactory(first_name="Ada"))
        ben = MemberFactory(first_name="Ben", last_name="Box")
        session = session_at(_utc(2026, 6, 10, 9, 0))
        booking = Booking.objects.create(member=ada.member, session=session, status=Booking.Status.ATTENDED)
        early = CheckIn.objects.create(  # 00:30 London on 10 June
            member=ada.member, membership=ada, method="member_qr", checked_in_at=_utc(2026, 6, 9, 23, 30)
        )
        late = CheckIn.objects.create(
            member=ada.member,
            membership=ada,
            booking=booking,
            method="card_qr",
            checked_in_at=_utc(2026, 6, 10, 8, 50),
            checked_out_at=_utc(2026, 6, 10, 10, 0),
            check_out_kind="manual",
        )
        override = CheckIn.objects.create(member=ben, method="override", checked_in_at=_utc(2026, 6, 10, 12, 0))
        CheckIn.objects.create(  # 00:30 London on 11 June: not listed
            member=ben, method="search", checked_in_at=_utc(2026, 6, 10, 23, 30)
        )
        CheckIn.objects.create(  # 23:30 London on 9 June: not listed
            member=ben, method="search", checked_in_at=_utc(2026, 6, 9, 22, 30)
        )

    response = client_a.get(CHECK_INS, {"date": "2026-06-10"}, **desk)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"} and body["count"] == 3
    assert [row["id"] for row in body["results"]] == [override.pk, late.pk, early.pk]
    newest, middle, oldest = body["results"]
    assert newest == {
        "id": override.pk,
        "member": {"id": ben.pk, "name": "Ben Box"},
        "plan": None,
        "method": "override",
        "checked_in_at": "2026-06-10T12:00:00Z",
        "checked_out_at": None,
        "check_out_kind": "",
        "booking": None,
    }
    assert middle["plan"] == "Gold" and middle["method"] == "card_qr"
    assert middle["checked_out_at"] == "2026-06-10T10:00:00Z" and middle["check_out_kind"] == "manual"
    assert middle["booking"] == {
        "id": booking.pk,
        "class_name": session.gym_class.name,
        "starts_at": "2026-06-10T09:00:00Z",
    }
    assert oldest["checked_in_at"] == "2026-06-09T23:30:00Z"

    paged = client_a.get(CHECK_INS, {"date": "2026-06-10", "page_size": 2, "page": 2}, **desk).json()
    assert [row["id"] for row in paged["results"]] == [early.pk] and paged["previous"]


def test_list_defaults_to_the_gyms_today(gym_a: Gym, client_a: Client, mia: Caller, desk) -> None:
    with tenant_context(gym_a):
        yesterday = CheckIn.objects.create(
            member=mia.member, method="search", checked_in_at=timezone.now() - datetime.timedelta(days=1, hours=1)
        )
    check_in_id = post(client_a, {"member": mia.member.pk}, desk).json()["check_in"]["id"]

    body = client_a.get(CHECK_INS, **desk).json()

    assert [row["id"] for row in body["results"]] == [check_in_id]
    assert yesterday.pk not in [row["id"] for row in body["results"]]


@pytest.mark.parametrize("value", ["10/06/2026", "2026-13-01", "yesterday", "2026-06-10T00:00"])
def test_list_rejects_a_bad_date(client_a: Client, desk, value: str) -> None:
    error = assert_error(client_a.get(CHECK_INS, {"date": value}, **desk), 400, "validation_error")
    assert "date" in error["details"]


def test_list_query_count_is_constant(
    gym_a: Gym, client_a: Client, gold: Plan, desk, django_assert_max_num_queries
) -> None:
    # given a busy day: 80 members with memberships checked in, a third of them for a class
    with tenant_context(gym_a):
        members = Member.objects.bulk_create(
            Member(first_name=f"F{i}", last_name=f"L{i:03d}", email=f"ci{i}@example.test") for i in range(80)
        )
        memberships = Membership.objects.bulk_create(
            Membership(member=m, plan=gold, start_date=D(2026, 6, 1), price=gold.price) for m in members
        )
        sessions = [session_at(_utc(2026, 6, 10, 6 + h, 0)) for h in range(8)]
        bookings = Booking.objects.bulk_create(
            Booking(member=m, session=sessions[i % 8], status=Booking.Status.ATTENDED)
            for i, m in enumerate(members[::3])
        )
        booked = {b.member_id: b for b in bookings}
        CheckIn.objects.bulk_create(
            CheckIn(
                member=m,
                membership=ms,
                booking=booked.get(m.pk),
                method="member_qr",
                checked_in_at=_utc(2026, 6, 10, 6, 0) + datetime.timedelta(minutes=5 * i),
            )
            for i, (m, ms) in enumerate(zip(members, memberships, strict=True))
        )
    client_a.get(CHECK_INS, {"date": "2026-06-10", "page_size": 1}, **desk)  # warm up: first-request imports

    # gym by host, user, role, count, page (member, plan, class joined): each after a
    # SET search_path (TENANT_LIMIT_SET_CALLS is off).
    with django_assert_max_num_queries(10):
        page = client_a.get(CHECK_INS, {"date": "2026-06-10", "page_size": 200}, **desk)
    with django_assert_max_num_queries(10):
        first = client_a.get(CHECK_INS, {"date": "2026-06-10"}, **desk)

    assert page.json()["count"] == 80 and len(page.json()["results"]) == 80
    assert sum(row["booking"] is not None for row in page.json()["results"]) == len(bookings)
    assert all(row["plan"] == "Gold" for row in page.json()["results"])
    assert len(first.json()["results"]) == 50 and first.json()["next"]


# --- tenant isolation ----------------------------------------------------------------------------


def test_gym_b_staff_token_is_refused_on_gym_a(
    gym_a: Gym, gym_b: Gym, client_a: Client, mia: Caller, make_staff
) -> None:
    b_owner = auth(gym_b, make_staff(gym_b, Role.OWNER))
    with tenant_context(gym_a):
        check_in = checkin_create(member=mia.member).check_in
    assert check_in is not None

    assert_error(post(client_a, {"member": mia.member.pk}, b_owner), 401, "token_wrong_gym")
    assert_error(client_a.get(CHECK_INS, **b_owner), 401, "token_wrong_gym")
    assert_error(client_a.post(check_out_url(check_in.pk), **b_owner), 401, "token_wrong_gym")
    assert_error(client_a.get(OCCUPANCY, **b_owner), 401, "token_wrong_gym")
    assert_error(client_a.get(ME_QR, **b_owner), 401, "token_wrong_gym")
    assert [c.pk for c in open_check_ins(gym_a)] == [check_in.pk]


def test_gym_a_ids_and_codes_are_unknown_on_gym_b(
    gym_a: Gym, gym_b: Gym, client_a: Client, client_b: Client, mia: Caller, desk, make_staff
) -> None:
    b_desk = auth(gym_b, make_staff(gym_b, Role.MANAGER))
    qr = client_a.get(ME_QR, **mia.headers).json()["token"]
    check_in_id = post(client_a, {"member": mia.member.pk}, desk).json()["check_in"]["id"]
    with tenant_context(gym_b):
        # No row at gym B may carry gym A's ids by coincidence.
        Member.objects.filter(pk=mia.member.pk).delete()
        CheckIn.objects.filter(pk=check_in_id).delete()

    # gym A's member id and check-in id on gym B's host: not found
    assert_error(post(client_b, {"member": mia.member.pk}, b_desk), 404, "member_not_found")
    override = {"member": mia.member.pk, "override_reason": "Let in"}
    assert_error(post(client_b, override, b_desk), 404, "member_not_found")
    assert_error(client_b.post(check_out_url(check_in_id), **b_desk), 404, "check_in_not_found")
    # gym A's rotating QR scanned at gym B names nobody
    scanned = post(client_b, {"qr": qr}, b_desk)
    assert scanned.status_code == 200
    assert (scanned.json()["code"], scanned.json()["member"]) == ("unknown_code", None)
    assert "another gym" in scanned.json()["message"]
    # gym A's check-ins are never listed or counted at gym B
    assert client_b.get(CHECK_INS, **b_desk).json()["count"] == 0
    assert client_b.get(OCCUPANCY, **b_desk).json()["count"] == 0
    # a member of gym A has no QR at gym B (their token is for A)
    assert_error(client_b.get(ME_QR, **mia.headers), 401, "token_wrong_gym")
    # and gym A's check-in is still open
    assert [c.pk for c in open_check_ins(gym_a)] == [check_in_id]
    with tenant_context(gym_b):
        assert not CheckIn.objects.exists()


# --- schema --------------------------------------------------------------------------------------

OPERATIONS = {
    # 401, 403, 404, 406, 429 come from apps.core.openapi; 409 and 422 on writes from the
    # Idempotency-Key middleware; 304 from conditional GET.
    (CHECK_INS, "get"): ("check_ins_list", {"200", "400", "401", "403", "404", "406", "429"}),
    (CHECK_INS, "post"): (
        "check_ins_create",
        {"200", "201", "400", "401", "403", "404", "406", "409", "415", "422", "429"},
    ),
    ("/api/v1/check-ins/{id}/check-out/", "post"): (
        "check_ins_check_out",
        {"200", "400", "401", "403", "404", "406", "409", "422", "429"},
    ),
    (OCCUPANCY, "get"): ("occupancy_retrieve", {"200", "304", "401", "403", "406", "429"}),
    (ME_QR, "get"): ("me_qr_retrieve", {"200", "401", "403", "406", "429"}),
}


def test_every_front_desk_endpoint_is_in_the_schema(client_a: Client) -> None:
    response = client_a.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    for (path, method), (operation_id, statuses) in OPERATIONS.items():
        operation = schema["paths"][path][method]
        assert operation["operationId"] == operation_id
        assert set(operation["responses"]) == statuses
    components = schema["components"]["schemas"]
    assert set(components["CheckInResult"]["properties"]) == RESULT_KEYS
    assert "PaginatedCheckInListItemList" in components
    list_params = {p["name"] for p in schema["paths"][CHECK_INS]["get"]["parameters"]}
    assert {"date", "page", "page_size"} <= list_params
