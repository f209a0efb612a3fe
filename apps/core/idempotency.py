"""`Idempotency-Key` on the API's writes: a retried POST, PUT, PATCH or DELETE does its
work once and gets the first answer again.

The rules follow Stripe (https://docs.stripe.com/api/idempotent_requests) and the IETF
draft "The Idempotency-Key HTTP Header Field" (draft-ietf-httpapi-idempotency-key-header,
https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/):

- The header is optional; without it a request runs as always. A key is 1 to 255 visible
  ASCII characters (Stripe: "up to 255 characters"; a V4 UUID is a good key). Anything else
  is 400 `validation_error` with `details: {"Idempotency-Key": [...]}`.
- The first response to a key is stored for 24 hours from when it was given (Stripe prunes
  keys "at least 24 hours old"): status, body and `Content-Type` (plus `Location` and
  `Content-Disposition`, the other headers that describe the result). A retry with the
  same key and the same request (method, path with query string, and body) gets that
  response again, marked `Idempotent-Replayed: true`; the view does not run again.
- The same key with a different request is 422 `idempotency_key_reused` (IETF draft,
  "Error Scenarios": 422 for a key reused with a different payload).
- A retry while the first request is still running is 409
  `idempotency_request_in_progress` (IETF draft: 409 for a concurrent request; Stripe
  does the same).
- 5xx answers are not stored: the claim is dropped and a retry runs the view again (an
  error there means our side failed, and a rolled-back transaction did nothing to
  replay). 429 is not stored either: a throttled request never reached the endpoint
  (Stripe saves results "only after the execution of an endpoint begins"). Every other
  4xx is stored, as Stripe does: the same request would be refused the same way.

Scope. A key is scoped to the gym (the schema) and to the caller, so one gym's or one
user's key never replays another's response, and a key reused by someone else is not
an error for them (it is their own key):
- An authenticated caller (the view's own DRF authenticators accept the request) is
  scoped by user id: a retry after the app refreshed its access token still replays.
- An anonymous caller (`auth/login/`, `auth/refresh/`, any request without a token) is
  scoped by the key *and* the request fingerprint. Anyone who can hit that entry has sent
  byte-identical credentials, so a replay tells them nothing they could not get by
  running the request; the price is that an anonymous key reused with a different body is
  a new request, not 422 (answering 422 would tell a stranger that somebody used the key).
- A request whose credentials fail (expired or other-gym token) is not handled here: the
  view answers 401 as usual and nothing is claimed.

Storage. Redis through Django's default cache (`CACHES`), whose key function already
prefixes the schema (django-tenants #1052); the schema is also written into our own key,
so scoping never rests on the connection state alone. The claim is one atomic
`cache.add` (Redis `SET NX EX`) holding an in-progress record for `CLAIM_TTL_SECONDS`,
longer than gunicorn's 60 s worker timeout (docker/Dockerfile), so a crashed request
frees its key. The finished record replaces it with a 24 h TTL: Redis expires it, no
sweep job, no table in every gym schema. Losing the cache only means a retry runs
again, as if it had no key. Only a SHA-256 of the request is kept, never its body
(which may carry a password).

The middleware runs for paths under `/api/` that resolve to a DRF `APIView`; a request
that matches no view, or a body too large to read into memory
(`DATA_UPLOAD_MAX_MEMORY_SIZE`), passes through untouched. Streaming responses are not
stored (the claim is dropped).
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.core.api_errors import error_body, is_api_request

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_MAX_LENGTH = 255
# Visible ASCII (0x21-0x7E), 1 to 255 characters: what the schema documents.
KEY_PATTERN = r"^[!-~]{1,255}$"
_KEY_RE = re.compile(KEY_PATTERN)
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
RESULT_TTL_SECONDS = 24 * 60 * 60
CLAIM_TTL_SECONDS = 120
# Besides the body and its Content-Type, the headers that are part of the result.
STORED_HEADERS = ("Content-Type", "Location", "Content-Disposition", "Content-Language")

KEY_INVALID = "validation_error"
KEY_REUSED = "idempotency_key_reused"
IN_PROGRESS = "idempotency_request_in_progress"

_IN_PROGRESS_STATE = "in_progress"
_DONE_STATE = "done"


@dataclass(frozen=True)
class StoredResponse:
    """A record in the cache: `state` is "in_progress" (a claim) or "done" (the first
    response). `fingerprint` is the SHA-256 hex of the request (`request_fingerprint`).
    For "done": `status` (HTTP code), `content` (body bytes), `headers` (the
    `STORED_HEADERS` it had) and `expires_at` (tz-aware UTC, 24 h after it was stored).
    Kept in the cache as a plain dict (`as_cached`), so a deploy that changes this class
    still reads the records written before it."""

    state: str
    fingerprint: str
    status: int = 0
    content: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    expires_at: datetime.datetime | None = None

    @property
    def in_progress(self) -> bool:
        return self.state == _IN_PROGRESS_STATE

    def as_cached(self) -> dict[str, Any]:
        """The record as the dict stored in the cache."""
        return {
            "state": self.state,
            "fingerprint": self.fingerprint,
            "status": self.status,
            "content": self.content,
            "headers": [list(pair) for pair in self.headers],
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }

    @classmethod
    def from_cached(cls, data: Any) -> StoredResponse | None:
        """The record from a cached dict; None for anything else."""
        if not isinstance(data, dict) or "state" not in data or "fingerprint" not in data:
            return None
        expires_at = data.get("expires_at")
        return cls(
            state=data["state"],
            fingerprint=data["fingerprint"],
            status=int(data.get("status") or 0),
            content=bytes(data.get("content") or b""),
            headers=tuple((str(name), str(value)) for name, value in data.get("headers") or ()),
            expires_at=datetime.datetime.fromisoformat(expires_at) if expires_at else None,
        )

    def as_response(self) -> HttpResponse:
        """The stored response again, with `Idempotent-Replayed: true`."""
        response = HttpResponse(self.content, status=self.status)
        for name, value in self.headers:
            response[name] = value
        response[REPLAYED_HEADER] = "true"
        return response


def request_fingerprint(request: HttpRequest) -> str:
    """SHA-256 hex of what makes two requests the same: method, path with query string
    and the raw body bytes. Reads `request.body` (Django keeps it, so the view can
    still parse it). Raises `RequestDataTooBig` past `DATA_UPLOAD_MAX_MEMORY_SIZE`."""
    digest = hashlib.sha256()
    digest.update((request.method or "").encode())
    digest.update(b"\n")
    digest.update(request.get_full_path().encode())
    digest.update(b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def idempotency_cache_key(*, schema_name: str, caller: str, key: str) -> str:
    """The cache key of `key` sent by `caller` at the gym `schema_name`.

    `caller` is `"user:<id>"` for an authenticated user or `"anon:<fingerprint>"` (see
    the module docstring). The client's key is hashed, so any visible ASCII is safe in
    the cache key and its length is bounded. The cache's key function adds the schema
    and the deployment prefix in front.
    """
    hashed = hashlib.sha256(key.encode()).hexdigest()
    return f"idempotency:{schema_name}:{caller}:{hashed}"


def idempotency_claim(*, cache_key: str, fingerprint: str) -> StoredResponse | None:
    """Claim `cache_key` for a request with `fingerprint`: None when this caller now holds
    it (an in-progress record for `CLAIM_TTL_SECONDS`), else the record already there (a
    claim still running, or the finished response). Atomic: one `SET NX EX` in Redis."""
    claim = StoredResponse(state=_IN_PROGRESS_STATE, fingerprint=fingerprint).as_cached()
    for _ in range(3):
        if cache.add(cache_key, claim, timeout=CLAIM_TTL_SECONDS):
            return None
        existing = StoredResponse.from_cached(cache.get(cache_key))
        if existing is not None:
            return existing
        # It expired (or was released) between the two calls: claim again.
    raise RuntimeError(f"could not claim or read idempotency key {cache_key}")


def idempotency_release(*, cache_key: str) -> None:
    """Drop a claim without storing a result, so a retry runs the request again."""
    cache.delete(cache_key)


def idempotency_store(*, cache_key: str, fingerprint: str, response: HttpResponse) -> StoredResponse:
    """Store `response` (already rendered) as the result of `cache_key` for
    `RESULT_TTL_SECONDS` (24 h) and return the record."""
    record = StoredResponse(
        state=_DONE_STATE,
        fingerprint=fingerprint,
        status=response.status_code,
        content=response.content,
        headers=tuple((name, response[name]) for name in STORED_HEADERS if response.has_header(name)),
        expires_at=timezone.now() + datetime.timedelta(seconds=RESULT_TTL_SECONDS),
    )
    cache.set(cache_key, record.as_cached(), timeout=RESULT_TTL_SECONDS)
    return record


def response_is_stored(status_code: int) -> bool:
    """Whether a response with `status_code` becomes the key's result: not 5xx (the
    retry should run again) and not 429 (a throttled request never ran)."""
    return status_code < 500 and status_code != 429


def _error(status: int, code: str, message: str, details: Any = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


_ANONYMOUS = "anonymous"


def _api_caller(request: HttpRequest) -> str | None:
    """`"user:<id>"` when the view's own DRF authenticators accept the request,
    `_ANONYMOUS` when the view has none or the request carries no credentials, and None
    when the request is not for a DRF view or its credentials fail (the view answers)."""
    try:
        match = resolve(request.path_info, urlconf=getattr(request, "urlconf", None))
    except Resolver404:
        return None
    view_class = getattr(match.func, "view_class", None)
    if not (isinstance(view_class, type) and issubclass(view_class, APIView)):
        return None
    view = view_class(**getattr(match.func, "view_initkwargs", {}))
    drf_request = Request(request)
    try:
        for authenticator in view.get_authenticators():
            result = authenticator.authenticate(drf_request)
            if result is not None:
                return f"user:{result[0].pk}"
    except exceptions.APIException:
        return None
    return _ANONYMOUS


class IdempotencyMiddleware:
    """Honours `Idempotency-Key` on POST, PUT, PATCH and DELETE under `/api/` (module
    docstring). Goes after `AuthenticationMiddleware` in MIDDLEWARE (it runs the view's
    DRF authenticators itself, since DRF authenticates inside the view)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        key = request.headers.get(HEADER)
        if key is None or request.method not in METHODS or not is_api_request(request):
            return self.get_response(request)
        caller = _api_caller(request)
        if caller is None:
            return self.get_response(request)
        if not _KEY_RE.match(key):
            return _error(
                400,
                KEY_INVALID,
                "Some fields are not valid.",
                {HEADER: [f"Use 1 to {KEY_MAX_LENGTH} visible ASCII characters (a V4 UUID is a good key)."]},
            )
        try:
            fingerprint = request_fingerprint(request)
        except RequestDataTooBig:
            return self.get_response(request)
        if caller == _ANONYMOUS:
            caller = f"anon:{fingerprint}"
        schema_name: str = connection.schema_name  # type: ignore[attr-defined]  # django-tenants
        cache_key = idempotency_cache_key(schema_name=schema_name, caller=caller, key=key)

        existing = idempotency_claim(cache_key=cache_key, fingerprint=fingerprint)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                return _error(
                    422,
                    KEY_REUSED,
                    "This Idempotency-Key was already used for a different request (method, path or body); "
                    "use a new key for a new request.",
                )
            if existing.in_progress:
                return _error(
                    409,
                    IN_PROGRESS,
                    "A request with this Idempotency-Key is still being processed; retry in a moment.",
                )
            return existing.as_response()

        stored = False
        try:
            response = self.get_response(request)
            if (
                isinstance(response, HttpResponse)
                and not response.streaming
                and response_is_stored(response.status_code)
            ):
                idempotency_store(cache_key=cache_key, fingerprint=fingerprint, response=response)
                stored = True
        finally:
            if not stored:
                idempotency_release(cache_key=cache_key)
        return response


