"""Schemathesis over the whole API schema, as a member and as staff (an owner).

Each operation of the gym host's schema (the one `/api/schema/` serves; a test checks
they are the same) is one test per role, run in-process through Django's WSGI handler
against gym A with the `db` fixture: every request of an operation's examples runs in
that test's transaction, which rolls back, so nothing of the fuzzing reaches other
tests. Gym A is seeded per test (`seeded`) with plans, members, memberships, a class
session, bookings, invoices (open and paid), a check-in, a notification and a push
device, and generated ids and tokens are mapped onto those objects three times in
four (`_point_at_seeded`), so operations act on real objects as well as on missing
ones. Redis throttle and Idempotency-Key records are cleared before each example, so
examples do not answer each other's stored responses.

All of Schemathesis's checks run (its default: not_a_server_error,
status_code_conformance, content_type_conformance, response_headers_conformance,
response_schema_conformance, positive_data_acceptance, negative_data_rejection,
missing_required_header, unsupported_method, use_after_free,
ensure_resource_availability, ignored_auth, ...), plus `documented_error_code`: an
error's `code` is one the operation documents under that status. One setting differs
from the defaults: positive_data_acceptance also expects 400, 402, 410 and 422, the
statuses of business rules a schema cannot express (a freeze in the past, a class
without credits left, a booking's QR after the class, an archived plan); input-shape
errors on schema-valid data are still caught, by `shape_errors_only_for_invalid_input`.

Generation: unknown query parameters are never added (the API ignores them, for
forward compatibility), and the bearer token is always ours (Schemathesis neither
generates nor drops it; `ignored_auth` still sends requests without it).

`FUZZ_EXAMPLES` (default 10) is Hypothesis's `max_examples` per operation and role;
`make fuzz` runs 200. `FUZZ_SEED` (default fixed, so runs repeat) may be `random`. Examples phase (the schema's own request examples), coverage
phase (boundary values, missing fields, wrong types, undeclared methods) and fuzzing
phase all run; the stateful phase needs OpenAPI links, which the schema does not have.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context
from drf_spectacular.settings import spectacular_settings
from hypothesis import HealthCheck, settings

from apps.accounts.tokens import gym_refresh_token_for
from apps.bookings.feeds import member_feed_token
from apps.bookings.services import booking_create
from apps.bookings.tests.factories import monthly_plan, pack_plan, session_at
from apps.checkins.qr import member_rotating_qr_token
from apps.checkins.services import checkin_create
from apps.conftest import _delete_test_keys, host_of
from apps.invoices.models import Invoice
from apps.invoices.services import payment_record
from apps.invoices.tests.factories import monthly
from apps.members.tests.factories import MemberFactory
from apps.members.tests.test_api_members import member_user
from apps.memberships.services import membership_assign
from apps.notifications.preferences import device_register
from apps.notifications.tests.test_preferences import notify
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "10"))
# The same examples on every run (CI must not fail at random); FUZZ_SEED=random, or a
# number, to explore other ones (a failure prints the seed that reproduces it).
_SEED = os.environ.get("FUZZ_SEED", "20260414")
FUZZ_SEED = None if _SEED == "random" else int(_SEED)
APP = WSGIHandler()
CONFIG: dict[str, Any] = {
    **({"seed": FUZZ_SEED} if FUZZ_SEED is not None else {}),
    # Unknown query parameters are ignored (forward compatibility), so negative data never
    # adds any; the bearer token is ours (`_call`), never generated nor left out.
    "generation": {
        "max-examples": FUZZ_EXAMPLES,
        "database": "none",
        "allow-extra-parameters": False,
        "with-security-parameters": False,
    },
    "phases": {"stateful": {"enabled": False}},
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", "400", "401", "402", "403", "404", "409", "410", "422", "429"]
        }
    },
}
# Codes that say the request's shape is wrong: never the answer to schema-valid input,
# except for the cross-field rules listed in SHAPE_RULES_BEYOND_THE_SCHEMA.
SHAPE_CODES = {"validation_error", "parse_error", "unsupported_media_type"}
# Rules OpenAPI 3.0 cannot express (across fields, or a value's meaning): (operation,
# field named in `details`).
SHAPE_RULES_BEYOND_THE_SCHEMA = {
    ("POST /api/v1/memberships/", "member"),  # an id that exists (Invalid pk: validation_error)
    ("POST /api/v1/memberships/", "plan"),
    ("GET /api/v1/memberships/{id}/change-plan/", "plan"),
    ("POST /api/v1/memberships/{id}/change-plan/", "plan"),
    ("POST /api/v1/members/", "email"),  # Django's email check is stricter than JSON Schema's "email" format
    ("PATCH /api/v1/members/{id}/", "email"),
    ("POST /api/v1/members/", "phone"),  # a real phone number (libphonenumber), in the gym's country
    ("POST /api/v1/members/", "emergency_contact_phone"),
    ("PATCH /api/v1/members/{id}/", "phone"),
    ("PATCH /api/v1/members/{id}/", "emergency_contact_phone"),
    ("POST /api/v1/bookings/", "member"),  # staff without a member record must name one
    ("GET /api/v1/credits/", "member"),  # ditto
    ("POST /api/v1/check-ins/", "qr"),  # exactly one of qr and member
    ("POST /api/v1/check-ins/", "member"),
    ("POST /api/v1/memberships/{id}/freeze/", "end_date"),  # exactly one of end_date and days
    ("GET /api/v1/schedule/", "end"),  # end after start
    ("POST /api/v1/invoices/{id}/payments/", "received_on"),  # not after today (gym-local)
}


def _load(urlconf: str) -> Any:
    """The schema `SpectacularAPIView` serves for `urlconf` (generated in-process, at
    collection time, when no database is open; `test_served_schema_is_the_fuzzed_one`
    compares it with the served one)."""
    raw = spectacular_settings.DEFAULT_GENERATOR_CLASS(urlconf=urlconf).get_schema(request=None, public=True)
    GENERATED[urlconf] = json.loads(json.dumps(raw, default=str))  # Schemathesis edits its copy in place
    loaded = schemathesis.openapi.from_dict(raw, config=schemathesis.Config.from_dict(CONFIG))
    loaded.app = APP
    return loaded


GENERATED: dict[str, Any] = {}
gym_schema = _load("fitflow.urls_tenants")
public_schema = _load("fitflow.urls_public")


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """Django's handler closes the database connection when a request ends; the test
    client turns that off, and so must a WSGI call inside the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# --- the gym's data --------------------------------------------------------------------------------


