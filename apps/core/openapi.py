"""The OpenAPI schema's shared parts: the error responses every operation has, and the
error reference in the schema's description.

`ApiAutoSchema` (REST_FRAMEWORK `DEFAULT_SCHEMA_CLASS`) adds to each operation the
error codes that come from the API's machinery rather than from the endpoint, merged
into the endpoint's own `error_responses` of the same status:
- 400 `validation_error` when the operation takes query parameters or a body, and
  `parse_error` with a body; 415 `unsupported_media_type` with a body (JSON only);
- 401 `not_authenticated` (when a token is required), `authentication_failed`,
  `token_invalid`, `token_expired`, `token_wrong_gym` for bearer-token endpoints;
- 403 `gym_suspended` on a gym's host (`GymTenantMiddleware`), and `no_gym_access` /
  `role_too_low` where `GymRolePermission` checks the role (`role_too_low` only when
  the operation needs more than the member role);
- 404 `not_found` for a path with an id or token, and for a paged list (`page` past
  the last page);
- 406 `not_acceptable` for JSON endpoints (`Accept` without JSON), 429 `throttled`
  (with `Retry-After`) wherever a throttle applies.
So an endpoint's decorator lists only the codes of its own rules.

`ApiSchemaGenerator` (SPECTACULAR_SETTINGS `DEFAULT_GENERATOR_CLASS`) appends the error
reference (`apps.core.api_errors.ERROR_CODES`) to the schema's description.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import is_basic_type, is_serializer
from drf_spectacular.utils import OpenApiResponse
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import AllowAny

from apps.accounts.authentication import GymJWTAuthentication
from apps.core.api_errors import ERROR_CODES, ErrorResponse, error_body, error_reference_markdown
from apps.core.api_input import within_calendar
from apps.staff.access import GymRolePermission
from apps.staff.roles import Role

TOKEN_ERRORS = ["authentication_failed", "token_invalid", "token_expired", "token_wrong_gym"]
RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before retrying.",
    }
}


# Free-text fields (not email, URL, choice...: those have formats or enums of their own).
TEXT_FIELDS = (serializers.CharField, PhoneNumberField)


# `within_calendar`'s years (1900-2999), for the date and date-time strings it checks.
CALENDAR_PATTERN = r"^(?:19|2\d)\d\d-"


def blank_or_text(schema: dict[str, Any]) -> dict[str, Any]:
    """drf-spectacular writes a CharField that may be blank and has a pattern as `oneOf:
    [the text, a string of maxLength 0]`; when the pattern matches "" too, "" matches
    both, and `oneOf` (exactly one) rejects it. Then the text alone says it."""
    alternatives = schema.get("oneOf")
    blank = {"type": "string", "maxLength": 0}
    if not isinstance(alternatives, list) or len(alternatives) != 2 or blank not in alternatives:
        return schema
    text = next(a for a in alternatives if a != blank)
    if "format" in text or text.get("minLength") or not re.search(text.get("pattern", ""), ""):
        return schema  # "" matches only the blank alternative: oneOf is right
    return {**{k: v for k, v in schema.items() if k != "oneOf"}, **text}


# What Python's str.strip() (DRF's trim_whitespace) removes, spelled out: `\s` differs
# between regex engines (ECMA's leaves out \x1c-\x1f and \x85).
STRIPPED = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def text_pattern(field: serializers.CharField) -> str:
    """What DRF's CharField accepts: no NUL character, and, where blank is not allowed,
    something besides whitespace (the field trims it first)."""
    if field.allow_blank or not field.trim_whitespace:
        return r"^[^\x00]*$"
    return rf"^[^\x00]*[^{STRIPPED}\x00][^\x00]*$"


def decimal_pattern(field: serializers.DecimalField) -> str:
    """The pattern of a DecimalField's string: at least one digit before the point (and
    after it, when there is one), no sign when `min_value` is 0 or more, and at most
    `max_value` when that is a power of ten (a percentage). drf-spectacular's own pattern
    also matches "", "-" and "."."""
    places = field.decimal_places or 0
    whole = (field.max_digits - places) if field.max_digits is not None else None
    fraction = rf"(?:\.\d{{1,{places}}})?" if places else ""
    digits = rf"\d{{1,{whole}}}" if whole else r"\d+"
    sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
    maximum = field.max_value
    if sign == "" and maximum is not None and maximum >= 10 and str(int(maximum)).strip("0") == "1":
        zeros = len(str(int(maximum))) - 1
        exact = rf"1{'0' * zeros}(?:\.0{{1,{places}}})?" if places else rf"1{'0' * zeros}"
        return rf"^(?:{exact}|\d{{1,{zeros}}}{fraction})$"
    return rf"^{sign}{digits}{fraction}$"


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema with the shared error responses (module docstring)."""

    def shared_error_codes(self) -> dict[int, list[str]]:
        """The codes the machinery around this operation can answer, by status."""
        view = self.view
        codes: dict[int, list[str]] = defaultdict(list)
        body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        query = any(p.get("in") == "query" for p in self._get_parameters())
        if query or body:
            codes[400].append("validation_error")
        if body:
            codes[400].append("parse_error")
            codes[415].append("unsupported_media_type")

        permissions = view.get_permissions()
        if any(isinstance(a, GymJWTAuthentication) for a in view.get_authenticators()):
            if any(not isinstance(p, AllowAny) for p in permissions):
                codes[401].append("not_authenticated")
            codes[401].extend(TOKEN_ERRORS)
        if getattr(view, "serves_gym_host", True):
            codes[403].append("gym_suspended")
        if any(isinstance(p, GymRolePermission) for p in permissions):
            codes[403].append("no_gym_access")
            if Role(getattr(view, "minimum_role", Role.MEMBER)) != Role.MEMBER:
                codes[403].append("role_too_low")

        paged = self.method == "GET" and getattr(view, "pagination_class", None) is not None
        if "{" in self.path or paged:
            codes[404].append("not_found")
        if isinstance(view.get_content_negotiator(), DefaultContentNegotiation):
            codes[406].append("not_acceptable")
        if view.get_throttles():
            codes[429].append("throttled")
        return codes

    def _default_status(self) -> int:
        if self.method == "DELETE":
            return 204
        return 201 if self._is_create_operation() else 200

    def _responses_with_shared_errors(self) -> dict[Any, Any] | None:
        """The operation's responses as a status map, with `shared_error_codes` merged
        into its `ErrorResponse`s; None when drf-spectacular could not read them."""
        declared = self.get_response_serializers()
        responses: dict[Any, Any]
        if isinstance(declared, dict):
            responses = dict(declared)
        elif is_serializer(declared) or is_basic_type(declared) or isinstance(declared, OpenApiResponse):
            responses = {self._default_status(): None if self.method == "DELETE" else declared}
        else:
            return None
        by_status = {str(key[0] if isinstance(key, tuple) else key): key for key in responses}
        for status, codes in self.shared_error_codes().items():
            key = by_status.get(str(status))
            existing = responses.get(key) if key is not None else None
            if key is None:
                responses[status] = ErrorResponse(status, codes)
            elif isinstance(existing, ErrorResponse):
                # the endpoint's own codes first, then the shared ones
                responses[key] = existing.merged(codes)
        return responses

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = self._responses_with_shared_errors()
        if responses is None:
            return dict(super()._get_response_bodies(direction))
        bodies: dict[str, Any] = {}
        for key, serializer in responses.items():
            if isinstance(key, tuple):
                code, media_types = str(key[0]), key[1:]
            else:
                code, media_types = str(key), None
            body = self._get_response_for_code(serializer, code, media_types, direction)
            if code in bodies:
                bodies[code]["content"].update(body["content"])
            else:
                bodies[code] = body
        return bodies

    def _map_serializer_field(self, field: Any, direction: Any, bypass_extensions: bool = False) -> dict[str, Any]:
        schema = dict(super()._map_serializer_field(field, direction, bypass_extensions))
        if isinstance(field, serializers.DecimalField) and "pattern" in schema:
            schema["pattern"] = decimal_pattern(field)
        elif within_calendar in getattr(field, "validators", []):
            schema["pattern"] = CALENDAR_PATTERN
        elif direction == "request" and type(field) in TEXT_FIELDS and "pattern" not in schema:
            schema["pattern"] = text_pattern(field)
        return schema

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)
        flattened = blank_or_text(schema)
        if flattened is not schema:
            schema.clear()
            schema.update(flattened)

    def _get_response_headers_for_code(self, status_code: str, direction: Any = "response") -> dict[str, Any]:
        headers = dict(super()._get_response_headers_for_code(status_code, direction))
        if str(status_code) == "429":
            headers.update(RETRY_AFTER)
        return headers