# --- the OpenAPI schema -------------------------------------------------------------------------

API_ERROR_REF = {"$ref": "#/components/schemas/ApiError"}
# The envelope as `apps.core.api_errors.ApiErrorSerializer` documents it, for a schema
# where no view has referenced it yet.
API_ERROR_COMPONENTS = {
    "ApiErrorBody": {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "message": {"type": "string"},
            "details": {"type": "object", "additionalProperties": {}},
        },
        "required": ["code", "details", "message"],
    },
    "ApiError": {
        "type": "object",
        "properties": {"error": {"$ref": "#/components/schemas/ApiErrorBody"}},
        "required": ["error"],
    },
}
SCHEMA_WRITE_METHODS = ("post", "put", "patch", "delete")
KEY_PARAMETER_DOC = (
    "Optional; one unique key per operation (a V4 UUID is a good key). A retry with the same key within "
    "24 hours returns the first response (status, body and Content-Type, with `Idempotent-Replayed: true`) "
    "and does not do the work again. Keys are scoped to the gym and to the signed-in user (for calls "
    "without a token, to the exact request). 5xx and 429 answers are not stored: a retry runs again."
)
# Status -> (a marker: when the documented description already has it, e.g. from the
# view's own error docs, it is left as it is; the sentence added otherwise).
_ERROR_DOCS = {
    "400": (
        "Idempotency-Key",
        "`validation_error`: the Idempotency-Key header is not 1 to 255 visible ASCII characters.",
    ),
    "409": (
        IN_PROGRESS,
        "`idempotency_request_in_progress`: a request with this Idempotency-Key is still running; retry shortly.",
    ),
    "422": (
        KEY_REUSED,
        "`idempotency_key_reused`: this Idempotency-Key was already used for a different request "
        "(method, path or body).",
    ),
}


