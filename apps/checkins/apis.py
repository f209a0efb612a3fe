"""`/api/v1/` of the front desk: check-in, check-out, a day's check-ins, live
occupancy and the member's rotating QR.

Who may do what:
- Staff (receptionist and up) check members in (`POST check-ins/`, by scanned `qr`
  token or by picked `member` id), check them out and list a day's check-ins.
  Members get 403 `role_too_low` there.
- Only a manager or owner may let a refused member in anyway: a non-empty
  `override_reason` from anyone below is 403 `role_too_low`, and nothing is written.
- Anyone with a role here, members included, reads the occupancy (a number, never a
  name).
- A member fetches their rotating QR from `me/qr/`; it is valid for 60 s and the app
  should fetch a new one every 30 s (apps/checkins/qr.py).

A refused check-in is an answer, not an error: `POST check-ins/` returns 200 with
`allowed: false` and the refusal code (`unknown_code`, `no_active_membership`,
`membership_frozen`, `payment_overdue`, `outside_access_hours`,
`already_checked_in`; see apps/checkins/errors.py), and 201 when a check-in was
written. Errors use the envelope of apps/core/api_errors.py.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.classes.apis import UtcDateTimeField
from apps.core.api_errors import api_error, domain_error, error_responses
from apps.core.api_input import CALENDAR_HELP, StrictJsonSerializer, within_calendar
from apps.core.pagination import ApiPagination
from apps.core.qrcodes import qr_svg_data_uri
from apps.members.models import Member
from apps.members.selectors import member_for_user
from apps.staff.access import GymRolePermission
from apps.staff.roles import Role
from apps.tenants.dispatch import gym_local_date, gym_tzinfo

from .errors import CheckInError
from .models import CheckIn
from .qr import ROTATING_QR_REFRESH, ROTATING_QR_TTL, member_rotating_qr_token
from .selectors import checkin_list, occupancy_now
from .services import CheckInResult, checkin_check_out, checkin_create

# Methods and levels are plain strings in the schema: a generic `MethodEnum` or
# `LevelEnum` component would clash with the next app's `method` or `level` choice.
METHOD_HELP = "How the member was identified: " + ", ".join(CheckIn.Method.values) + "."
OVERRIDE_ROLE = Role.MANAGER
"""The lowest role that may check a refused member in anyway (`override_reason`)."""


def _checkin_error(exc: CheckInError) -> Response:
    """The service error with its status from the error reference (apps/core/api_errors.py)."""
    return domain_error(exc)


def _photo_url(request: Request, member: Member) -> str | None:
    return request.build_absolute_uri(member.photo.url) if member.photo else None


# --- serializers ------------------------------------------------------------------------------

CHECK_IN_EXAMPLE: dict[str, Any] = {
    "id": 88120,
    "member": {"id": 311, "name": "Mia Moss"},
    "checked_in_at": "2026-04-14T06:58:12Z",
    "checked_out_at": None,
    "check_out_kind": "",
    "method": "member_qr",
}
CHECK_IN_RESULT_EXAMPLE: dict[str, Any] = {
    "allowed": True,
    "code": "checked_in",
    "message": "Welcome, Mia!",
    "member": {"id": 311, "name": "Mia Moss", "photo_url": None},
    "membership": {"id": 5120, "plan": "Unlimited monthly", "status": "active", "end_date": None},
    "check_in": {
        "id": 88120,
        "checked_in_at": "2026-04-14T06:58:12Z",
        "checked_out_at": None,
        "method": "member_qr",
    },
    "booking": None,
    "warnings": [],
}


@extend_schema_serializer(component_name="CheckInMemberRef")
class CheckInMemberRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="full_name")


@extend_schema_serializer(component_name="CheckInBooking")
class CheckInBookingSerializer(serializers.Serializer):
    """The class booking a check-in marked attended."""

    id = serializers.IntegerField()
    class_name = serializers.CharField(source="session.gym_class.name")
    starts_at = UtcDateTimeField(source="session.starts_at")


@extend_schema_serializer(
    component_name="CheckIn", examples=[OpenApiExample("A visit", value=CHECK_IN_EXAMPLE, response_only=True)]
)
class CheckInSerializer(serializers.Serializer):
    """A visit. Times are UTC; `checked_out_at` is null while the member is in the gym."""

    id = serializers.IntegerField()
    member = CheckInMemberRefSerializer()
    checked_in_at = UtcDateTimeField()
    checked_out_at = UtcDateTimeField(allow_null=True)
    check_out_kind = serializers.CharField(
        help_text="manual, auto (left without checking out), superseded (closed by a later check-in); empty while open."
    )
    method = serializers.CharField(help_text=METHOD_HELP)


@extend_schema_serializer(
    component_name="CheckInListItem",
    examples=[
        OpenApiExample(
            "A visit",
            value=CHECK_IN_EXAMPLE
            | {
                "plan": "Unlimited monthly",
                "booking": {"id": 70211, "class_name": "Spin", "starts_at": "2026-04-14T17:00:00Z"},
            },
            response_only=True,
        )
    ],
)
class CheckInListItemSerializer(CheckInSerializer):
    """A visit in a day's list, with the plan that let the member in and the class
    booking it marked attended."""

    plan = serializers.CharField(
        source="membership.plan.name", allow_null=True, default=None, help_text="null: no membership (override)."
    )
    booking = CheckInBookingSerializer(allow_null=True)


@extend_schema_serializer(component_name="CheckInResultMember")
class ResultMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="full_name")
    photo_url = serializers.SerializerMethodField(help_text="Absolute URL; null without a photo.")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_photo_url(self, member: Member) -> str | None:
        return _photo_url(self.context["request"], member)


@extend_schema_serializer(component_name="CheckInResultMembership")
class ResultMembershipSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    plan = serializers.CharField(source="plan.name")
    status = serializers.CharField()
    end_date = serializers.DateField(allow_null=True)


@extend_schema_serializer(component_name="CheckInResultCheckIn")
class ResultCheckInSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    checked_in_at = UtcDateTimeField()
    checked_out_at = UtcDateTimeField(allow_null=True)
    method = serializers.CharField(help_text=METHOD_HELP)


@extend_schema_serializer(component_name="CheckInResult")
class CheckInResultSerializer(serializers.Serializer):
    """The desk's answer to one scan or pick (green when `allowed`)."""

    allowed = serializers.BooleanField()
    code = serializers.CharField(
        help_text="checked_in, or a refusal: unknown_code, no_active_membership, membership_frozen, "
        "payment_overdue, outside_access_hours, already_checked_in."
    )
    message = serializers.CharField(help_text="The sentence for the desk's panel.")
    member = ResultMemberSerializer(allow_null=True, help_text="null for unknown_code.")
    membership = ResultMembershipSerializer(
        allow_null=True, help_text="The membership that let them in, or the one the refusal is about."
    )
    check_in = ResultCheckInSerializer(
        allow_null=True, help_text="The new check-in; for already_checked_in, the open one."
    )
    booking = CheckInBookingSerializer(allow_null=True, help_text="The class booking this check-in marked attended.")
    warnings = serializers.ListField(child=serializers.CharField(), help_text="Sentences for a green panel.")


