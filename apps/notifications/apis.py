"""`/api/v1/` of notifications, for the member's app: their in-app notifications, their
channel preferences and their push devices.

Every endpoint is about the caller's own member record at this gym ("me" endpoints, as
`me/qr/`): any role may call them, and a caller without a member record here (staff
who are not members) gets 403 `not_a_member`, as on every member-only endpoint. Staff who are also members get their own
member record's data, never anyone else's. Another member's notification id or device
token answers 404, exactly like an id from another gym.

Service errors keep the code of `NotificationError` (apps/notifications/errors.py):
- 400 `transactional_required`, `invalid_channel`, `invalid_device` (`details` names
  the field);
- 404 `notification_not_found`, `device_not_found`;
- 403 `not_a_member`.
Errors use the envelope of apps/core/api_errors.py.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api_errors import api_error, domain_error, error_responses
from apps.core.api_input import StrictJsonSerializer
from apps.core.pagination import ApiPagination
from apps.members.models import Member
from apps.members.selectors import member_for_user
from apps.staff.access import GymRolePermission
from apps.staff.roles import Role

from .errors import NotificationError
from .models import Device
from .preferences import TOKEN_MAX_LENGTH, device_register, device_remove, notification_mark_read, preferences_update
from .selectors import member_notifications, member_preferences
from .serializers import (
    CHANNEL_HELP,
    ChannelField,
    DeviceSerializer,
    NotificationSerializer,
    PlatformField,
    PreferencesSerializer,
)

TAGS = ["notifications"]


class NotAMember(Exception):
    """The caller has no member record at this gym (answered 403 `not_a_member`)."""


def _notification_error(exc: NotificationError) -> Response:
    """The service error with its status from the error reference (apps/core/api_errors.py)."""
    return domain_error(exc)


def _me(request: Request) -> Member:
    """The caller's member record here; `NotAMember` when they have none."""
    member = member_for_user(user_id=request.user.pk)  # type: ignore[arg-type]
    if member is None:
        raise NotAMember
    return member


def _not_a_member() -> Response:
    return api_error("not_a_member", "Only members of this gym have notifications.")