def _merge_error_doc(responses: dict[str, Any], status: str, marker: str, text: str) -> None:
    """Document the `status` ApiError response with `text`, or add `text` to the one the
    operation already documents (unless its description already has `marker`)."""
    entry = responses.get(status)
    if entry is None:
        responses[status] = {"description": text, "content": {"application/json": {"schema": dict(API_ERROR_REF)}}}
        return
    description = entry.get("description", "")
    if marker not in description:
        entry["description"] = f"{description} {text}".strip()
    media = entry.setdefault("content", {}).setdefault("application/json", {})
    schema = media.get("schema")
    if schema is None:
        media["schema"] = dict(API_ERROR_REF)
    elif schema != API_ERROR_REF and API_ERROR_REF not in schema.get("oneOf", []):
        media["schema"] = {"oneOf": [schema, dict(API_ERROR_REF)]}


def _add_header_parameter(operation: dict[str, Any], parameter: dict[str, Any]) -> None:
    parameters = operation.setdefault("parameters", [])
    name = parameter["name"].lower()
    if not any(p.get("in") == "header" and p.get("name", "").lower() == name for p in parameters):
        parameters.append(parameter)


def idempotency_schema_hook(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry: every POST, PUT, PATCH and DELETE under
    `/api/v1/` gets the optional `Idempotency-Key` header parameter, the
    `Idempotent-Replayed` header on its 2xx responses, and the 400/409/422 ApiError
    responses this middleware can give (merged into ones the view already documents).
    Returns `result`, changed in place."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, component in API_ERROR_COMPONENTS.items():
        schemas.setdefault(name, component)
    for path, item in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method in SCHEMA_WRITE_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            _add_header_parameter(
                operation,
                {
                    "in": "header",
                    "name": HEADER,
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": KEY_MAX_LENGTH, "pattern": KEY_PATTERN},
                    "description": KEY_PARAMETER_DOC,
                },
            )
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if str(status).startswith("2"):
                    response.setdefault("headers", {})[REPLAYED_HEADER] = {
                        "schema": {"type": "string", "enum": ["true"]},
                        "description": "Present when this is the stored response to an earlier request "
                        "with the same Idempotency-Key.",
                    }
            for status, (marker, text) in _ERROR_DOCS.items():
                _merge_error_doc(responses, status, marker, text)
    return result
