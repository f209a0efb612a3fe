"""ETag / If-None-Match on the polled API reads (apps.core.conditional), through the real
API: `me/`, `schedule/` and `occupancy/` send an ETag, `Cache-Control: private,
no-cache` and `Vary: Authorization, Cookie`; a matching If-None-Match is 304 with no
body; the ETag changes when the data does; other paths are untouched; the schema
documents it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.cache import has_vary_header
from django_tenants.utils import tenant_context

from apps.accounts.tests.factories import UserFactory
from apps.bookings.tests.factories import member_on, monthly_plan, session_at
from apps.bookings.tests.test_api_bookings import Caller, gym_today, hours_ahead
from apps.checkins.services import checkin_create
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.members.tests.test_api_members import assert_error, auth
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
SCHEDULE = "/api/v1/schedule/"
OCCUPANCY = "/api/v1/occupancy/"


@pytest.fixture
def mia(gym_a: Gym) -> Caller:
    with tenant_context(gym_a):
        plan = monthly_plan(credits=None)
    return Caller(gym_a, plan, first_name="Mia")


def assert_private_and_varied(response) -> None:
    assert response["Cache-Control"] == "private, no-cache"
    assert has_vary_header(response, "Authorization") and has_vary_header(response, "Cookie")


def assert_not_modified(response, etag: str) -> None:
    assert response.status_code == 304, response.content
    assert response.content == b"" and response["ETag"] == etag
    assert_private_and_varied(response)


@pytest.mark.parametrize("path", [ME, SCHEDULE, OCCUPANCY])
def test_each_read_round_trips_to_304(client_a: Client, mia: Caller, path: str) -> None:
    first = client_a.get(path, **mia.headers)

    assert first.status_code == 200, first.content
    etag = first["ETag"]
    assert etag.strip('W/"') and etag.endswith('"')
    assert_private_and_varied(first)
    assert_not_modified(client_a.get(path, HTTP_IF_NONE_MATCH=etag, **mia.headers), etag)
    # A list of tags, a weak form of the tag, and `*` match too (weak comparison, RFC 9110 13.1.2).
    bare = etag.removeprefix("W/")
    assert client_a.get(path, HTTP_IF_NONE_MATCH=f'"other", W/{bare}', **mia.headers).status_code == 304
    assert client_a.get(path, HTTP_IF_NONE_MATCH="*", **mia.headers).status_code == 304
    stale = client_a.get(path, HTTP_IF_NONE_MATCH='"stale"', **mia.headers)
    assert stale.status_code == 200 and stale["ETag"] == etag
    assert {k: v for k, v in stale.json().items() if k != "as_of"} == {
        k: v for k, v in first.json().items() if k != "as_of"
    }


def test_me_changes_its_etag_when_the_profile_changes(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    etag = client_a.get(ME, **mia.headers)["ETag"]
    assert etag.startswith('"')  # strong: Django's ETag of the body

    with tenant_context(gym_a):
        Member.objects.filter(pk=mia.member.pk).update(first_name="Mira")
    changed = client_a.get(ME, HTTP_IF_NONE_MATCH=etag, **mia.headers)

    assert changed.status_code == 200 and changed.json()["member"]["first_name"] == "Mira"
    assert changed["ETag"] != etag
    # Another caller's answer is another body, so another ETag: their If-None-Match never hits mine.
    ben = Caller(gym_a)
    assert client_a.get(ME, HTTP_IF_NONE_MATCH=changed["ETag"], **ben.headers).status_code == 200


def test_a_booking_changes_the_schedule_etag(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    with tenant_context(gym_a):
        session = session_at(hours_ahead(30), capacity=5)
        ben = Caller(gym_a, monthly_plan(credits=None))
    etag = client_a.get(SCHEDULE, **mia.headers)["ETag"]
    assert_not_modified(client_a.get(SCHEDULE, HTTP_IF_NONE_MATCH=etag, **mia.headers), etag)

    booked = client_a.post("/api/v1/bookings/", {"session": session.pk}, content_type="application/json", **ben.headers)
    assert booked.status_code == 201, booked.content
    after = client_a.get(SCHEDULE, HTTP_IF_NONE_MATCH=etag, **mia.headers)

    assert after.status_code == 200 and after["ETag"] != etag
    row = next(r for r in after.json()["results"] if r["id"] == session.pk)
    assert row["available_spots"] == 4
    assert_not_modified(client_a.get(SCHEDULE, HTTP_IF_NONE_MATCH=after["ETag"], **mia.headers), after["ETag"])


def test_occupancy_etag_is_weak_ignores_as_of_and_follows_the_count(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    first = client_a.get(OCCUPANCY, **mia.headers)
    second = client_a.get(OCCUPANCY, **mia.headers)

    assert first.json()["as_of"] != second.json()["as_of"]  # counted at another instant...
    assert first["ETag"] == second["ETag"] and first["ETag"].startswith('W/"')  # ...same meaning
    assert_not_modified(client_a.get(OCCUPANCY, HTTP_IF_NONE_MATCH=first["ETag"], **mia.headers), first["ETag"])

    with tenant_context(gym_a):
        member = MemberFactory()
        member_on(monthly_plan(credits=None), member=member, start=gym_today(gym_a))
        assert checkin_create(member=member).allowed
    after = client_a.get(OCCUPANCY, HTTP_IF_NONE_MATCH=first["ETag"], **mia.headers)

    assert after.status_code == 200 and after.json()["count"] == first.json()["count"] + 1
    assert after["ETag"] != first["ETag"]


def test_errors_and_other_paths_are_untouched(gym_a: Gym, client_a: Client, mia: Caller) -> None:
    outsider = auth(gym_a, UserFactory())  # no role at this gym
    refused = client_a.get(OCCUPANCY, **outsider)
    assert_error(refused, 403, "no_gym_access")
    assert not refused.has_header("ETag") and refused.get("Cache-Control") != "private, no-cache"
    unauthenticated = client_a.get(ME)
    assert unauthenticated.status_code == 401 and not unauthenticated.has_header("ETag")

    bookings = client_a.get("/api/v1/bookings/", **mia.headers)
    assert bookings.status_code == 200 and not bookings.has_header("ETag")
    qr = client_a.get("/api/v1/me/qr/", **mia.headers)
    assert qr.status_code == 200 and qr["Cache-Control"] == "no-store" and not qr.has_header("ETag")
    # Writes to these paths are not conditional either.
    assert client_a.post(ME, {}, content_type="application/json", **mia.headers).status_code == 405


def test_the_schema_documents_if_none_match_etag_and_304(client_a: Client) -> None:
    paths = client_a.get("/api/schema/", {"format": "json"}).json()["paths"]

    for path in (ME, SCHEDULE, OCCUPANCY):
        operation = paths[path]["get"]
        header = [p for p in operation["parameters"] if p["in"] == "header" and p["name"] == "If-None-Match"]
        assert len(header) == 1 and header[0]["required"] is False, path
        responses = operation["responses"]
        assert responses["200"]["headers"]["ETag"]["required"] is True, path
        assert "content" not in responses["304"] and "ETag" in responses["304"]["headers"], path
    assert "If-None-Match" not in str(paths["/api/v1/bookings/"]["get"].get("parameters", []))
    assert "304" not in paths["/api/v1/bookings/"]["get"]["responses"]