@pytest.fixture
def seeded(gym_a: Gym, make_staff) -> dict[str, Any]:
    """Gym A with a bit of everything, the bearer tokens of Mia (a member) and of an
    owner, and the ids (and tokens) fuzzed values are mapped onto."""
    now = timezone.now()
    with tenant_context(gym_a):
        today = timezone.localdate()
        user, mia = member_user(gym_a, first_name="Mia", last_name="Moss", email="mia@example.test")
        unlimited = monthly(price="45.00", name="Unlimited", show_in_app=True)
        pack = pack_plan(name="Ten classes", show_in_app=True)
        premium = monthly(price="60.00", name="Premium", show_in_app=True)
        archived = monthly_plan(name="Old", is_active=False)
        mia_monthly = membership_assign(member=mia, plan=unlimited, start_date=today)
        mia_pack = membership_assign(member=mia, plan=pack, start_date=today)
        sam = MemberFactory(first_name="Sam", last_name="Lee")
        sam_monthly = membership_assign(member=sam, plan=unlimited, start_date=today - datetime.timedelta(days=40))
        soon = session_at(now + datetime.timedelta(days=1), capacity=2)
        later = session_at(now + datetime.timedelta(days=3), capacity=10, allowed_plans=[pack])
        booking = booking_create(member=mia, session=soon)
        sam_booking = booking_create(member=sam, session=soon)
        open_invoice = Invoice.objects.filter(membership=mia_monthly).order_by("pk").first()
        paid_invoice = Invoice.objects.filter(membership=sam_monthly).order_by("pk").first()
        assert open_invoice is not None and paid_invoice is not None
        payment_record(invoice=paid_invoice, amount=paid_invoice.amount_due, method="cash", reference="seed")
        check_in = checkin_create(member=sam).check_in
        notification = notify(mia, "booking_confirmed", status="sent", channel="push")
        device, _ = device_register(member=mia, token="fcm-seeded-device-token", platform="android")
        owner = make_staff(gym_a, Role.OWNER)
        trainer = make_staff(gym_a, Role.TRAINER)
        mia.user = user
        tokens = {
            "member": str(gym_refresh_token_for(user=user).access_token),
            "staff": str(gym_refresh_token_for(user=owner).access_token),
        }
        ids = {
            "bookings": [booking.pk, sam_booking.pk],
            "check-ins": [check_in.pk] if check_in else [],
            "invoices": [open_invoice.pk, paid_invoice.pk],
            "members": [mia.pk, sam.pk],
            "memberships": [mia_monthly.pk, mia_pack.pk, sam_monthly.pk],
            "notifications": [notification.pk],
            "plans": [unlimited.pk, pack.pk, premium.pk, archived.pk],
            "session": [soon.pk, later.pk],
            "instructor": [trainer.pk],
            "devices": [device.token],
            "feed": [member_feed_token(member=mia)],
            "qr": [member_rotating_qr_token(member=mia, now=now.replace(microsecond=0))],
            "amount": [Decimal("10.00"), open_invoice.amount_due],
        }
    ids["member"], ids["plan"], ids["membership"] = ids["members"], ids["plans"], ids["memberships"]
    return {"host": host_of(gym_a), "tokens": tokens, "ids": ids}


def _mapped(value: Any, choices: list[Any]) -> Any:
    """`value` replaced by one of `choices` three times in four, picked from the value
    itself (so Hypothesis's replay and shrinking see the same request)."""
    if not choices:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return value  # not an id (or an invalid one, which must stay invalid)
    if value % 4 == 3:
        return value
    return choices[value % len(choices)]


