"""`/api/v1/bookings/`, `/api/v1/credits/` and the member's private calendar feed.

Who may do what:
- A member books, lists, reads and cancels their own bookings; anyone else's booking
  id is a 404, exactly like an id from another gym.
- Staff (receptionist and up) book on a member's behalf (`member` in the body), list
  every booking (filter by `member`, `session`, `status`), read and cancel any, and
  read any member's credits (`?member=`). A member passing `member` other than
  themselves gets 403 `field_forbidden`.

Service errors keep the code of `BookingError` (apps/bookings/errors.py); the status
says what kind of problem it is:
- 400 `session_not_bookable`, `booking_window_closed`: the session cannot be booked
  now (the app should refresh the schedule).
- 403 `no_valid_membership`: the member's memberships do not allow this class.
- 402 `insufficient_credits`: a purchase (class pack, upgrade) fixes it, so apps can
  route straight to the shop; 402 is the one status that says "pay first".
- 409 `already_booked`, `booking_conflict`, `class_full`, `booking_not_cancellable`:
  the request clashes with the current state of the session or booking.
- 404 `session_not_found` / `member_not_found` for a body id that is not in this gym;
  404 `not_found` for a path id.

A confirmed booking carries `qr_url` (absolute URL of `bookings/{id}/qr.png`, which
needs the same bearer token) and `qr_token` (the signed text in that code, so an app
can draw it offline). Both are null for other statuses. The token is described in
apps/bookings/qr.py.

The calendar feed: `GET bookings/feed-url/` gives the member a private URL,
`bookings/feed/<token>.ics`, which needs no login (calendar apps cannot send one).
See apps/bookings/feeds.py for what it shows and how the link is revoked.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from apps.classes.apis import (
    ICS_EXAMPLE,
    INSTRUCTOR_EXAMPLE,
    SCHEDULE_CLASS_EXAMPLE,
    JsonOnlyNegotiation,
    ScheduleClassSerializer,
    ScheduleInstructorSerializer,
    UtcDateTimeField,
    calendar_response,
)
from apps.classes.models import ClassSession
from apps.core.api_errors import api_error, domain_error, error_responses, field_forbidden
from apps.core.api_input import StrictJsonSerializer
from apps.core.pagination import ApiPagination
from apps.core.qrcodes import qr_png_bytes
from apps.members.models import Member
from apps.members.selectors import member_for_user
from apps.staff.access import GymRolePermission
from apps.staff.roles import Role

from .errors import BookingError
from .feeds import (
    MEMBER_FEED_PAST,
    MEMBER_FEED_STATUSES,
    FeedTokenInvalid,
    member_calendar,
    member_feed_token,
    member_feed_verify,
)
from .models import Booking
from .qr import QrTokenInvalid, booking_qr_check, booking_qr_token
from .selectors import credit_ledger, member_bookings
from .services import booking_cancel, booking_create, credits_summary

BOOKING_CREATE_CODES = (
    "session_not_bookable",
    "booking_window_closed",
    "insufficient_credits",
    "no_valid_membership",
    "field_forbidden",
    "session_not_found",
    "member_not_found",
    "already_booked",
    "booking_conflict",
    "class_full",
)


# `credits/` pages its ledger inside a body of its own, so its page parameters are listed here.
PAGE_PARAMETERS = [
    OpenApiParameter(p["name"], p["schema"], description=p["description"])
    for p in ApiPagination().get_schema_operation_parameters(None)
]


def _booking_error(exc: BookingError) -> Response:
    """The service error with its status from the error reference (apps/core/api_errors.py)."""
    return domain_error(exc)


def _is_staff(request: Request) -> bool:
    role = getattr(request, "gym_role", None)
    return role is not None and Role(role).at_least(Role.RECEPTIONIST)


def _caller_member(request: Request) -> Member | None:
    """The caller's own member record here (staff may have none)."""
    if not hasattr(request, "_caller_member"):
        request._caller_member = member_for_user(user_id=request.user.pk)  # type: ignore[arg-type,attr-defined]
    return request._caller_member  # type: ignore[attr-defined,no-any-return]