def _result_data(request: Request, result: CheckInResult) -> dict[str, Any]:
    return dict(CheckInResultSerializer(result, context={"request": request}).data)


# --- check-in and the day's list ----------------------------------------------------------------


class CheckInListApi(APIView):
    """`POST check-ins/`: check a member in (scanned QR or picked member).
    `GET check-ins/?date=`: the check-ins of one gym-local day, newest first, paged."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.RECEPTIONIST
    pagination_class = ApiPagination

    @extend_schema_serializer(component_name="CheckInListFilter")
    class FilterSerializer(serializers.Serializer):
        date = serializers.DateField(
            required=False,
            validators=[within_calendar],
            help_text=f"Gym-local date (YYYY-MM-DD); default today in the gym's timezone. {CALENDAR_HELP}",
        )

    @extend_schema_serializer(
        component_name="CheckInCreateInput",
        examples=[
            OpenApiExample("Scanned QR", value={"qr": "m1:311:1776149892:Xk3vQ9"}, request_only=True),
            OpenApiExample(
                "Manager override",
                value={"member": 311, "override_reason": "Card payment taken at the desk"},
                request_only=True,
            ),
        ],
    )
    class InputSerializer(StrictJsonSerializer):
        # Long enough for any scanner output; the service refuses a token over 512
        # characters as `unknown_code` (a scan answer, not an input error).
        qr = serializers.CharField(
            required=False, max_length=4096, help_text="The scanned token: member app, printed card or booking QR."
        )
        member = serializers.IntegerField(required=False, min_value=1, help_text="A member picked at the desk.")
        override_reason = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=255,
            default="",
            help_text="Manager and up: let the member in whatever the membership rules say, for this reason.",
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if ("qr" in attrs) == ("member" in attrs):
                message = "Send either qr or member, not both." if "qr" in attrs else "Send qr or member."
                raise serializers.ValidationError({"qr": [message], "member": [message]})
            return attrs

    @extend_schema(
        operation_id="check_ins_list",
        tags=["check-ins"],
        summary="A day's check-ins (receptionist+)",
        description=(
            "The check-ins of one gym-local `date` (default today), newest first, with the plan that let "
            "each member in and the class booking it marked attended. Paged with `page`/`page_size`."
        ),
        parameters=[FilterSerializer],
        responses={200: CheckInListItemSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        gym = request.tenant  # type: ignore[attr-defined]
        day = filters.validated_data.get("date") or gym_local_date(gym)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(checkin_list(day=day, tz=gym_tzinfo(gym)), request, view=self)
        return paginator.get_paginated_response(CheckInListItemSerializer(page, many=True).data)

    @extend_schema(
        operation_id="check_ins_create",
        tags=["check-ins"],
        summary="Check a member in (receptionist+)",
        description=(
            "Send exactly one of `qr` (a scanned token) or `member` (an id picked at the desk). "
            "201 when the member was checked in (`allowed: true`); 200 when refused (`allowed: false`, "
            "`code` says why; nothing is written, and `already_checked_in` names the open check-in). "
            "A manager or owner may send `override_reason` to let a refused member in anyway (below manager: "
            "403 `role_too_low`, nothing written). Neither or both of `qr` and `member` is 400 `validation_error`."
        ),
        request=InputSerializer,
        responses={
            201: OpenApiResponse(
                CheckInResultSerializer,
                description="Checked in: `allowed` is true.",
                examples=[OpenApiExample("Checked in", value=CHECK_IN_RESULT_EXAMPLE, status_codes=["201"])],
            ),
            200: OpenApiResponse(
                CheckInResultSerializer,
                description="Refused: `allowed` is false, `code` says why; nothing was written.",
                examples=[
                    OpenApiExample(
                        "Refused",
                        value=CHECK_IN_RESULT_EXAMPLE
                        | {
                            "allowed": False,
                            "code": "payment_overdue",
                            "message": "Payment is overdue.",
                            "membership": {
                                "id": 5120,
                                "plan": "Unlimited monthly",
                                "status": "past_due",
                                "end_date": None,
                            },
                            "check_in": None,
                        },
                        status_codes=["200"],
                    )
                ],
            ),
            **error_responses("member_not_found"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        override_reason = v["override_reason"]
        if override_reason and not Role(request.gym_role).at_least(OVERRIDE_ROLE):  # type: ignore[attr-defined]
            return api_error(
                "role_too_low",
                f"Only a {OVERRIDE_ROLE.label.lower()} or owner may override a refusal.",
                {"override_reason": ["Ask a manager to override."]},
            )
        member: Member | None = None
        if "member" in v:
            member = Member.objects.exclude(status=Member.Status.ERASED).filter(pk=v["member"]).first()
            if member is None:
                return api_error("member_not_found", "This member does not exist at this gym.")
        try:
            result = checkin_create(
                qr=v.get("qr"),
                member=member,
                actor=request.user,  # type: ignore[arg-type]
                override_reason=override_reason,
            )
        except CheckInError as exc:
            return _checkin_error(exc)
        http_status = status.HTTP_201_CREATED if result.allowed else status.HTTP_200_OK
        return Response(_result_data(request, result), status=http_status)


class CheckInCheckOutApi(APIView):
    """`POST check-ins/{id}/check-out/`: the member leaves (occupancy drops)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.RECEPTIONIST

    @extend_schema(
        operation_id="check_ins_check_out",
        tags=["check-ins"],
        summary="Check a member out (receptionist+)",
        description="Closes the open check-in (occupancy drops at once). 200 with the check-in.",
        request=None,
        responses={200: CheckInSerializer, **error_responses("check_in_not_found", "already_checked_out")},
    )
    def post(self, request: Request, pk: int) -> Response:
        check_in = CheckIn.objects.filter(pk=pk).first()
        if check_in is None:
            return api_error("check_in_not_found", "This check-in does not exist at this gym.")
        try:
            check_in = checkin_check_out(check_in=check_in, actor=request.user)  # type: ignore[arg-type]
        except CheckInError as exc:
            return _checkin_error(exc)
        return Response(CheckInSerializer(check_in).data)