def code_list(description: str) -> str:
    """An error response's description as one `- `code`: meaning` line per code, also
    for sentences a postprocessing hook appended to it (Idempotency-Key's)."""
    lines = re.sub(r"(?<=[.!?)]) +(`[a-z0-9_]+`:)", r"\n\1", description.strip()).split("\n")
    return "\n".join(line if line.startswith("- ") or not line.startswith("`") else f"- {line}" for line in lines)


def add_error_examples(status: str, response: dict[str, Any]) -> None:
    """An example for each code a JSON error response names (`code` in backticks) and
    has none for, from the error reference: responses that postprocessing hooks add or
    extend (Idempotency-Key's) get theirs too."""
    media = response.get("content", {}).get("application/json")
    if not status.startswith(("4", "5")) or media is None:
        return
    examples = media.setdefault("examples", {})
    shown = {example.get("value", {}).get("error", {}).get("code") for example in examples.values()}
    for code in dict.fromkeys(re.findall(r"`([a-z0-9_]+)`:", response.get("description", ""))):
        entry = ERROR_CODES.get(code)
        if entry is None or str(entry.status) != status or code in shown:
            continue
        examples[camelize(code)] = {"value": error_body(code, entry.message, entry.details), "summary": code}
    if not examples:
        del media["examples"]