def _with_related(bookings: QuerySet[Booking]) -> QuerySet[Booking]:
    return bookings.select_related(
        "member", "session__gym_class__default_instructor", "session__instructor", "membership__plan"
    )


def _visible_bookings(request: Request) -> QuerySet[Booking]:
    """Every booking for staff; the caller's own for a member (none if they have no
    member record)."""
    if _is_staff(request):
        return _with_related(Booking.objects.all())
    member = _caller_member(request)
    if member is None:
        return Booking.objects.none()
    return _with_related(member_bookings(member=member))


def _booking_or_404(request: Request, pk: int) -> Booking:
    booking = _visible_bookings(request).filter(pk=pk).first()
    if booking is None:
        raise Http404
    return booking


# --- serializers ----------------------------------------------------------------------------

BOOKING_EXAMPLE: dict[str, Any] = {
    "id": 70211,
    "status": "confirmed",
    "waitlist_position": None,
    "credits_spent": 1,
    "session": {
        "id": 913,
        "gym_class": SCHEDULE_CLASS_EXAMPLE,
        "instructor": INSTRUCTOR_EXAMPLE,
        "location": "Studio 2",
        "starts_at": "2026-04-14T17:00:00Z",
        "ends_at": "2026-04-14T17:45:00Z",
        "status": "scheduled",
    },
    "member": {"id": 311, "full_name": "Mia Moss"},
    "plan": "Ten classes",
    "created_at": "2026-04-10T08:12:03Z",
    "confirmed_at": "2026-04-10T08:12:03Z",
    "cancelled_at": None,
    "cancel_reason": "",
    "late_cancel_from": "2026-04-14T15:00:00Z",
    "qr_url": "https://iron-works.fitflow.app/api/v1/bookings/70211/qr.png",
    "qr_token": "eyJnIjoiaXJvbl93b3JrcyIsImIiOjcwMjExfQ:1uAbCd:Xk3v",
}


@extend_schema_serializer(component_name="BookingSession")
class BookingSessionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    gym_class = ScheduleClassSerializer()
    instructor = serializers.SerializerMethodField()
    location = serializers.CharField(source="gym_class.location")
    starts_at = UtcDateTimeField()
    ends_at = UtcDateTimeField()
    status = serializers.ChoiceField(choices=ClassSession.Status.choices)

    @extend_schema_field(ScheduleInstructorSerializer(allow_null=True))
    def get_instructor(self, session: ClassSession) -> dict[str, Any] | None:
        """The session's instructor, else the class's default."""
        user = session.instructor or session.gym_class.default_instructor
        return dict(ScheduleInstructorSerializer(user).data) if user is not None else None


@extend_schema_serializer(component_name="BookingMember")
class BookingMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField()


