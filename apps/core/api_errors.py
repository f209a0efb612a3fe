"""One error shape for the whole API: `{"error": {"code", "message", "details"}}`, and
the error reference: every code the API answers, with its HTTP status and meaning.

`ERROR_CODES` is the single list of codes. Each code has one status wherever it is
returned (a client may switch on the code alone), and codes are stable snake_case:
renaming one is a breaking change. Views answer a code with `api_error` (or
`domain_error` for a service's `DomainError`), which takes the status from here; the
OpenAPI schema documents each operation's codes with `error_responses` (and
`apps.core.openapi` adds the ones every operation shares: 401, 403, 404, 429...).
The reference is rendered into the schema's description (`error_reference_markdown`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler
from rest_framework_simplejwt.exceptions import AuthenticationFailed as JwtAuthenticationFailed
from rest_framework_simplejwt.exceptions import InvalidToken


@dataclass(frozen=True)
class ApiErrorCode:
    """One code of the error reference: `status` (HTTP), `meaning` (when it is answered,
    for the docs), `message` (a typical `error.message`) and example `details`."""

    code: str
    status: int
    meaning: str
    message: str
    details: dict[str, Any] | None = None


def _codes(*rows: tuple[Any, ...]) -> dict[str, ApiErrorCode]:
    table: dict[str, ApiErrorCode] = {}
    for row in rows:
        entry = ApiErrorCode(*row)
        assert entry.code not in table, f"error code {entry.code} listed twice"
        table[entry.code] = entry
    return table


FIELD_DETAILS = {"field": ["This field is required."]}

ERROR_CODES: dict[str, ApiErrorCode] = _codes(
    # --- requests the API cannot read -----------------------------------------------------
    ("validation_error", 400, "A body field or query parameter is missing or not valid; `details` maps each "
     "field to its messages.", "Some fields are not valid.", FIELD_DETAILS),
    ("parse_error", 400, "The body is not valid JSON.", "JSON parse error - Expecting value: line 1 column 1 (char 0)"),
    ("range_too_long", 400, "A date range longer than the endpoint allows.", "Ask for at most 31 days at a time.",
     {"max_days": 31}),
    ("unsupported_media_type", 415, "The body is not `application/json`.",
     'Unsupported media type "text/plain" in request.'),
    ("not_acceptable", 406, "`Accept` names no type the endpoint answers (JSON, or the file type it serves).",
     "Could not satisfy the request Accept header."),
    ("method_not_allowed", 405, "The path does not take this HTTP method (see `Allow`).", 'Method "PUT" not allowed.'),
    ("not_found", 404, "No such object at this gym (or not the caller's), no such page of a list, or no such "
     "endpoint.", "Not found."),
    ("unknown_gym", 404, "No gym is served at this host.", "No gym is served at nowhere.example.com."),
    ("throttled", 429, "Too many requests; `details.retry_after_seconds` (and `Retry-After`) says when to retry.",
     "Request was throttled. Expected available in 12 seconds.", {"retry_after_seconds": 12}),
    ("server_error", 500, "A bug on our side; nothing to fix in the request.", "Something went wrong on our side."),
    # --- who is calling -------------------------------------------------------------------
    ("not_authenticated", 401, "No bearer token was sent.", "Authentication credentials were not provided."),
    ("authentication_failed", 401, "The `Authorization` header is malformed, or the token's account no longer "
     "exists or is inactive: log in again.", "User not found"),
    ("token_invalid", 401, "The token is forged, revoked (logged out) or of the wrong type: log in again.",
     "Token is invalid"),
    ("token_expired", 401, "The access token (or, at refresh, the refresh token) has expired: refresh it, or log "
     "in again.", "Token is expired"),
    ("token_wrong_gym", 401, "The token was issued at another gym.", "This token was issued for another gym."),
    ("invalid_credentials", 401, "Wrong email or password.", "Email or password is not correct."),
    ("gym_suspended", 403, "The gym is suspended; nothing of its API answers.", "This gym is suspended."),
    ("no_gym_access", 403, "The account has no role at this gym.", "Your account has no access to this gym."),
    ("role_too_low", 403, "The caller's role at this gym is below the one the endpoint (or a field, such as "
     "`override_reason`) needs.", "This needs the receptionist role or higher."),
    ("permission_denied", 403, "The caller may not do this.", "You do not have permission to perform this action."),
    ("field_forbidden", 403, "The caller's role may not send these fields (`details.fields`); nothing was saved.",
     "Your role may not change these fields.", {"fields": ["medical_notes"]}),
    ("not_a_member", 403, "A member-only endpoint called by staff who have no member record at this gym.",
     "Only members of this gym can do this."),
    # --- members, plans, memberships ------------------------------------------------------
    ("member_not_found", 404, "The member id in the body or query is not a member of this gym.",
     "This member does not exist at this gym."),
    ("email_taken", 409, "Another member of this gym uses this email (case-insensitive).",
     "Another member of this gym already uses this email.", {"email": ["Another member of this gym already uses "
                                                                        "this email."]}),
    ("member_erased", 409, "The member was erased (GDPR/POPIA): no edits, no new memberships.",
     "This member was erased and can no longer be edited."),
    ("billing_period_required", 400, "A recurring plan without a billing period.",
     "A recurring plan needs a billing period.", {"billing_period": ["A recurring plan needs a billing period."]}),
    ("duration_required", 400, "A one-off plan without a duration.", "A one-off plan needs a duration in days.",
     {"duration_days": ["A one-off plan needs a duration in days."]}),
    ("credits_required", 400, "A class pack without a number of credits.", "A class pack needs a number of credits.",
     {"class_credits": ["A class pack needs a number of credits."]}),
    ("invalid_access_hours", 400, "An access-hours window is malformed (HH:MM, end after start, weekdays 0-6).",
     "Weekdays are 0 (Monday) to 6; start must be before end.",
     {"access_hours": ["Weekdays are 0 (Monday) to 6; start must be before end."]}),
    ("plan_in_use", 409, "Deleting a plan that has had memberships: archive it instead.",
     "This plan has memberships, so it can only be archived."),
    ("plan_archived", 422, "The plan is archived and no longer sold.", "The plan “Gold” is archived and no longer sold."),
    ("plan_change_invalid", 422, "The new plan cannot replace the current one (the same plan, or not recurring).",
     "The member is already on this plan."),
    ("already_has_membership", 409, "A second current recurring membership would overlap the first.",
     "This member already has a current recurring membership (Gold). Change its plan instead, or cancel it first."),
    ("transition_not_allowed", 409, "The membership's status does not allow this change (e.g. freezing a "
     "cancelled one).", "A cancelled membership cannot be frozen."),
    ("freeze_in_past", 400, "A freeze that starts before today.", "A freeze cannot start in the past."),
    ("freeze_dates_invalid", 400, "A freeze that ends before it starts.", "A freeze must end on or after its start."),
    ("freeze_too_long", 400, "A freeze longer than the gym allows.", "A freeze can last at most 90 days (this is 120)."),
    ("freeze_after_end", 400, "A freeze that starts after the membership ends.",
     "The membership ends on 30 Apr 2026, before this freeze."),
    ("freeze_overlaps", 409, "The freeze overlaps another freeze of the membership.",
     "This freeze overlaps another freeze of the membership."),
    ("freeze_scheduled", 409, "A plan change while a freeze is scheduled: call the freeze off first.",
     "This membership has a freeze scheduled. Call it off (unfreeze) before changing plan, then freeze again."),
    ("not_frozen", 409, "Unfreezing a membership with no freeze in effect or scheduled.",
     "This membership has no freeze in effect or scheduled."),
    ("already_renewed", 409, "This term was already renewed.",
     "This membership was already renewed. Renew the newer term instead."),
    ("quote_changed", 409, "The plan change's amount due differs from `expected_amount_due`; nothing changed and "
     "`details.quote` is the new quote.", "The amount due changed since the preview; nothing was changed. Confirm "
     "the new amount.", {"quote": {"amount_due": "129.50"}}),
    # --- classes and bookings --------------------------------------------------------------
    ("session_not_found", 404, "The class session id in the body is not a session of this gym.",
     "This class session does not exist."),
    ("session_not_bookable", 400, "The session was cancelled, is over or has started.",
     "This class can no longer be booked."),
    ("booking_window_closed", 400, "The session starts further ahead than its booking window.",
     "Booking opens 168 hours before the class starts."),
    ("no_valid_membership", 403, "No active membership covers the session's day, may book this class and allows "
     "its start time.", "No active membership lets you book this class."),
    ("insufficient_credits", 402, "No eligible membership has the class's credits left: buy a pack or upgrade.",
     "The member has no credits left for this class."),
    ("already_booked", 409, "The member already holds a booking for this session.",
     "The member is already booked into this class."),
    ("booking_conflict", 409, "The member holds a confirmed booking that overlaps this session in time.",
     "The member is booked into another class at the same time."),
    ("class_full", 409, "No spot left and `join_waitlist` was not set.",
     "This class is full. Join the waitlist to be told when a spot frees up."),
    ("booking_not_cancellable", 409, "The booking is already cancelled, attended or a no-show, or its class has "
     "started.", "The class has started; mark attendance instead."),
    ("not_confirmed", 409, "The booking's QR code: the booking is not confirmed (waitlisted, cancelled, already "
     "checked in).", "This booking is on the waitlist, not confirmed."),
    ("expired", 410, "The booking's QR code: the class is over.", "This QR code is too old to use."),
    # --- front desk ----------------------------------------------------------------------
    ("check_in_not_found", 404, "No such check-in at this gym.", "This check-in does not exist at this gym."),
    ("already_checked_out", 409, "The check-in was already closed.", "Already checked out at 10:42."),
    # --- invoices and payments --------------------------------------------------------------
    ("invalid_amount", 400, "An amount of 0 or less.", "The amount must be more than 0.",
     {"amount": ["The amount must be more than 0."]}),
    ("overpayment", 400, "A payment larger than the amount due.", "Only 500.00 GBP is due.",
     {"amount": ["Only 500.00 GBP is due."]}),
    ("refund_too_large", 400, "A refund larger than what was paid and not yet refunded.",
     "At most 500.00 can be refunded.", {"amount": ["At most 500.00 can be refunded."]}),
    ("invoice_not_open", 409, "Paying or crediting an invoice that is not open, or nothing is owed.",
     "Only an open invoice can take a payment."),
    ("invoice_not_voidable", 409, "Voiding an invoice that is paid, part-paid, void or has a card charge in "
     "progress: refund it instead.", "Only an unpaid draft or open invoice can be voided; refund a paid one."),
    ("no_saved_card", 409, "Charging a member who has no saved card.", "Save a card first, or pay at the front desk."),
    ("stripe_not_connected", 409, "A card action at a gym that has not connected Stripe.",
     "This gym does not take card payments online yet."),
    ("stripe_unavailable", 503, "Stripe could not be reached; nothing was done twice. Retry.",
     "Stripe could not be reached. Try again."),
    # --- notifications ------------------------------------------------------------------------
    ("transactional_required", 400, "Switching transactional messages off (receipts, bookings and payments must "
     "reach the member).", "Messages about your account, bookings and payments cannot be switched off.",
     {"transactional": ["Messages about your account, bookings and payments cannot be switched off."]}),
    ("invalid_channel", 400, "A channel that is not one of email, sms, whatsapp, push, none.",
     "“pigeon” is not a channel.", {"reminders": ["“pigeon” is not a channel."]}),
    ("invalid_device", 400, "An empty, spaced or too long push token, or an unknown platform.",
     "A push token is 1 to 512 characters without spaces or slashes.",
     {"token": ["A push token is 1 to 512 characters without spaces or slashes."]}),
    ("notification_not_found", 404, "No such notification of the caller's.", "No such notification."),
    ("device_not_found", 404, "The caller has no such push token.", "This device is not registered."),
    # --- Idempotency-Key (apps.core.idempotency) ----------------------------------------------
    ("idempotency_request_in_progress", 409, "A request with this Idempotency-Key is still running; retry shortly.",
     "A request with this Idempotency-Key is still in progress."),
    ("idempotency_key_reused", 422, "This Idempotency-Key was already used for a different request.",
     "This Idempotency-Key was already used for a different request."),
)  # fmt: skip
"""The error reference: code -> `ApiErrorCode`. Tested against the codes the services raise."""


def error_status(code: str, default: int = 400) -> int:
    """The HTTP status of `code` (from `ERROR_CODES`); `default` for an unlisted code."""
    entry = ERROR_CODES.get(code)
    return entry.status if entry is not None else default


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error envelope as a dict: `{"error": {"code", "message", "details"}}`."""
    return {"error": {"code": code, "message": message, "details": details if details is not None else {}}}


