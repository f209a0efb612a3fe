"""Conditional GET (`ETag` / `If-None-Match` -> 304) for the API reads the apps poll.

`GET /api/v1/schedule/`, `/api/v1/me/` and `/api/v1/occupancy/` answer with an `ETag`;
a request whose `If-None-Match` names it (or is `*`) gets `304 Not Modified` with no
body (RFC 9110 13.1.2, 15.4.5). Every answer of these paths (200 and 304) carries
`Cache-Control: private, no-cache` (a cache may keep it but must revalidate, and only
the caller's own cache) and `Vary: Authorization, Cookie`, because each body is the
caller's own (their booking state, profile, role).

The ETag is computed from the response body the view built, so it is exact whatever
the body depends on (the caller, the clock, several tables); no cheaper validator, such
as a database timestamp, covers all of that. The 304 saves the transfer and the app's
parsing, not the view's queries.
- A body whose view already set an `ETag` keeps it (`ScheduleApi` sends a strong
  SHA-256 of its canonical JSON).
- `me/` gets Django's strong ETag of the body bytes (`set_response_etag`).
- `occupancy/` gets a weak ETag (`W/"..."`) of its JSON without `as_of`: `as_of` is the
  time of counting and changes on every request, so a strong ETag would never match.
  RFC 9110 8.8.1 describes weak validators for exactly this case: the representation
  changed, its meaning (count, capacity, level) did not. After a 304 the count is still
  the current one; the time of the answer is its `Date` header.

The work is Django's `ConditionalGetMiddleware` (ETag and `get_conditional_response`),
scoped to these paths; `If-Modified-Since` is not used (no `Last-Modified` is sent).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.middleware.http import ConditionalGetMiddleware
from django.utils.cache import patch_vary_headers

# Path -> top-level body fields left out of a weak ETag (none: the view's ETag, or a
# strong ETag of the body bytes).
CONDITIONAL_GET_PATHS: dict[str, tuple[str, ...]] = {
    "/api/v1/schedule/": (),
    "/api/v1/me/": (),
    "/api/v1/occupancy/": ("as_of",),
}
CACHE_CONTROL = "private, no-cache"
VARY = ("Authorization", "Cookie")


def weak_body_etag(content: bytes, *, ignore: tuple[str, ...]) -> str | None:
    """A weak ETag (`W/"<32 hex>"`, SHA-256) of a JSON object body without its top-level
    `ignore` fields; None when `content` is not a JSON object."""
    try:
        data: Any = json.loads(content)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    kept = {name: value for name, value in data.items() if name not in ignore}
    canonical = json.dumps(kept, sort_keys=True, separators=(",", ":"))
    return f'W/"{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"'


class ApiConditionalGetMiddleware(ConditionalGetMiddleware):
    """Django's ConditionalGetMiddleware for `CONDITIONAL_GET_PATHS` only (module
    docstring). Other paths, methods other than GET and HEAD, and answers other than 200
    and 304 pass through unchanged."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        ignore = CONDITIONAL_GET_PATHS.get(request.path_info)
        if ignore is None or request.method not in ("GET", "HEAD") or response.status_code not in (200, 304):
            return response
        # Before the 304 is made: `get_conditional_response` copies these onto it.
        response["Cache-Control"] = CACHE_CONTROL
        patch_vary_headers(response, VARY)
        if response.status_code == 304 or response.streaming:
            return response
        if ignore and not response.has_header("ETag"):
            etag = weak_body_etag(response.content, ignore=ignore)  # type: ignore[attr-defined]
            if etag is not None:
                response["ETag"] = etag
        return super().process_response(request, response)


# --- the OpenAPI schema -------------------------------------------------------------------------

IF_NONE_MATCH_DOC = (
    "An ETag from an earlier answer (or `*`). When it matches the current one, the answer is "
    "304 Not Modified with no body: keep showing what you have."
)
ETAG_HEADER_DOC = {
    "/api/v1/occupancy/": "Weak validator of the body without `as_of` (the time of counting changes on every call).",
}
ETAG_DEFAULT_DOC = "Validator of this body; send it back in If-None-Match."
NOT_MODIFIED_DOC = "Not modified: If-None-Match matched the current ETag. No body."


def conditional_get_schema_hook(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry: the GET operations of
    `CONDITIONAL_GET_PATHS` get the optional `If-None-Match` header parameter, the
    `ETag` header (always sent) on their 200 response and a 304 response with no body
    that carries `ETag`. Returns `result`, changed in place."""
    for path in CONDITIONAL_GET_PATHS:
        operation = result.get("paths", {}).get(path, {}).get("get")
        if operation is None:
            continue
        parameters = operation.setdefault("parameters", [])
        if not any(p.get("in") == "header" and p.get("name", "").lower() == "if-none-match" for p in parameters):
            parameters.append(
                {
                    "in": "header",
                    "name": "If-None-Match",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": IF_NONE_MATCH_DOC,
                }
            )
        etag_header = {
            "schema": {"type": "string"},
            "required": True,
            "description": ETAG_HEADER_DOC.get(path, ETAG_DEFAULT_DOC),
        }
        responses = operation.setdefault("responses", {})
        if "200" in responses:
            responses["200"].setdefault("headers", {})["ETag"] = etag_header
        not_modified = responses.setdefault("304", {"description": NOT_MODIFIED_DOC})
        not_modified.pop("content", None)
        not_modified.setdefault("headers", {})["ETag"] = etag_header
    return result