def camelize(code: str) -> str:
    """`no_gym_access` -> `NoGymAccess`, the example keys drf-spectacular makes."""
    return "".join(part.capitalize() for part in code.split("_"))


class ApiSchemaGenerator(SchemaGenerator):
    """drf-spectacular's generator: the host's own endpoints (django-tenants gives the public
    host `PUBLIC_SCHEMA_URLCONF` through `request.urlconf`, which the schema view would
    otherwise ignore for ROOT_URLCONF, the gyms' one), and a description that ends with
    the error reference."""

    def get_schema(self, request: Any = None, public: bool = False) -> dict[str, Any]:
        if self.urlconf is None and getattr(request, "urlconf", None):
            self.urlconf = request.urlconf
        schema: dict[str, Any] = super().get_schema(request=request, public=public)
        for item in schema.get("paths", {}).values():
            for operation in item.values():
                responses = operation.get("responses", {})
                for status, response in responses.items():
                    if str(status).startswith(("4", "5")) and "description" in response:
                        response["description"] = code_list(response["description"])
                    add_error_examples(str(status), response)
                operation["responses"] = dict(sorted(responses.items(), key=lambda item: str(item[0])))
        info = schema.setdefault("info", {})
        info["description"] = (
            f"{info.get('description', '')}\n\n"
            "## Errors\n\n"
            'Every error answers `{"error": {"code", "message", "details"}}`. `code` is stable snake_case '
            "(switch on it); `message` is a sentence for people; `details` maps input fields to their "
            "messages for 400s and carries code-specific data otherwise. Each operation lists the codes it "
            "can answer under each status. All codes:\n\n"
            f"{error_reference_markdown()}"
        ).strip()
        return schema
