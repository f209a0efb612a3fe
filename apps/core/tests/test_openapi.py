"""The OpenAPI schema as a contract: every operation is described, has examples that
match its schemas, and documents every error code it can answer, under the status the
error reference gives it; the shared errors are on every operation; the error reference
covers every code the services and views raise.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from django.conf import settings
from django.test import Client
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.settings import spectacular_settings

from apps.core.api_errors import ERROR_CODES, ErrorResponse, error_responses

pytestmark = pytest.mark.django_db

CODE = re.compile(r"`([a-z0-9_]+)`:")  # "- `code`: meaning" in an error response's description
BINARY = {"image/png", "application/pdf"}
# Codes raised by services but never answered by the API, and why.
NOT_API_CODES = {
    "attendance_not_allowed": "marking attendance is a dashboard action",
    "credits_expired": "credit adjustments are a dashboard action",
    "unlimited_membership": "ditto",
    "booking_not_found": "the booking API looks bookings up itself (404 not_found)",
    "invalid_input": "check-ins: the API's serializer refuses neither/both first (validation_error)",
    "invalid_setting": "messaging settings are a dashboard page",
    "tag_required": "bulk tagging is a dashboard action",
    "import_conflict": "CSV import is a dashboard page",
    "membership_current": "member import",
    "email_required": "app invitations are a dashboard action",
    "login_in_use": "ditto",
    "forged": "QR and feed tokens: the API answers not_found or unknown_code",
    "other_gym": "ditto",
    "revoked": "ditto",
    "not_found": "ditto (in the error reference too)",
}


def _schema(urlconf: str) -> dict[str, Any]:
    return spectacular_settings.DEFAULT_GENERATOR_CLASS(urlconf=urlconf).get_schema(request=None, public=True)


@pytest.fixture(scope="module")
def gym_schema() -> dict[str, Any]:
    return _schema("fitflow.urls_tenants")


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]


def _json_schema(schema: dict[str, Any], node: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: `$ref`s to the document's components,
    `nullable` as a null alternative, formats not checked."""
    if isinstance(node, list):
        return [_json_schema(schema, item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        return _json_schema(schema, schema["components"]["schemas"][name])
    converted = {key: _json_schema(schema, value) for key, value in node.items() if key not in ("nullable", "format")}
    converted.pop("readOnly", None)
    converted.pop("writeOnly", None)
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def _check_example(schema: dict[str, Any], media: dict[str, Any], where: str) -> int:
    examples = media.get("examples") or {}
    for name, example in examples.items():
        errors = list(jsonschema.Draft7Validator(_json_schema(schema, media["schema"])).iter_errors(example["value"]))
        assert not errors, (where, name, [e.message for e in errors])
    return len(examples)


# --- descriptions and examples ---------------------------------------------------------------------


@pytest.mark.parametrize("urlconf", ["fitflow.urls_tenants", "fitflow.urls_public"])
def test_every_operation_has_a_summary_description_and_examples(urlconf: str) -> None:
    schema = _schema(urlconf)
    for path, method, op in _operations(schema):
        where = f"{method.upper()} {path}"
        assert op.get("summary") and op.get("description") and op.get("tags"), where
        body = op.get("requestBody")
        if body:
            assert _check_example(schema, body["content"]["application/json"], where), f"{where}: no request example"
        for status, response in op["responses"].items():
            for media_type, media in response.get("content", {}).items():
                if media_type in BINARY:
                    assert response["description"], (where, status)
                    continue
                if media_type == "application/json":
                    assert _check_example(schema, media, f"{where} {status}"), f"{where} {status}: no example"
                else:
                    assert media.get("examples"), (where, status, media_type)


def test_schema_generates_without_warnings() -> None:
    GENERATOR_STATS.reset()
    _schema("fitflow.urls_tenants")
    _schema("fitflow.urls_public")

    assert not GENERATOR_STATS, (GENERATOR_STATS._warn_cache, GENERATOR_STATS._error_cache)


# --- error responses ----------------------------------------------------------------------------------


def test_every_error_response_names_its_codes_with_the_reference_status(gym_schema: dict[str, Any]) -> None:
    for path, method, op in _operations(gym_schema) + _operations(_schema("fitflow.urls_public")):
        for status, response in op["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            where = f"{method.upper()} {path} {status}"
            media = response["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/ApiError"}, where
            codes = set(CODE.findall(response["description"]))
            assert codes, where
            for code in codes:
                assert code in ERROR_CODES, (where, code)
                assert str(ERROR_CODES[code].status) == status, (where, code)
            shown = {example["value"]["error"]["code"] for example in media["examples"].values()}
            assert codes <= shown, (where, codes - shown)


def test_shared_errors_are_on_every_operation(gym_schema: dict[str, Any]) -> None:
    def codes(op: dict[str, Any], status: str) -> set[str]:
        return set(CODE.findall(op["responses"].get(status, {}).get("description", "")))

    for path, method, op in _operations(gym_schema):
        where = f"{method.upper()} {path}"
        assert "throttled" in codes(op, "429"), where
        assert "gym_suspended" in codes(op, "403"), where
        if op.get("security") and {"gymJWT": []} in op["security"]:
            assert {"token_invalid", "token_expired", "token_wrong_gym"} <= codes(op, "401"), where
        if "{" in path:
            assert "not_found" in codes(op, "404"), where
        if any(p["in"] == "query" for p in op.get("parameters", [])) or op.get("requestBody"):
            assert "validation_error" in codes(op, "400"), where
        if op.get("requestBody"):
            assert {"parse_error"} <= codes(op, "400") and "unsupported_media_type" in codes(op, "415"), where
    members = gym_schema["paths"]["/api/v1/members/"]
    assert "role_too_low" in codes(members["get"], "403")
    assert "role_too_low" not in codes(gym_schema["paths"]["/api/v1/plans/"]["get"], "403")
    assert "role_too_low" in codes(gym_schema["paths"]["/api/v1/plans/"]["post"], "403")
    assert "not_authenticated" not in codes(gym_schema["paths"]["/api/v1/auth/logout/"]["post"], "401")
    assert "Retry-After" in members["get"]["responses"]["429"]["headers"]


def test_endpoint_codes_come_before_the_shared_ones(gym_schema: dict[str, Any]) -> None:
    book = gym_schema["paths"]["/api/v1/bookings/"]["post"]["responses"]
    assert CODE.findall(book["400"]["description"])[:3] == [
        "session_not_bookable",
        "booking_window_closed",
        "validation_error",
    ]
    assert "`field_forbidden`: A member named someone else as `member`." in book["403"]["description"]


def test_error_responses_group_codes_by_their_status() -> None:
    responses = error_responses("class_full", "insufficient_credits", "already_booked", class_full="Full.")
    assert set(responses) == {402, 409}
    assert responses[409].codes == ["class_full", "already_booked"]
    assert "- `class_full`: Full." in responses[409].description
    merged = responses[409].merged(["idempotency_request_in_progress", "class_full"])
    assert merged.codes == ["class_full", "already_booked", "idempotency_request_in_progress"]
    with pytest.raises(AssertionError):
        error_responses("no_such_code")
    with pytest.raises(AssertionError):
        ErrorResponse(400, ["class_full"])  # a 409


def test_the_description_carries_the_error_reference(gym_schema: dict[str, Any]) -> None:
    reference = gym_schema["info"]["description"]
    for code, entry in ERROR_CODES.items():
        assert f"| {entry.status} | `{code}` |" in reference


def test_the_public_host_serves_its_own_schema(public_client: Client, client_a: Client) -> None:
    public = public_client.get("/api/schema/", {"format": "json"}).json()
    gym = client_a.get("/api/schema/", {"format": "json"}).json()

    assert set(public["paths"]) == {"/api/v1/gyms/"}
    assert "/api/v1/gyms/" not in gym["paths"] and "/api/v1/auth/login/" in gym["paths"]
    assert public_client.get("/api/docs/").status_code == 200 and client_a.get("/api/docs/").status_code == 200


# --- the error reference against the code ------------------------------------------------------------


# The errors the API's views catch and answer (the others belong to pages, the platform's
# billing, signup or the gym admin).
API_ERRORS = ("BookingError", "MembershipError", "InvoiceError", "CheckInError", "NotificationError", "PlanError",
              "MemberError", "QrTokenInvalid", "FeedTokenInvalid", "GymAccessDenied", "api_error")  # fmt: skip


def _raised_codes() -> dict[str, set[str]]:
    """Codes in `BookingError("code", ...)` and the like, and in the views'
    `api_error("code", ...)`, with the files that raise them."""
    found: dict[str, set[str]] = {}
    pattern = re.compile(rf"\b(?:{'|'.join(API_ERRORS)})\(\s*\"([a-z_]+)\"")
    for path in Path(settings.BASE_DIR, "apps").rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        for code in pattern.findall(path.read_text()):
            found.setdefault(code, set()).add(str(path.relative_to(settings.BASE_DIR)))
    return found


def test_every_code_the_api_can_raise_is_in_the_reference() -> None:
    for code, files in _raised_codes().items():
        assert code in ERROR_CODES or code in NOT_API_CODES, (code, sorted(files))


def test_the_reference_lists_no_code_nothing_raises(gym_schema: dict[str, Any]) -> None:
    raised = set(_raised_codes())
    documented = {code for _, _, op in _operations(gym_schema) for r in op["responses"].values()
                  for code in CODE.findall(r.get("description", ""))}  # fmt: skip
    # DRF's own codes and the middlewares' are raised outside `...Error("code")` calls.
    framework = {"validation_error", "parse_error", "unsupported_media_type", "not_acceptable", "method_not_allowed",
                 "not_found", "throttled", "server_error", "not_authenticated", "authentication_failed",
                 "token_invalid", "token_expired", "permission_denied", "unknown_gym", "gym_suspended",
                 "idempotency_request_in_progress", "idempotency_key_reused"}  # fmt: skip
    for code in ERROR_CODES:
        assert code in raised or code in framework or code in documented, code


def test_codes_are_snake_case_and_statuses_are_errors() -> None:
    for code, entry in ERROR_CODES.items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", code), code
        assert 400 <= entry.status < 600 and entry.meaning and entry.message, code
        assert entry.details is None or isinstance(entry.details, dict)


def test_the_schema_is_deterministic(gym_schema: dict[str, Any]) -> None:
    again = _schema("fitflow.urls_tenants")
    assert again == copy.deepcopy(gym_schema)
