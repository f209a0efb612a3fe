"""One error shape for the whole API: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler

# DRF's default codes, renamed where ours read better for app developers.
_CODE_NAMES = {
    "not_authenticated": "not_authenticated",
    "authentication_failed": "authentication_failed",
    "permission_denied": "permission_denied",
    "not_found": "not_found",
    "method_not_allowed": "method_not_allowed",
    "throttled": "throttled",
    "parse_error": "parse_error",
    "unsupported_media_type": "unsupported_media_type",
    "not_acceptable": "not_acceptable",
    "invalid": "validation_error",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error envelope as a dict: `{"error": {"code", "message", "details"}}`."""
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF EXCEPTION_HANDLER: wraps every handled exception in the error envelope.

    Validation errors keep their per-field messages under `details`; throttling
    gives `details.retry_after_seconds`; a permission class may set `code` for a
    sharper code (e.g. `no_gym_access`). Unhandled exceptions return None (a 500).
    """
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        code = "validation_error"
        message = "Some fields are not valid."
        details: Any = response.data
    else:
        raw_codes = exc.get_codes()
        raw = raw_codes if isinstance(raw_codes, str) else exc.default_code
        code = _CODE_NAMES.get(raw, raw)
        detail = exc.detail
        message = str(detail) if not isinstance(detail, (list, dict)) else str(exc.default_detail)
        details = {}
        if isinstance(detail, dict):
            details = {k: v for k, v in response.data.items() if k != "detail"}
        if isinstance(exc, exceptions.Throttled):
            details = {"retry_after_seconds": exc.wait}  # type: ignore[attr-defined]
    response.data = error_body(code, message, details)
    return response


def json_error_response(request: HttpRequest, status_code: int, code: str, message: str) -> JsonResponse:
    """The error envelope for non-DRF responses under /api/ (unknown URL, server error)."""
    return JsonResponse(error_body(code, message), status=status_code)


def is_api_request(request: HttpRequest) -> bool:
    """True for paths the mobile apps call, which always answer JSON."""
    return request.path.startswith("/api/")


def domain_error(exc: Any, http_status: int) -> Response:
    """A service error (`code`, `message`, optional `field`) in the error envelope.
    An error that belongs to an input field carries `details: {field: [message]}`."""
    details = {exc.field: [exc.message]} if getattr(exc, "field", None) else {}
    return Response(error_body(exc.code, exc.message, details), status=http_status)


def field_forbidden(fields: list[str]) -> Response:
    """403 `field_forbidden`: the caller's role may not write these fields."""
    return Response(
        error_body("field_forbidden", "Your role may not change these fields.", {"fields": fields}), status=403
    )


# --- the error envelope in the OpenAPI schema ----------------------------------------------------


@extend_schema_serializer(component_name="ApiErrorBody")
class ApiErrorBodySerializer(serializers.Serializer):
    """`error` of the envelope: a stable code, a sentence, per-field details."""

    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField(help_text="Per-field messages for input errors; else empty.")


@extend_schema_serializer(component_name="ApiError")
class ApiErrorSerializer(serializers.Serializer):
    """The error envelope `{"error": {"code", "message", "details"}}`, for the schema."""

    error = ApiErrorBodySerializer()


def error_response_doc(description: str) -> OpenApiResponse:
    """An OpenAPI response of the error envelope, with `description` listing the codes."""
    return OpenApiResponse(response=ApiErrorSerializer, description=description)