# --- occupancy and the member's QR ---------------------------------------------------------------


class OccupancyApi(APIView):
    """`GET occupancy/`: how many are in the gym now (any role here, members included)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER

    @extend_schema_serializer(
        component_name="Occupancy",
        examples=[
            OpenApiExample(
                "Busy",
                value={"count": 42, "capacity": 60, "level": "busy", "as_of": "2026-04-14T17:05:31Z"},
                response_only=True,
            )
        ],
    )
    class OutputSerializer(serializers.Serializer):
        count = serializers.IntegerField(help_text="Members checked in and not yet out.")
        capacity = serializers.IntegerField(help_text="The gym's occupancy capacity setting.")
        level = serializers.CharField(
            help_text="quiet (< 50% of capacity), busy (50-85%), very_busy (> 85%) or full (>= 100%)."
        )
        as_of = UtcDateTimeField(help_text="When it was counted; drop an update older than one you show.")

    @extend_schema(
        operation_id="occupancy_retrieve",
        tags=["check-ins"],
        summary="Live occupancy",
        description=(
            "How many members are in now (open check-ins), against the gym's capacity, with a level for "
            "display; never a name. The same numbers the `/ws/occupancy/` websocket pushes."
        ),
        responses={200: OutputSerializer},
    )
    def get(self, request: Request) -> Response:
        occupancy = occupancy_now(gym=request.tenant)  # type: ignore[attr-defined]
        return Response(self.OutputSerializer(occupancy).data)


class MeQrApi(APIView):
    """`GET me/qr/`: the caller's rotating check-in QR (a member of this gym)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER

    @extend_schema_serializer(
        component_name="MemberQr",
        examples=[
            OpenApiExample(
                "A fresh code",
                value={
                    "token": "m1:311:1776149892:Xk3vQ9",
                    "svg": "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=",
                    "expires_at": "2026-04-14T06:59:12Z",
                    "refresh_after_seconds": 30,
                },
                response_only=True,
            )
        ],
    )
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="The signed text in the QR (show it as a QR code).")
        svg = serializers.CharField(help_text="The QR code as a data:image/svg+xml;base64 URI for an <img>.")
        expires_at = UtcDateTimeField(help_text="The desk refuses the code after this time.")
        refresh_after_seconds = serializers.IntegerField(help_text="Fetch a new code after this many seconds.")

    @extend_schema(
        operation_id="me_qr_retrieve",
        tags=["check-ins"],
        summary="My rotating check-in QR",
        description=(
            "Valid for 60 seconds; fetch a fresh one every `refresh_after_seconds` (30), so the code on screen "
            "always has half its life left. Sent with `Cache-Control: no-store`."
        ),
        responses={200: OutputSerializer, **error_responses("not_a_member")},
    )
    def get(self, request: Request) -> Response:
        member = member_for_user(user_id=request.user.pk)  # type: ignore[arg-type]
        if member is None:
            response = api_error("not_a_member", "Only members have a check-in QR.")
        else:
            # The token carries whole seconds: its life is counted from the truncated time.
            issued = timezone.now().replace(microsecond=0)
            token = member_rotating_qr_token(member=member, now=issued)
            response = Response(
                self.OutputSerializer(
                    {
                        "token": token,
                        "svg": qr_svg_data_uri(token),
                        "expires_at": issued + ROTATING_QR_TTL,
                        "refresh_after_seconds": int(ROTATING_QR_REFRESH.total_seconds()),
                    }
                ).data
            )
        response["Cache-Control"] = "no-store"
        return response