@extend_schema_serializer(
    component_name="Booking",
    examples=[OpenApiExample("A confirmed booking", value=BOOKING_EXAMPLE, response_only=True)],
)
class BookingSerializer(serializers.Serializer):
    """A booking with its session. Times are UTC."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Booking.Status.choices)
    waitlist_position = serializers.IntegerField(allow_null=True, help_text="1 = next in line; null unless waitlisted")
    credits_spent = serializers.IntegerField()
    session = BookingSessionSerializer()
    member = BookingMemberSerializer()
    plan = serializers.SerializerMethodField(help_text="The plan of the membership that paid, if any.")
    created_at = UtcDateTimeField()
    confirmed_at = UtcDateTimeField(allow_null=True)
    cancelled_at = UtcDateTimeField(allow_null=True)
    cancel_reason = serializers.CharField()
    late_cancel_from = serializers.SerializerMethodField(
        help_text="Cancelling from this time on is a late cancel (credits are not refunded)."
    )
    qr_url = serializers.SerializerMethodField(help_text="Absolute URL of the check-in QR (PNG); confirmed only.")
    qr_token = serializers.SerializerMethodField(help_text="The signed text in that QR code; confirmed only.")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_plan(self, booking: Booking) -> str | None:
        membership = booking.membership
        return membership.plan.name if membership is not None else None

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_late_cancel_from(self, booking: Booking) -> str:
        session = booking.session
        moment = session.starts_at - datetime.timedelta(hours=session.cancellation_window_hours)
        return str(UtcDateTimeField().to_representation(moment))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_qr_url(self, booking: Booking) -> str | None:
        if booking.status != Booking.Status.CONFIRMED:
            return None
        path = reverse("api:booking-qr", args=[booking.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_qr_token(self, booking: Booking) -> str | None:
        return booking_qr_token(booking=booking) if booking.status == Booking.Status.CONFIRMED else None


def _booking_data(request: Request, booking: Booking) -> dict[str, Any]:
    return dict(BookingSerializer(booking, context={"request": request}).data)


# --- bookings --------------------------------------------------------------------------------


class BookingListApi(APIView):
    """`GET bookings/`: bookings, paged (a member: their own; staff: all, filterable).
    `POST bookings/`: book a session (a member for themselves; staff for a member)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER
    pagination_class = ApiPagination

    @extend_schema_serializer(component_name="BookingListFilter")
    class FilterSerializer(serializers.Serializer):
        when = serializers.ChoiceField(
            choices=["upcoming", "past", "all"],
            required=False,
            default="all",
            help_text="upcoming: sessions not yet ended, soonest first; past and all: newest first.",
        )
        status = serializers.ChoiceField(choices=Booking.Status.choices, required=False)
        session = serializers.IntegerField(required=False, min_value=1)
        member = serializers.IntegerField(required=False, min_value=1, help_text="Staff only; ignored for members.")

    @extend_schema_serializer(
        component_name="BookingCreateInput",
        examples=[
            OpenApiExample("Book a class", value={"session": 913}, request_only=True),
            OpenApiExample(
                "Staff: book a member, waitlist if full",
                value={"session": 913, "member": 311, "join_waitlist": True},
                request_only=True,
            ),
        ],
    )
    class InputSerializer(StrictJsonSerializer):
        session = serializers.IntegerField(min_value=1)
        join_waitlist = serializers.BooleanField(
            required=False, default=False, help_text="When the class is full, join its waitlist instead of a 409."
        )
        member = serializers.IntegerField(
            required=False, min_value=1, help_text="Staff: the member to book. Members book themselves."
        )

    @extend_schema(
        operation_id="bookings_list",
        tags=["bookings"],
        summary="List bookings (mine; staff: all)",
        description=(
            "A member sees their own bookings; staff (receptionist and up) see every booking and filter by "
            "`member`. Filter by `session` and `status`; `when=upcoming` lists sessions not yet ended, soonest "
            "first (`past` and `all`: newest first). Paged with `page`/`page_size`."
        ),
        parameters=[FilterSerializer],
        responses={200: BookingSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        bookings = _visible_bookings(request)
        if f.get("member") and _is_staff(request):
            bookings = bookings.filter(member_id=f["member"])
        if f.get("session"):
            bookings = bookings.filter(session_id=f["session"])
        if f.get("status"):
            bookings = bookings.filter(status=f["status"])
        now = timezone.now()
        if f["when"] == "upcoming":
            bookings = bookings.filter(session__ends_at__gt=now).order_by("session__starts_at", "id")
        else:
            if f["when"] == "past":
                bookings = bookings.filter(session__ends_at__lte=now)
            bookings = bookings.order_by("-session__starts_at", "-id")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(bookings, request, view=self)
        data = BookingSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="bookings_create",
        tags=["bookings"],
        summary="Book a class session",
        description=(
            "A member books themselves; staff name the `member` (staff without a member record must: else "
            "400 `validation_error`). 201 with the booking: confirmed (credits spent, if the class costs "
            "any), or waitlisted when the class is full and `join_waitlist` is true."
        ),
        request=InputSerializer,
        responses={
            201: BookingSerializer,
            **error_responses(*BOOKING_CREATE_CODES, field_forbidden="A member named someone else as `member`."),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        session = ClassSession.objects.filter(pk=v["session"]).first()
        if session is None:
            return api_error("session_not_found", "This class session does not exist.")
        own = _caller_member(request)
        if v.get("member") and not (own is not None and own.pk == v["member"]):
            if not _is_staff(request):
                return field_forbidden(["member"])
            member = Member.objects.exclude(status=Member.Status.ERASED).filter(pk=v["member"]).first()
            if member is None:
                return api_error("member_not_found", "This member does not exist.")
        elif own is not None:
            member = own
        else:
            return api_error("validation_error", "Some fields are not valid.", {"member": ["Name the member to book."]})
        try:
            booking = booking_create(
                member=member,
                session=session,
                join_waitlist=v["join_waitlist"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except BookingError as exc:
            return _booking_error(exc)
        # The service hands back the booking with its locked session (and class), the
        # member and the paying membership (with its plan): no need to read it again.
        return Response(_booking_data(request, booking), status=status.HTTP_201_CREATED)


class BookingDetailApi(APIView):
    """`GET bookings/{id}/`: one booking. `DELETE bookings/{id}/`: cancel it."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER

    @extend_schema_serializer(component_name="BookingCancelInput")
    class CancelSerializer(StrictJsonSerializer):
        reason = serializers.CharField(
            required=False, allow_blank=True, max_length=255, default="", help_text="Why (in the query or the body)."
        )

    @extend_schema(
        operation_id="bookings_retrieve",
        tags=["bookings"],
        summary="Read a booking",
        description=(
            "The booking with its session. Staff read any; a member gets 404 for anyone else's booking, "
            "as for an id of another gym."
        ),
        responses={200: BookingSerializer},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_booking_data(request, _booking_or_404(request, pk)))

    @extend_schema(
        operation_id="bookings_cancel",
        tags=["bookings"],
        summary="Cancel a booking",
        description=(
            "The optional `reason` comes in the JSON body or the query string. 200 with the booking: "
            "`cancelled` (credits refunded) or, inside the session's cancellation window, `late_cancelled` "
            "(no refund unless the gym's policy says so). A freed spot goes to the waitlist at once. "
            "A member cancels their own bookings; staff any."
        ),
        parameters=[CancelSerializer],
        request=CancelSerializer,
        responses={
            200: OpenApiResponse(
                BookingSerializer,
                description="The booking, now cancelled or late-cancelled.",
                examples=[
                    OpenApiExample(
                        "Cancelled",
                        value=BOOKING_EXAMPLE
                        | {
                            "status": "cancelled",
                            "credits_spent": 0,
                            "cancelled_at": "2026-04-12T09:30:00Z",
                            "cancel_reason": "Work",
                            "qr_url": None,
                            "qr_token": None,
                        },
                        response_only=True,
                        status_codes=["200"],
                    )
                ],
            ),
            **error_responses("booking_not_cancellable"),
        },
    )
    def delete(self, request: Request, pk: int) -> Response:
        booking = _booking_or_404(request, pk)
        body = request.data if isinstance(request.data, dict) and request.data else request.query_params
        data = self.CancelSerializer(data={"reason": body.get("reason", "")})
        data.is_valid(raise_exception=True)
        try:
            booking_cancel(
                booking=booking,
                reason=data.validated_data["reason"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except BookingError as exc:
            return _booking_error(exc)
        return Response(_booking_data(request, _booking_or_404(request, pk)))


class BookingQrApi(APIView):
    """`GET bookings/{id}/qr.png`: the check-in QR code of a confirmed booking."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER
    content_negotiation_class = JsonOnlyNegotiation

    @extend_schema(
        operation_id="bookings_qr",
        tags=["bookings"],
        summary="The booking's check-in QR code (PNG)",
        description=(
            "Only the booking's member or staff. The code holds the signed token (`qr_token` of the booking), "
            "which the front desk scans. Errors are JSON whatever `Accept` says."
        ),
        responses={
            (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="A PNG of the QR code."),
            **error_responses("not_confirmed", "expired"),
        },
    )
    def get(self, request: Request, pk: int) -> HttpResponse | Response:
        booking = _booking_or_404(request, pk)
        try:
            booking_qr_check(booking=booking)
        except QrTokenInvalid as exc:
            return api_error(exc.code, exc.reason)
        response = HttpResponse(qr_png_bytes(booking_qr_token(booking=booking)), content_type="image/png")
        response["Cache-Control"] = "private, max-age=300"
        return response


# --- the member's calendar feed ------------------------------------------------------------------


class BookingFeedUrlApi(APIView):
    """`GET bookings/feed-url/`: the caller's private calendar-feed URL."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER

    @extend_schema_serializer(
        component_name="BookingFeedUrl",
        examples=[
            OpenApiExample(
                "Feed URL",
                value={
                    "url": "https://iron-works.fitflow.app/api/v1/bookings/feed/MzExOjFhYmNk.ics",
                    "webcal_url": "webcal://iron-works.fitflow.app/api/v1/bookings/feed/MzExOjFhYmNk.ics",
                },
                response_only=True,
            )
        ],
    )
    class OutputSerializer(serializers.Serializer):
        url = serializers.URLField(help_text="https URL of the .ics feed; anyone with it sees your bookings.")
        webcal_url = serializers.CharField(help_text="The same as webcal://, which opens the calendar app.")

    @extend_schema(
        operation_id="bookings_feed_url",
        tags=["bookings"],
        summary="My private calendar-feed URL",
        description=(
            "Subscribe a calendar app to `url`. It stays the same until the account's password changes, "
            "which retires every earlier link."
        ),
        responses={200: OutputSerializer, **error_responses("not_a_member")},
    )
    def get(self, request: Request) -> Response:
        member = _caller_member(request)
        if member is None:
            return api_error("not_a_member", "Only members have a bookings calendar.")
        member.user = request.user  # type: ignore[assignment]  # the linked login, already loaded
        path = reverse("api:booking-feed", kwargs={"token": member_feed_token(member=member)})
        url = request.build_absolute_uri(path)
        webcal = "webcal://" + url.split("://", 1)[1]
        return Response(self.OutputSerializer({"url": url, "webcal_url": webcal}).data)


class BookingFeedApi(APIView):
    """`GET bookings/feed/<token>.ics`: a member's bookings as iCalendar (no login)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    # Calendar services poll from shared IPs: a scope of its own, not the anon API rate.
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "feeds"
    content_negotiation_class = JsonOnlyNegotiation
    cache_control = "private, max-age=900"

    @extend_schema(
        operation_id="bookings_feed",
        tags=["bookings"],
        summary="My bookings as iCalendar (.ics), by private token",
        description=(
            "No authentication: the token in the path is the key. Confirmed and waitlisted bookings (tentative), "
            "and attended or no-show ones of the last 60 days; times in UTC. Sends `ETag` (304 on a match). "
            "A forged, other-gym or revoked token is 404 `not_found`. Errors are JSON."
        ),
        auth=[],
        responses={
            (200, "text/calendar"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The member's bookings as iCalendar.",
                examples=[
                    OpenApiExample(
                        "Bookings",
                        value=ICS_EXAMPLE,
                        media_type="text/calendar",
                        response_only=True,
                        status_codes=["200"],
                    )
                ],
            ),
            304: OpenApiResponse(description="Not modified."),
        },
    )
    def get(self, request: Request, token: str) -> HttpResponse | Response:
        try:
            member = member_feed_verify(token=token)
        except FeedTokenInvalid:
            return api_error("not_found", "This calendar link is not valid (it may have been reset).")
        since = timezone.now() - MEMBER_FEED_PAST
        bookings = (
            member_bookings(member=member)
            .filter(status__in=MEMBER_FEED_STATUSES, session__starts_at__gte=since)
            .select_related("session__gym_class__default_instructor", "session__instructor")
        )
        content = member_calendar(gym=request.tenant, bookings=bookings)  # type: ignore[attr-defined]
        return calendar_response(request, content, filename="my-classes.ics", cache_control=self.cache_control)


# --- credits -------------------------------------------------------------------------------------


@extend_schema_serializer(component_name="CreditBucket")
class CreditBucketSerializer(serializers.Serializer):
    membership = serializers.IntegerField(source="membership.pk")
    plan = serializers.CharField(source="plan_name")
    balance = serializers.IntegerField(allow_null=True, help_text="null = unlimited")
    expires_on = serializers.DateField(allow_null=True, help_text="The last day the credits may be used.")
    unlimited = serializers.BooleanField()
    usable = serializers.BooleanField(help_text="Active membership, credits not lapsed.")


@extend_schema_serializer(component_name="CreditEntry")
class CreditEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    # A plain string in the schema: a second `kind` enum would rename the plans' `KindEnum`
    # component (drf-spectacular resolves the name collision with a hash suffix).
    kind = serializers.CharField(help_text="purchase, grant, spend, refund, expire or adjust")
    amount = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    membership = serializers.IntegerField(source="membership_id")
    plan = serializers.CharField(source="membership.plan.name")
    booking = serializers.IntegerField(source="booking_id", allow_null=True)
    class_name = serializers.CharField(source="booking.session.gym_class.name", allow_null=True, default=None)
    session_starts_at = UtcDateTimeField(source="booking.session.starts_at", allow_null=True, default=None)
    expires_on = serializers.DateField(allow_null=True)
    note = serializers.CharField()
    created_at = UtcDateTimeField()


class CreditsApi(APIView):
    """`GET credits/`: my credits per bucket and my ledger (newest first, paged)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER
    pagination_class = ApiPagination

    @extend_schema_serializer(component_name="CreditsFilter")
    class FilterSerializer(serializers.Serializer):
        member = serializers.IntegerField(required=False, min_value=1, help_text="Staff: whose credits.")

    @extend_schema_serializer(
        component_name="Credits",
        examples=[
            OpenApiExample(
                "A class pack",
                value={
                    "total": 7,
                    "unlimited": False,
                    "buckets": [
                        {
                            "membership": 5130,
                            "plan": "Ten classes",
                            "balance": 7,
                            "expires_on": "2026-06-30",
                            "unlimited": False,
                            "usable": True,
                        }
                    ],
                    "count": 4,
                    "next": None,
                    "previous": None,
                    "results": [
                        {
                            "id": 9902,
                            "kind": "spend",
                            "amount": -1,
                            "balance_after": 7,
                            "membership": 5130,
                            "plan": "Ten classes",
                            "booking": 70211,
                            "class_name": "Spin",
                            "session_starts_at": "2026-04-14T17:00:00Z",
                            "expires_on": "2026-06-30",
                            "note": "",
                            "created_at": "2026-04-10T08:12:03Z",
                        }
                    ],
                },
                response_only=True,
            )
        ],
    )
    class OutputSerializer(serializers.Serializer):
        total = serializers.IntegerField(help_text="Usable limited credits over all buckets.")
        unlimited = serializers.BooleanField(help_text="An active membership books without credits.")
        buckets = CreditBucketSerializer(many=True, help_text="In the order they are spent.")
        count = serializers.IntegerField(help_text="Ledger rows in all.")
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = CreditEntrySerializer(many=True, help_text="The ledger, newest row first.")

    @extend_schema(
        operation_id="credits_retrieve",
        tags=["bookings"],
        summary="My class credits and ledger",
        description=(
            "Balances per credit bucket (current memberships) and the append-only ledger, paged with "
            "`page`/`page_size`. Staff pass `member` (staff without a member record must: else 400 "
            "`validation_error`)."
        ),
        parameters=[FilterSerializer, *PAGE_PARAMETERS],
        responses={
            200: OutputSerializer,
            **error_responses(
                "field_forbidden", "member_not_found", field_forbidden="A member named someone else as `member`."
            ),
        },
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data.get("member")
        own = _caller_member(request)
        if wanted and not (own is not None and own.pk == wanted):
            if not _is_staff(request):
                return field_forbidden(["member"])
            member = Member.objects.filter(pk=wanted).first()
            if member is None:
                return api_error("member_not_found", "This member does not exist.")
        elif own is not None:
            member = own
        else:
            return api_error("validation_error", "Some fields are not valid.", {"member": ["Name the member."]})
        summary = credits_summary(member=member)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(credit_ledger(member=member), request, view=self)
        return Response(
            {
                "total": summary.total,
                "unlimited": summary.unlimited,
                "buckets": CreditBucketSerializer(summary.buckets, many=True).data,
                "count": paginator.page.paginator.count,  # type: ignore[union-attr]
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": CreditEntrySerializer(page, many=True).data,
            }
        )
