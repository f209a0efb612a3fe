"""What the API does with input it cannot take: JSON of the wrong type, a body that is
not JSON (or not an object), bad page parameters, empty filters; and the error envelope
of each."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework import serializers

from apps.core.api_input import StrictJsonSerializer, json_type_errors
from apps.members.tests.test_api_members import assert_error, auth
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


class Sample(StrictJsonSerializer):
    name = serializers.CharField()
    count = serializers.IntegerField(required=False)
    flag = serializers.BooleanField(required=False)
    amount = serializers.DecimalField(max_digits=6, decimal_places=2, required=False)
    day = serializers.DateField(required=False)
    kind = serializers.ChoiceField(choices=["a", "b"], required=False)
    tags = serializers.ListField(child=serializers.IntegerField(), required=False)


def test_each_field_takes_only_its_json_type() -> None:
    wrong = Sample(
        data={"name": 12, "count": "3", "flag": 1, "amount": 1.5, "day": 20260101, "kind": 1, "tags": [1, "2"]}
    )

    assert not wrong.is_valid()
    assert wrong.errors == {
        "name": ["Not a valid string."],
        "count": ["A valid integer is required."],
        "flag": ["Must be a valid boolean."],
        "amount": ["Not a valid string."],
        "day": ["Not a valid string."],
        "kind": ["Not a valid string."],
        "tags": {1: ["A valid integer is required."]},
    }
    right = Sample(data={"name": "x", "count": 3, "flag": False, "amount": "1.50", "day": "2026-01-01", "tags": [1]})
    assert right.is_valid(), right.errors
    assert Sample(data={"name": "x", "count": None}).is_valid() is False  # null is left to the field: not allowed


def test_json_type_errors_leaves_unknown_fields_alone() -> None:
    assert json_type_errors(serializers.JSONField(), 12) == []
    assert json_type_errors(serializers.CharField(), None) == []
    assert json_type_errors(serializers.IntegerField(), True) == ["A valid integer is required."]


@pytest.fixture
def owner(gym_a: Gym, make_staff) -> dict[str, str]:
    return auth(gym_a, make_staff(gym_a, Role.OWNER))


def test_wrong_types_in_a_body_are_a_validation_error(client_a: Client, owner: dict[str, str]) -> None:
    response = client_a.post("/api/v1/plans/", {"name": 7, "price": 45}, content_type="application/json", **owner)

    error = assert_error(response, 400, "validation_error")
    assert error["details"] == {"name": ["Not a valid string."], "price": ["Not a valid string."]}
    both = client_a.post("/api/v1/plans/", {"name": 7}, content_type="application/json", **owner)
    assert assert_error(both, 400, "validation_error")["details"] == {
        "name": ["Not a valid string."],
        "price": ["This field is required."],
    }


@pytest.mark.parametrize("body", ["null", "[]", '"text"', "12"])
def test_a_body_that_is_not_an_object_is_a_validation_error(client_a: Client, owner: dict[str, str], body: str) -> None:
    for url in ("/api/v1/members/", "/api/v1/plans/"):
        error = assert_error(
            client_a.post(url, body, content_type="application/json", **owner), 400, "validation_error"
        )
        assert set(error["details"]) == {"non_field_errors"}


def test_only_json_bodies(client_a: Client, owner: dict[str, str]) -> None:
    form = client_a.post("/api/v1/plans/", {"name": "Gold", "price": "9.00"}, **owner)  # multipart
    assert_error(form, 415, "unsupported_media_type")
    broken = client_a.post("/api/v1/plans/", "{", content_type="application/json", **owner)
    assert_error(broken, 400, "parse_error")


@pytest.mark.parametrize(
    "params",
    [{"page": "0"}, {"page": "x"}, {"page": "-1"}, {"page_size": "0"}, {"page_size": "201"}, {"page_size": "ten"}],
)
def test_bad_page_parameters_are_a_validation_error(client_a: Client, owner: dict[str, str], params: dict) -> None:
    error = assert_error(client_a.get("/api/v1/plans/", params, **owner), 400, "validation_error")
    assert set(error["details"]) == set(params)


def test_a_page_past_the_last_is_not_found_and_last_works(client_a: Client, owner: dict[str, str]) -> None:
    assert_error(client_a.get("/api/v1/plans/", {"page": "2"}, **owner), 404, "not_found")
    assert client_a.get("/api/v1/plans/", {"page": "last", "page_size": "200"}, **owner).status_code == 200


def test_an_empty_filter_is_refused_not_ignored(client_a: Client, owner: dict[str, str]) -> None:
    """`?status=` is not a status: 400, rather than every invoice as if it were absent."""
    for url, name in (("/api/v1/invoices/", "status"), ("/api/v1/bookings/", "member"), ("/api/v1/plans/", "kind")):
        error = assert_error(client_a.get(url, {name: ""}, **owner), 400, "validation_error")
        assert set(error["details"]) == {name}
    assert client_a.get("/api/v1/members/", {"q": ""}, **owner).status_code == 200  # a blank search is all


def test_nul_characters_are_refused_not_sent_to_postgresql(
    public_client: Client, client_a: Client, gym_a: Gym, owner: dict[str, str]
) -> None:
    """PostgreSQL refuses NUL in a string; the API answers before asking it (found by the fuzzer)."""
    from apps.members.tests.test_api_members import member_user

    assert_error(public_client.get("/api/v1/gyms/", {"q": "gym\x00"}), 400, "validation_error")
    assert_error(public_client.get("/api/v1/gyms/", {"q": "g" * 81}), 400, "validation_error")
    assert public_client.get("/api/v1/gyms/", {"q": "gym"}).status_code == 200
    user, _ = member_user(gym_a)
    gone = client_a.delete("/api/v1/devices/tok%00en/", **auth(gym_a, user))
    assert_error(gone, 404, "device_not_found")
    assert_error(client_a.get("/api/v1/members/", {"q": "a\x00"}, **owner), 400, "validation_error")


def test_dates_beyond_the_calendar_are_refused_not_overflowed(
    gym_a: Gym, client_a: Client, owner: dict[str, str]
) -> None:
    """A day or a week added to 9999-12-31 overflows Python's dates (500s the fuzzer
    found); dates are taken from 1900 to 2999."""
    from django_tenants.utils import tenant_context

    from apps.bookings.tests.factories import monthly_plan
    from apps.members.tests.factories import MemberFactory

    with tenant_context(gym_a):
        member, plan = MemberFactory(), monthly_plan()
    cases = [
        ("get", "/api/v1/schedule/", {"start": "9999-12-31T00:00:00Z"}, "start"),
        ("get", "/api/v1/check-ins/", {"date": "9999-12-31"}, "date"),
        ("get", "/api/v1/invoices/", {"issued_to": "9999-12-31"}, "issued_to"),
        (
            "post",
            "/api/v1/memberships/",
            {"member": member.pk, "plan": plan.pk, "start_date": "9999-12-31"},
            "start_date",
        ),
        ("post", "/api/v1/members/", {"first_name": "Ada", "date_of_birth": "1850-01-01"}, "date_of_birth"),
    ]
    for method, url, data, field in cases:
        if method == "get":
            response = client_a.get(url, data, **owner)
        else:
            response = client_a.post(url, data, content_type="application/json", **owner)
        assert assert_error(response, 400, "validation_error")["details"] == {field: ["Give a date from 1900 to 2999."]}
    assert client_a.get("/api/v1/schedule/", {"start": "2999-12-31T23:00:00Z"}, **owner).status_code == 200
