"""`GET /api/v1/schedule/`: sessions in a range with spots, `can_book` and the caller's
booking; filters and range errors; ETag / If-None-Match; a query-count guard with 500
sessions; roles and cross-gym isolation."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.bookings.models import Booking
from apps.classes.models import ClassSession, GymClass
from apps.classes.tests.factories import ClassSessionFactory, GymClassFactory
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.members.tests.test_api_members import assert_error, auth, member_user
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

URL = "/api/v1/schedule/"


def tomorrow_at(hour: int) -> datetime.datetime:
    return (timezone.now() + datetime.timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)


def session_at(starts_at: datetime.datetime, **fields: object) -> ClassSession:
    gym_class = fields.pop("gym_class", None) or GymClassFactory()
    return ClassSessionFactory(
        gym_class=gym_class,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=gym_class.duration_minutes),  # type: ignore[attr-defined]
        **fields,
    )


def book(member: Member, session: ClassSession, status: str = Booking.Status.CONFIRMED, **fields) -> Booking:
    return Booking.objects.create(member=member, session=session, status=status, **fields)


@pytest.fixture
def me(gym_a: Gym) -> tuple[dict[str, str], Member]:
    """Bearer headers of a member at gym A with an active unlimited membership."""
    user, member = member_user(gym_a, first_name="Mia")
    with tenant_context(gym_a):
        MembershipFactory(member=member, plan=PlanFactory())
    return auth(gym_a, user), member


def rows(response) -> dict[int, dict]:
    assert response.status_code == 200, response.content
    return {row["id"]: row for row in response.json()["results"]}


def test_member_sees_the_week_with_spots_and_their_booking(gym_a: Gym, client_a: Client, me, make_staff) -> None:
    headers, member = me
    trainer = make_staff(gym_a, Role.TRAINER, first_name="Tess", last_name="Lee")
    with tenant_context(gym_a):
        yoga = GymClassFactory(name="Sunrise Yoga", capacity=3, colour="#123456", location="Studio 1")
        yoga.default_instructor = trainer
        yoga.save()
        booked = session_at(tomorrow_at(7), gym_class=yoga)
        other = session_at(tomorrow_at(9), gym_class=yoga, capacity_override=1)
        cancelled = session_at(tomorrow_at(11), gym_class=yoga, status=ClassSession.Status.CANCELLED)
        past = session_at(timezone.now() - datetime.timedelta(hours=3))
        far = session_at(timezone.now() + datetime.timedelta(days=9))
        mine = book(member, booked)
        book(MemberFactory(), booked)
        book(MemberFactory(), other)
        book(MemberFactory(), other, Booking.Status.WAITLISTED, waitlist_position=1)
        book(MemberFactory(), booked, Booking.Status.CANCELLED)

    response = client_a.get(URL, **headers)

    got = rows(response)
    assert set(got) == {booked.pk, other.pk}
    assert cancelled.pk not in got and past.pk not in got and far.pk not in got
    body = response.json()
    assert body["timezone"] == "Europe/London" and body["start"].endswith("Z") and body["end"].endswith("Z")
    row = got[booked.pk]
    assert row["gym_class"] == {
        "id": yoga.pk,
        "name": "Sunrise Yoga",
        "type": "yoga",
        "difficulty": "all_levels",
        "colour": "#123456",
        "duration_minutes": 60,
        "credits_required": 1,
    }
    assert row["instructor"] == {"id": trainer.pk, "name": "Tess Lee"}
    assert row["location"] == "Studio 1"
    assert row["starts_at"] == booked.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert row["ends_at"] == booked.ends_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (row["total_spots"], row["booked_spots"], row["available_spots"], row["waitlist_count"]) == (3, 2, 1, 0)
    assert row["my_booking"] == {"id": mine.pk, "status": "confirmed", "waitlist_position": None}
    assert row["can_book"] is False and row["waitlist_available"] is False
    full = got[other.pk]
    assert (full["total_spots"], full["available_spots"], full["waitlist_count"]) == (1, 0, 1)
    assert full["waitlist_available"] is True and full["can_book"] is True and full["my_booking"] is None
    assert list(got) == [booked.pk, other.pk]  # in start order


def test_can_book_pre_checks(gym_a: Gym, client_a: Client, make_staff) -> None:
    user, member = member_user(gym_a)
    headers = auth(gym_a, user)
    with tenant_context(gym_a):
        open_session = session_at(tomorrow_at(7))
        later = session_at(timezone.now() + datetime.timedelta(days=8), booking_window_hours=168)
        pack_only = GymClassFactory()
        pack_plan = PlanFactory(name="Pilates pack")
        pack_only.allowed_plans.set([pack_plan])
        restricted = session_at(tomorrow_at(8), gym_class=pack_only)
        waitlisted = session_at(tomorrow_at(9))
        cancelled_before = session_at(tomorrow_at(10))

    def can_book(**params) -> dict[int, bool]:
        return {pk: row["can_book"] for pk, row in rows(client_a.get(URL, params, **headers)).items()}

    # No membership: nothing can be booked.
    assert not any(can_book().values())

    with tenant_context(gym_a):
        membership = MembershipFactory(member=member, plan=PlanFactory())
        book(member, waitlisted, Booking.Status.WAITLISTED, waitlist_position=2)
        book(member, cancelled_before, Booking.Status.CANCELLED)
    flags = can_book()
    assert flags[open_session.pk] is True
    assert flags[restricted.pk] is False  # the plan may not book this class
    assert flags[waitlisted.pk] is False  # already on the waitlist
    assert flags[cancelled_before.pk] is True  # a cancelled booking does not hold the place
    data = rows(client_a.get(URL, **headers))
    assert data[waitlisted.pk]["my_booking"]["waitlist_position"] == 2
    assert data[cancelled_before.pk]["my_booking"]["status"] == "cancelled"  # shown, but it does not hold a place

    # Outside the booking window (8 days ahead, 168 h window): not yet.
    end = (timezone.now() + datetime.timedelta(days=10)).isoformat()
    later_row = rows(client_a.get(URL, {"end": end}, **headers))[later.pk]
    assert later_row["can_book"] is False and later_row["waitlist_available"] is False
    opens = datetime.datetime.fromisoformat(later_row["booking_opens_at"])
    assert opens == later.starts_at - datetime.timedelta(hours=168)

    # A frozen membership does not count; the right plan does.
    with tenant_context(gym_a):
        membership.status = "frozen"
        membership.save()
        MembershipFactory(member=member, plan=pack_plan)
    flags = can_book()
    assert flags[restricted.pk] is True and flags[open_session.pk] is True

    # Staff without a member record: the schedule, but never can_book or my_booking.
    desk = auth(gym_a, make_staff(gym_a, Role.RECEPTIONIST))
    staff_rows = rows(client_a.get(URL, **desk))
    assert staff_rows and not any(r["can_book"] or r["my_booking"] for r in staff_rows.values())


def test_filters_and_range(gym_a: Gym, client_a: Client, me, make_staff) -> None:
    headers, _ = me
    trainer = make_staff(gym_a, Role.TRAINER)
    with tenant_context(gym_a):
        yoga = session_at(tomorrow_at(7), gym_class=GymClassFactory(type=GymClass.Type.YOGA))
        hiit = session_at(tomorrow_at(8), gym_class=GymClassFactory(type=GymClass.Type.HIIT), instructor=trainer)
        taught_by_default = GymClassFactory(type=GymClass.Type.HIIT, default_instructor=trainer)
        default = session_at(tomorrow_at(9), gym_class=taught_by_default)
        next_month = session_at(timezone.now() + datetime.timedelta(days=20))

    assert set(rows(client_a.get(URL, {"type": "yoga"}, **headers))) == {yoga.pk}
    assert set(rows(client_a.get(URL, {"instructor": trainer.pk}, **headers))) == {hiit.pk, default.pk}
    start = (timezone.now() + datetime.timedelta(days=15)).isoformat()
    end = (timezone.now() + datetime.timedelta(days=25)).isoformat()
    assert set(rows(client_a.get(URL, {"start": start, "end": end}, **headers))) == {next_month.pk}
    # A date alone is gym-local midnight.
    day = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    assert {yoga.pk, hiit.pk, default.pk} <= set(rows(client_a.get(URL, {"start": day}, **headers)))

    long_end = (timezone.now() + datetime.timedelta(days=32)).isoformat()
    error = assert_error(client_a.get(URL, {"end": long_end}, **headers), 400, "range_too_long")
    assert error["details"] == {"max_days": 31}
    before = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    assert assert_error(client_a.get(URL, {"end": before}, **headers), 400, "validation_error")["details"] == {
        "end": ["Must be after start."]
    }
    assert_error(client_a.get(URL, {"type": "curling"}, **headers), 400, "validation_error")
    assert_error(client_a.get(URL, {"start": "next tuesday"}, **headers), 400, "validation_error")


def test_etag_304_and_invalidation(gym_a: Gym, client_a: Client, me) -> None:
    headers, member = me
    with tenant_context(gym_a):
        session = session_at(tomorrow_at(7))

    first = client_a.get(URL, **headers)
    etag = first["ETag"]
    assert first.status_code == 200 and etag.startswith('"') and first["Cache-Control"] == "private, no-cache"

    again = client_a.get(URL, HTTP_IF_NONE_MATCH=etag, **headers)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert client_a.get(URL, HTTP_IF_NONE_MATCH=f'"x", W/{etag}', **headers).status_code == 304
    assert client_a.get(URL, HTTP_IF_NONE_MATCH='"stale"', **headers).status_code == 200

    # Someone else books: available_spots changes, and so does the ETag.
    with tenant_context(gym_a):
        book(MemberFactory(), session)
    changed = client_a.get(URL, HTTP_IF_NONE_MATCH=etag, **headers)
    assert changed.status_code == 200 and changed["ETag"] != etag

    # My own booking changes status: a new ETag again.
    with tenant_context(gym_a):
        mine = book(member, session)
    etag2 = client_a.get(URL, **headers)["ETag"]
    with tenant_context(gym_a):
        Booking.objects.filter(pk=mine.pk).update(status=Booking.Status.CANCELLED)
    assert client_a.get(URL, HTTP_IF_NONE_MATCH=etag2, **headers).status_code == 200

    # Another member's view has its own ETag (my_booking differs).
    user, _ = member_user(gym_a)
    other = client_a.get(URL, **auth(gym_a, user))
    assert other["ETag"] != client_a.get(URL, **headers)["ETag"]


def test_query_count_with_500_sessions(gym_a: Gym, client_a: Client, me, django_assert_max_num_queries) -> None:
    headers, member = me
    with tenant_context(gym_a):
        classes = [GymClassFactory(capacity=5) for _ in range(6)]
        classes[0].allowed_plans.set([PlanFactory()])
        base = timezone.now() + datetime.timedelta(hours=1)
        sessions = ClassSession.objects.bulk_create(
            ClassSession(
                gym_class=classes[i % 6],
                starts_at=base + datetime.timedelta(minutes=19 * i),
                ends_at=base + datetime.timedelta(minutes=19 * i + 45),
            )
            for i in range(500)
        )
        others = Member.objects.bulk_create(
            Member(first_name=f"F{i}", last_name=f"L{i}", email=f"sched{i}@example.test") for i in range(20)
        )
        Booking.objects.bulk_create(
            [Booking(member=others[i % 20], session=s, status="confirmed") for i, s in enumerate(sessions[:300])]
            + [Booking(member=member, session=s, status="confirmed") for s in sessions[300:350]]
        )

    # domain, auth user, role (staff role, then member), my member record, sessions with
    # counts, my bookings, my memberships, allowed plans: 9, each after a SET search_path.
    with django_assert_max_num_queries(18):
        response = client_a.get(URL, **headers)

    got = rows(response)
    assert len(got) == 500
    assert sum(1 for r in got.values() if r["my_booking"]) == 50
    assert got[sessions[0].pk]["booked_spots"] == 1


def test_roles_and_isolation(gym_a: Gym, gym_b: Gym, client_a: Client, client_b: Client, me, make_staff) -> None:
    headers, _ = me
    with tenant_context(gym_b):
        b_session = session_at(tomorrow_at(7))

    assert_error(client_a.get(URL), 401, "not_authenticated")
    assert_error(client_b.get(URL, **headers), 401, "token_wrong_gym")  # A's token on B's host
    outsider = make_staff(gym_b, Role.OWNER)
    assert_error(client_a.get(URL, **auth(gym_a, outsider)), 403, "no_gym_access")
    assert b_session.pk not in rows(client_a.get(URL, **headers))
    assert b_session.pk in rows(client_b.get(URL, **auth(gym_b, outsider)))