def api_error(code: str, message: str, details: Any = None, *, http_status: int | None = None) -> Response:
    """A DRF Response of the envelope for `code`, with the status of the error reference
    (or `http_status` for a code that is not in it, which a test forbids for the API)."""
    return Response(error_body(code, message, details), status=http_status or error_status(code))


# DRF's default codes, renamed where ours read better for app developers.
_CODE_NAMES = {
    "invalid": "validation_error",
    "token_not_valid": "token_invalid",
    "user_not_found": "authentication_failed",
    "user_inactive": "authentication_failed",
    "bad_authorization_header": "authentication_failed",
    "no_active_account": "authentication_failed",
}


def _jwt_code(exc: JwtAuthenticationFailed) -> tuple[str, str]:
    """(code, message) of a simplejwt authentication error: `token_expired` when every
    token class said the token has expired, else `token_invalid`; the simplejwt codes of
    a missing user or a malformed header become `authentication_failed`."""
    detail = exc.detail if isinstance(exc.detail, dict) else {}
    if isinstance(exc, InvalidToken):
        expired = str(gettext("Token is expired"))
        messages = [str(m.get("message", "")) for m in detail.get("messages", []) if isinstance(m, dict)]
        if messages and all(m == expired for m in messages):
            return "token_expired", expired
        return "token_invalid", str(detail.get("detail") or "Token is invalid")
    raw = str(detail.get("code") or exc.default_code)
    return _CODE_NAMES.get(raw, "authentication_failed"), str(detail.get("detail") or exc.default_detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF EXCEPTION_HANDLER: wraps every handled exception in the error envelope.

    Validation errors keep their per-field messages under `details` (a dict: a bare
    list becomes `non_field_errors`); throttling gives `details.retry_after_seconds`;
    a permission class may set `code` for a sharper code (e.g. `no_gym_access`);
    simplejwt's errors become `token_invalid`, `token_expired` or
    `authentication_failed`. Unhandled exceptions return None (a 500).
    """
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    details: Any = {}
    if isinstance(exc, exceptions.ValidationError):
        code = "validation_error"
        message = "Some fields are not valid."
        details = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
    elif isinstance(exc, JwtAuthenticationFailed):
        code, message = _jwt_code(exc)
    else:
        raw_codes = exc.get_codes()
        raw = raw_codes if isinstance(raw_codes, str) else exc.default_code
        code = _CODE_NAMES.get(raw, raw)
        detail = exc.detail
        message = str(detail) if not isinstance(detail, (list, dict)) else str(exc.default_detail)
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


def domain_error(exc: Any, http_status: int | None = None) -> Response:
    """A service error (`code`, `message`, optional `field`) in the error envelope, with
    the status of the error reference (`http_status` overrides it). An error that
    belongs to an input field carries `details: {field: [message]}`."""
    details = {exc.field: [exc.message]} if getattr(exc, "field", None) else {}
    return Response(error_body(exc.code, exc.message, details), status=http_status or error_status(exc.code))


def field_forbidden(fields: list[str]) -> Response:
    """403 `field_forbidden`: the caller's role may not write these fields."""
    return api_error("field_forbidden", "Your role may not change these fields.", {"fields": fields})


# --- the error envelope in the OpenAPI schema ----------------------------------------------------


@extend_schema_serializer(component_name="ApiErrorBody")
class ApiErrorBodySerializer(serializers.Serializer):
    """`error` of the envelope: a stable code, a sentence, per-field details."""

    code = serializers.CharField(help_text="Stable snake_case code; see the error reference.")
    message = serializers.CharField(help_text="A sentence for people; may change.")
    details = serializers.DictField(help_text="Per-field messages for input errors; else empty or code-specific.")


@extend_schema_serializer(component_name="ApiError")
class ApiErrorSerializer(serializers.Serializer):
    """The error envelope `{"error": {"code", "message", "details"}}`, for the schema."""

    error = ApiErrorBodySerializer()


class ErrorResponse(OpenApiResponse):
    """An OpenAPI error response of the envelope that knows its codes (`codes`, in the
    order listed), so `apps.core.openapi` can merge the codes every operation shares into
    it. Its description lists each code with its meaning; one example per code."""

    def __init__(self, status: int, codes: Iterable[str], notes: dict[str, str] | None = None):
        self.status = status
        self.codes: list[str] = list(dict.fromkeys(codes))
        self.notes = dict(notes or {})
        for code in self.codes:
            entry = ERROR_CODES.get(code)
            assert entry is not None, f"undocumented error code {code}; add it to ERROR_CODES"
            assert entry.status == status, f"{code} is a {entry.status}, not a {status}"
        super().__init__(response=ApiErrorSerializer, description=self._description(), examples=self._examples())

    def merged(self, codes: Iterable[str], notes: dict[str, str] | None = None) -> ErrorResponse:
        """A new response with `codes` (and their notes) added after this one's."""
        return ErrorResponse(self.status, [*self.codes, *codes], {**(notes or {}), **self.notes})

    def _description(self) -> str:
        lines = []
        for code in self.codes:
            lines.append(f"- `{code}`: {self.notes.get(code) or ERROR_CODES[code].meaning}")
        return "\n".join(lines)

    def _examples(self) -> list[OpenApiExample]:
        examples = []
        for code in self.codes:
            entry = ERROR_CODES[code]
            examples.append(
                OpenApiExample(
                    code,
                    value=error_body(code, entry.message, entry.details),
                    response_only=True,
                    status_codes=[str(self.status)],
                )
            )
        return examples


def error_responses(*codes: str, **notes: str) -> dict[int, ErrorResponse]:
    """`extend_schema(responses=...)` entries for an operation's own error codes, grouped
    by their status: `responses={201: BookingSerializer, **error_responses("class_full", ...)}`.
    `notes` (code=sentence) replace a code's general meaning for this operation. The codes
    every operation shares are added by `apps.core.openapi.ApiAutoSchema`."""
    by_status: dict[int, list[str]] = defaultdict(list)
    for code in codes:
        assert code in ERROR_CODES, f"undocumented error code {code}; add it to ERROR_CODES"
        by_status[ERROR_CODES[code].status].append(code)
    return {status: ErrorResponse(status, listed, notes) for status, listed in by_status.items()}


def error_reference_markdown() -> str:
    """The error reference as a Markdown table (status, code, meaning), by status."""
    rows = ["| Status | Code | Meaning |", "| --- | --- | --- |"]
    for entry in sorted(ERROR_CODES.values(), key=lambda e: (e.status, e.code)):
        rows.append(f"| {entry.status} | `{entry.code}` | {entry.meaning} |")
    return "\n".join(rows)
