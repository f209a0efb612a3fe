"""iCalendar feeds: the public timetable (`schedule.ics`) and a member's private feed
(`bookings/feed-url/` -> `bookings/feed/<token>.ics`). Both parse back with
`icalendar`, hold the right sessions at the right UTC times with stable UIDs, and
keep to their audience; the member token is refused on another gym, when forged and
after a password change."""

from __future__ import annotations

import datetime

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context
from icalendar import Calendar

from apps.bookings.feeds import FEED_SALT, member_feed_token
from apps.bookings.models import Booking
from apps.bookings.services import booking_cancel, booking_create
from apps.classes.models import ClassSession, GymClass
from apps.members.models import Member
from apps.members.tests.test_api_members import assert_error, auth
from apps.staff.roles import Role
from apps.tenants.models import Gym

from .factories import monthly_plan, session_at
from .test_api_bookings import Caller, hours_ahead

pytestmark = pytest.mark.django_db


def events(response) -> dict[str, dict]:
    """The VEVENTs of an .ics answer by UID: summary, start, end, status, description."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(response.content)
    return {
        str(e["uid"]): {
            "summary": str(e["summary"]),
            "start": e.decoded("dtstart"),
            "end": e.decoded("dtend"),
            "status": str(e.get("status", "")),
            "description": str(e.get("description", "")),
            "location": str(e.get("location", "")),
        }
        for e in calendar.walk("VEVENT")
    }


# --- the public timetable ------------------------------------------------------------------


def test_public_timetable(gym_a: Gym, client_a: Client, make_staff) -> None:
    trainer = make_staff(gym_a, Role.TRAINER, first_name="Tess", last_name="Lee", email="tess@example.test")
    with tenant_context(gym_a):
        yoga = session_at(hours_ahead(30))
        GymClass.objects.filter(pk=yoga.gym_class_id).update(
            name="Sunrise Yoga", location="Studio 1", default_instructor=trainer
        )
        hiit = session_at(hours_ahead(50))
        GymClass.objects.filter(pk=hiit.gym_class_id).update(type=GymClass.Type.HIIT)
        cancelled = session_at(hours_ahead(40), status=ClassSession.Status.CANCELLED)
        too_far = session_at(hours_ahead(24 * 60))
        member = Caller(gym_a, monthly_plan(), first_name="Zed", last_name="Zimmer")
        booking_create(member=member.member, session=yoga)

    response = client_a.get("/api/v1/schedule.ics")  # no login

    got = events(response)
    uid = f"session-{yoga.pk}.{gym_a.schema_name}@fitflow"
    assert set(got) == {uid, f"session-{hiit.pk}.{gym_a.schema_name}@fitflow"}
    assert f"session-{cancelled.pk}" not in response.content.decode()
    assert f"session-{too_far.pk}" not in response.content.decode()
    event = got[uid]
    assert event["summary"] == "Sunrise Yoga" and event["location"] == "Studio 1"
    assert event["start"] == yoga.starts_at and event["start"].utcoffset() == datetime.timedelta(0)
    assert event["end"] == yoga.ends_at
    assert "Instructor: Tess Lee" in event["description"] and event["status"] == "CONFIRMED"
    text = response.content.decode()
    assert "DTSTART:" in text and text.count("Z\r\n") >= 4  # UTC times
    assert "X-WR-TIMEZONE:Europe/London" in text
    # Never a member, never a staff email.
    assert "Zimmer" not in text and "tess@example.test" not in text

    # Filters, and the ETag.
    assert set(events(client_a.get("/api/v1/schedule.ics", {"type": "hiit"}))) == {
        f"session-{hiit.pk}.{gym_a.schema_name}@fitflow"
    }
    assert client_a.get("/api/v1/schedule.ics", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    # The same timetable renders the same bytes (stable DTSTAMP and UIDs).
    assert client_a.get("/api/v1/schedule.ics").content == response.content
    # A calendar app's Accept header, and a stale bearer token, are both fine.
    assert client_a.get("/api/v1/schedule.ics", HTTP_ACCEPT="text/calendar").status_code == 200
    assert client_a.get("/api/v1/schedule.ics", HTTP_AUTHORIZATION="Bearer nonsense").status_code == 200
    assert_error(client_a.get("/api/v1/schedule.ics", {"type": "curling"}), 400, "validation_error")


def test_public_timetable_is_per_gym(gym_a: Gym, gym_b: Gym, client_a: Client, client_b: Client) -> None:
    with tenant_context(gym_b):
        b_session = session_at(hours_ahead(30))
    a_uids = set(events(client_a.get("/api/v1/schedule.ics")))
    b_uids = set(events(client_b.get("/api/v1/schedule.ics")))

    assert f"session-{b_session.pk}.{gym_b.schema_name}@fitflow" in b_uids
    assert not any(gym_b.schema_name in uid for uid in a_uids)


# --- the member's private feed --------------------------------------------------------------


def test_member_feed(gym_a: Gym, client_a: Client) -> None:
    with tenant_context(gym_a):
        plan = monthly_plan()
    ann, ben = Caller(gym_a, plan), Caller(gym_a, plan)
    with tenant_context(gym_a):
        full = session_at(hours_ahead(30), capacity=1)
        confirmed = booking_create(member=ann.member, session=session_at(hours_ahead(50)))
        booking_create(member=ben.member, session=full)
        waitlisted = booking_create(member=ann.member, session=full, join_waitlist=True)
        dropped = booking_create(member=ann.member, session=session_at(hours_ahead(70)))
        booking_cancel(booking=dropped)
        old = session_at(hours_ahead(-48))
        attended = Booking.objects.create(member=ann.member, session=old, status=Booking.Status.ATTENDED)
        ancient = session_at(hours_ahead(-24 * 90))
        Booking.objects.create(member=ann.member, session=ancient, status=Booking.Status.ATTENDED)
        bens = Booking.objects.get(member=ben.member)

    link = client_a.get("/api/v1/bookings/feed-url/", **ann.headers)
    assert link.status_code == 200
    url = link.json()["url"]
    assert url.startswith("http://gym-a.localhost/api/v1/bookings/feed/") and url.endswith(".ics")
    assert link.json()["webcal_url"] == "webcal://" + url.split("://", 1)[1]
    # The link is stable (calendar apps keep one URL).
    assert client_a.get("/api/v1/bookings/feed-url/", **ann.headers).json()["url"] == url

    response = Client(HTTP_HOST="gym-a.localhost").get(url.split("gym-a.localhost", 1)[1])  # no login

    got = events(response)
    schema = gym_a.schema_name
    assert set(got) == {
        f"booking-{confirmed.pk}.{schema}@fitflow",
        f"booking-{waitlisted.pk}.{schema}@fitflow",
        f"booking-{attended.pk}.{schema}@fitflow",
    }
    first = got[f"booking-{confirmed.pk}.{schema}@fitflow"]
    assert first["status"] == "CONFIRMED" and first["start"] == confirmed.session.starts_at
    wait = got[f"booking-{waitlisted.pk}.{schema}@fitflow"]
    assert wait["status"] == "TENTATIVE" and "(waitlist #1)" in wait["summary"]
    assert f"booking-{bens.pk}." not in response.content.decode()
    assert "X-WR-CALNAME:My classes at Gym A" in response.content.decode()
    assert response["Cache-Control"] == "private, max-age=900"
    assert (
        Client(HTTP_HOST="gym-a.localhost")
        .get(url.split("gym-a.localhost", 1)[1], HTTP_IF_NONE_MATCH=response["ETag"])
        .status_code
        == 304
    )

    # A session the gym cancels shows as cancelled until the booking drops out.
    with tenant_context(gym_a):
        ClassSession.objects.filter(pk=confirmed.session_id).update(status=ClassSession.Status.CANCELLED)
    again = events(Client(HTTP_HOST="gym-a.localhost").get(url.split("gym-a.localhost", 1)[1]))
    assert again[f"booking-{confirmed.pk}.{schema}@fitflow"]["status"] == "CANCELLED"


def test_member_feed_token_refusals(gym_a: Gym, gym_b: Gym, client_a: Client, client_b: Client, make_staff) -> None:
    with tenant_context(gym_a):
        plan = monthly_plan()
    ann = Caller(gym_a, plan)
    path = client_a.get("/api/v1/bookings/feed-url/", **ann.headers).json()["url"].split("localhost", 1)[1]
    token = path.removeprefix("/api/v1/bookings/feed/").removesuffix(".ics")
    assert client_a.get(path).status_code == 200

    # Forged: an edited signature, or a made-up token.
    assert_error(client_a.get(path.replace(token, token[:-2] + "xx")), 404, "not_found")
    assert_error(client_a.get("/api/v1/bookings/feed/hello.ics"), 404, "not_found")
    # Another gym's host.
    assert_error(client_b.get(path), 404, "not_found")
    # A payload signed without the member's key (another member's id).
    with tenant_context(gym_a):
        other = Caller(gym_a, plan)
        guessed = signing.dumps({"g": gym_a.schema_name, "m": other.member.pk, "k": "0" * 20}, salt=FEED_SALT)
    assert_error(client_a.get(f"/api/v1/bookings/feed/{guessed}.ics"), 404, "not_found")
    # Revoked: a new password retires every earlier link.
    ann.user.set_password("a new password 123")
    ann.user.save()
    assert_error(client_a.get(path), 404, "not_found")
    new_path = client_a.get("/api/v1/bookings/feed-url/", **ann.headers).json()["url"].split("localhost", 1)[1]
    assert new_path != path and client_a.get(new_path).status_code == 200
    # Erased members have no feed.
    with tenant_context(gym_a):
        Member.objects.filter(pk=ann.member.pk).update(status=Member.Status.ERASED)
    assert_error(client_a.get(new_path), 404, "not_found")

    # Staff without a member record have no feed URL; B's token is refused at A.
    assert_error(
        client_a.get("/api/v1/bookings/feed-url/", **auth(gym_a, make_staff(gym_a, Role.OWNER))), 403, "not_a_member"
    )
    with tenant_context(gym_b):
        b_member = Caller(gym_b, monthly_plan())
        with tenant_context(gym_b):
            b_token = member_feed_token(member=Member.objects.select_related("user").get(pk=b_member.member.pk))
    assert_error(client_a.get(f"/api/v1/bookings/feed/{b_token}.ics"), 404, "not_found")
    assert client_b.get(f"/api/v1/bookings/feed/{b_token}.ics").status_code == 200
    assert_error(client_b.get("/api/v1/bookings/feed-url/", **ann.headers), 401, "token_wrong_gym")


def test_feed_query_count(gym_a: Gym, client_a: Client, django_assert_max_num_queries) -> None:
    with tenant_context(gym_a):
        plan = monthly_plan()
    ann = Caller(gym_a, plan)
    with tenant_context(gym_a):
        for i in range(30):
            booking_create(member=ann.member, session=session_at(hours_ahead(3 + 3 * i)))
        for i in range(30):
            session_at(timezone.now() + datetime.timedelta(days=1, hours=i))
    path = client_a.get("/api/v1/bookings/feed-url/", **ann.headers).json()["url"].split("localhost", 1)[1]

    # domain, member (+ user), bookings: each after a SET search_path.
    with django_assert_max_num_queries(8):
        assert len(events(client_a.get(path))) == 30
    # domain, sessions.
    with django_assert_max_num_queries(6):
        assert len(events(client_a.get("/api/v1/schedule.ics"))) == 60