def _negative(case: Any, location: str) -> bool:
    """Whether Schemathesis generated this part of the request to break the schema (it
    must stay broken: mapping an invalid id onto a real one would make it valid)."""
    meta = case.meta
    if meta is None:
        return False
    if not meta.components:
        return bool(meta.generation.mode.is_negative)
    return any(loc.value == location and info.mode.is_negative for loc, info in meta.components.items())


def _point_at_seeded(case: Any, ids: dict[str, list[Any]]) -> None:
    """Point generated path ids and tokens, and id-like body and query fields, at the
    seeded objects (`_mapped`), in the parts of the request generated to be valid."""
    path = case.operation.path
    resource = path.removeprefix("/api/v1/").split("/")[0]
    if case.path_parameters and not _negative(case, "path"):
        for name, value in case.path_parameters.items():
            if name == "token":
                kind = "feed" if "/feed/" in path else "devices"
                if isinstance(value, str) and len(value) % 4 != 3:
                    case.path_parameters[name] = ids[kind][0]
            elif resource in ids:
                case.path_parameters[name] = _mapped(value, ids[resource])
    for location, container in (("query", case.query), ("body", case.body)):
        if not isinstance(container, dict) or _negative(case, location):
            continue
        for name, value in list(container.items()):
            if name in ("member", "plan", "membership", "session", "instructor"):
                container[name] = _mapped(value, ids[name])
            elif name == "qr" and isinstance(value, str) and len(value) % 4 != 3:
                container[name] = ids["qr"][0]


# --- the checks of our own ---------------------------------------------------------------------------


def _documented_codes(case: Any, status: int) -> set[str]:
    response = case.operation.definition.raw.get("responses", {}).get(str(status), {})
    return set(re.findall(r"`([a-z0-9_]+)`:", response.get("description", "")))


def documented_error_code(ctx: Any, response: Any, case: Any) -> bool | None:
    """An error's `error.code` is named in the description of the status it came with
    (for the operation's own method: an undeclared one is `unsupported_method`'s)."""
    if response.request.method != case.operation.method.upper():
        return None
    if response.status_code < 400 or "json" not in (response.headers.get("content-type") or [""])[0]:
        return None
    code = json.loads(response.content)["error"]["code"]
    documented = _documented_codes(case, response.status_code)
    assert code in documented, (
        f"{case.operation.label} answered {response.status_code} `{code}`, documented there: {sorted(documented)}"
    )
    return True


def shape_errors_only_for_invalid_input(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schema-valid input is never refused as malformed, except by the cross-field rules
    of SHAPE_RULES_BEYOND_THE_SCHEMA."""
    meta = case.meta
    if meta is None or meta.generation.mode.is_negative or response.status_code != 400:
        return None
    if meta.components and any(info.mode.is_negative for info in meta.components.values()):
        return None
    error = json.loads(response.content)["error"]
    if error["code"] not in SHAPE_CODES:
        return None
    fields = set(error["details"]) if isinstance(error["details"], dict) else set()
    allowed = {field for label, field in SHAPE_RULES_BEYOND_THE_SCHEMA if label == case.operation.label}
    assert fields and fields <= allowed, f"{case.operation.label}: schema-valid input refused with {error}"
    return True


OUR_CHECKS = [documented_error_code, shape_errors_only_for_invalid_input]


def _call(case: Any, seeded: dict[str, Any], role: str) -> None:
    _delete_test_keys()
    _point_at_seeded(case, seeded["ids"])
    case.call_and_validate(
        base_url=f"http://{seeded['host']}",
        headers={"Authorization": f"Bearer {seeded['tokens'][role]}"},
        additional_checks=OUR_CHECKS,
    )


# --- the tests ----------------------------------------------------------------------------------------


@gym_schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_as_member(case: Any, seeded: dict[str, Any]) -> None:
    _call(case, seeded, "member")


@gym_schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_as_staff(case: Any, seeded: dict[str, Any]) -> None:
    _call(case, seeded, "staff")


@public_schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_public_api(case: Any, gym_a: Gym) -> None:
    _delete_test_keys()
    case.call_and_validate(base_url="http://localhost", additional_checks=OUR_CHECKS)


def test_served_schema_is_the_fuzzed_one(client_a: Client, public_client: Client) -> None:
    """What the tests fuzz is what `/api/schema/` serves, on a gym's host and the public one."""
    for client, urlconf in ((client_a, "fitflow.urls_tenants"), (public_client, "fitflow.urls_public")):
        served = client.get("/api/schema/", {"format": "json"})
        assert served.status_code == 200
        assert served.json() == GENERATED[urlconf]


def test_every_operation_is_fuzzed() -> None:
    """Schemathesis reads every operation of both schemas (none skipped as unreadable)."""
    for schema, urlconf in ((gym_schema, "fitflow.urls_tenants"), (public_schema, "fitflow.urls_public")):
        results = list(schema.get_all_operations())
        labels = {result.ok().label for result in results}  # an unreadable operation raises here
        expected = {f"{m.upper()} {p}" for p, item in GENERATED[urlconf]["paths"].items() for m in item}
        assert labels == expected