class MemberApiView(APIView):
    """An endpoint about the caller's own member record (any role with one here)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, NotAMember):
            return _not_a_member()
        if isinstance(exc, NotificationError):
            return _notification_error(exc)
        return super().handle_exception(exc)


# --- the schema's examples and error responses ---------------------------------------------------


NOT_A_MEMBER = error_responses("not_a_member", not_a_member="The caller has no member record at this gym.")
NOTIFICATION_EXAMPLE = {
    "id": 4182,
    "kind": "booking_confirmed",
    "category": "transactional",
    "title": "You're booked: Spin, Tue 14 Apr 18:00",
    "data": {"session": 913, "class": "Spin", "starts_at": "2026-04-14T17:00:00Z"},
    "channel": "push",
    "status": "sent",
    "created_at": "2026-04-10T08:12:03Z",
    "sent_at": "2026-04-10T08:12:05Z",
    "read_at": None,
}
PREFERENCES_EXAMPLE = {
    "transactional": "email",
    "reminders": "push",
    "marketing": "none",
    "sms_opted_out": False,
    "whatsapp_opted_out": False,
}
DEVICE_TOKEN_EXAMPLE = "fcm-dGVzdDpBUEE5MWJIbXpPaDNwQ19IeGJxVjJ0"
DEVICE_EXAMPLE = {
    "token": DEVICE_TOKEN_EXAMPLE,
    "platform": "android",
    "created_at": "2026-04-10T08:00:00Z",
    "last_seen_at": "2026-04-10T08:00:00Z",
}


# --- in-app notifications --------------------------------------------------------------------------


class NotificationListApi(MemberApiView):
    """`GET notifications/`: the caller's notifications, newest first, paged."""

    pagination_class = ApiPagination

    @extend_schema_serializer(component_name="NotificationListFilter")
    class FilterSerializer(serializers.Serializer):
        unread = serializers.BooleanField(required=False, help_text="true: unread only; false: read only; absent: all.")

    @extend_schema(
        operation_id="notifications_list",
        tags=TAGS,
        summary="My notifications (in-app list)",
        description=(
            "Every notification recorded for the caller's member record at this gym, whatever channel it went "
            "out on (or if it was held back), newest first, paged with `page`/`page_size`. `read_at` is null "
            "until the app marks it read (`POST notifications/{id}/read/`)."
        ),
        parameters=[FilterSerializer],
        responses={200: NotificationSerializer(many=True), **NOT_A_MEMBER},
        examples=[
            OpenApiExample(
                "A page of notifications",
                value=NOTIFICATION_EXAMPLE,
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        notifications = member_notifications(member=_me(request), unread=filters.validated_data.get("unread"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(notifications, request, view=self)
        return paginator.get_paginated_response(NotificationSerializer(page, many=True).data)


class NotificationReadApi(MemberApiView):
    """`POST notifications/{id}/read/`: mark one of the caller's notifications read."""

    @extend_schema(
        operation_id="notifications_read",
        tags=TAGS,
        summary="Mark a notification read",
        description=(
            "Sets `read_at` to now. Idempotent: marking it again keeps the first `read_at` and answers 200 "
            "the same. Another member's notification, or one from another gym, answers 404 "
            "`notification_not_found`."
        ),
        request=None,
        responses={200: NotificationSerializer, **error_responses("notification_not_found"), **NOT_A_MEMBER},
        examples=[
            OpenApiExample(
                "Read",
                value=NOTIFICATION_EXAMPLE | {"read_at": "2026-04-10T09:30:00Z"},
                response_only=True,
                status_codes=["200"],
            ),
        ],
    )
    def post(self, request: Request, pk: int) -> Response:
        notification = notification_mark_read(member=_me(request), notification_id=pk)
        return Response(NotificationSerializer(notification).data)


# --- channel preferences ------------------------------------------------------------------------------


class MePreferencesApi(MemberApiView):
    """`GET/PUT me/preferences/`: the caller's channel per category, and their opt-outs."""

    @extend_schema_serializer(component_name="NotificationPreferencesInput")
    class InputSerializer(StrictJsonSerializer):
        transactional = ChannelField(help_text=f"Account, bookings and payments. {CHANNEL_HELP}")
        reminders = ChannelField(help_text=f"Class reminders, expiring memberships, birthdays. {CHANNEL_HELP}")
        marketing = ChannelField(help_text=f"News and offers. {CHANNEL_HELP}")

    @extend_schema(
        operation_id="me_preferences_retrieve",
        tags=TAGS,
        summary="My notification channels",
        description=(
            "The channel per category: `transactional` (account, bookings, payments), `reminders` and "
            "`marketing`. A member who never chose has the defaults: email, email, none. `sms_opted_out` and "
            "`whatsapp_opted_out` are true after the member replied STOP (read-only; they text START to opt in "
            "again)."
        ),
        responses={200: PreferencesSerializer, **NOT_A_MEMBER},
        examples=[
            OpenApiExample("Preferences", value=PREFERENCES_EXAMPLE, response_only=True, status_codes=["200"]),
        ],
    )
    def get(self, request: Request) -> Response:
        return Response(PreferencesSerializer(member_preferences(member=_me(request))).data)

    @extend_schema(
        operation_id="me_preferences_update",
        tags=TAGS,
        summary="Choose my notification channels",
        description=(
            "Sets all three channels. `transactional` cannot be `none` (receipts, failed payments and booking "
            "changes always reach the member): 400 `transactional_required` with a field error. A missing or "
            "unknown channel is 400 `validation_error`. The opt-out flags are not changed here."
        ),
        request=InputSerializer,
        responses={200: PreferencesSerializer, **error_responses("transactional_required"), **NOT_A_MEMBER},
        examples=[
            OpenApiExample(
                "Push reminders, no marketing",
                value={"transactional": "email", "reminders": "push", "marketing": "none"},
                request_only=True,
            ),
            OpenApiExample("Saved", value=PREFERENCES_EXAMPLE, response_only=True, status_codes=["200"]),
        ],
    )
    def put(self, request: Request) -> Response:
        member = _me(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        preference = preferences_update(member=member, **data.validated_data)
        return Response(PreferencesSerializer(preference).data)


# --- push devices ----------------------------------------------------------------------------------------


class DeviceRegisterApi(MemberApiView):
    """`POST devices/`: register the app's push token for the caller."""

    @extend_schema_serializer(component_name="PushDeviceInput")
    class InputSerializer(StrictJsonSerializer):
        token = serializers.CharField(max_length=TOKEN_MAX_LENGTH, help_text="The FCM registration token.")
        platform = PlatformField(help_text="One of " + ", ".join(Device.Platform.values) + ".")

    @extend_schema(
        operation_id="devices_register",
        tags=TAGS,
        summary="Register a push token",
        description=(
            "Call after login and whenever FCM hands the app a new token. 201 when the token is new for the "
            "caller (also when it was another member's: a shared or passed-on phone now notifies the caller "
            "only); 200 when the caller registers it again (its platform and `last_seen_at` are refreshed). "
            "An empty, spaced or too long token, or an unknown platform, is 400 `validation_error` or "
            "`invalid_device`."
        ),
        request=InputSerializer,
        responses={200: DeviceSerializer, 201: DeviceSerializer, **error_responses("invalid_device"), **NOT_A_MEMBER},
        examples=[
            OpenApiExample("Register", value={"token": DEVICE_TOKEN_EXAMPLE, "platform": "android"}, request_only=True),
            OpenApiExample("Registered", value=DEVICE_EXAMPLE, response_only=True, status_codes=["201", "200"]),
        ],
    )
    def post(self, request: Request) -> Response:
        member = _me(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        device, created = device_register(member=member, **data.validated_data)
        return Response(
            DeviceSerializer(device).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class DeviceRemoveApi(MemberApiView):
    """`DELETE devices/{token}/`: forget one of the caller's push tokens."""

    @extend_schema(
        operation_id="devices_remove",
        tags=TAGS,
        summary="Remove a push token",
        description=(
            "Call at logout, so the phone stops getting the member's notifications. 204 when removed; 404 "
            "`device_not_found` when the caller has no such token (another member's token is left alone)."
        ),
        responses={204: None, **error_responses("device_not_found"), **NOT_A_MEMBER},
    )
    def delete(self, request: Request, token: str) -> Response:
        member = _me(request)
        if "\x00" in token:  # no such token can be registered, and PostgreSQL refuses NUL in a query
            raise NotificationError("device_not_found", "This device is not registered.")
        device_remove(member=member, token=token)
        return Response(status=status.HTTP_204_NO_CONTENT)
