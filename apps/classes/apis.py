"""`/api/v1/schedule/` (the timetable for the apps) and `/api/v1/schedule.ics` (the
public iCalendar feed of the timetable).

`GET schedule/` answers any role at the gym, members included. Times are UTC
(`...Z`); the gym's IANA timezone is `timezone` in the body, for display. Per session:
`total_spots`, `available_spots`, `waitlist_count`, `waitlist_available`, `can_book`
and `my_booking` for the caller. `can_book` is a cheap pre-check for the button (the
booking window is open, there is a spot or a waitlist, the caller has no active
booking there and holds an active membership whose plan may book the class on that
day); `POST bookings/` (`booking_create`) is the authoritative check, which also
looks at access hours and credits. Staff with no member record here get `can_book`
false and `my_booking` null.

Polling: the answer carries a strong `ETag`, the SHA-256 of the body. The body
depends on the caller (`my_booking`, `can_book`) and on the clock (a booking window
opens, a session starts), so no database timestamp alone could stand for it; the
hash is exact by construction, and a `304 Not Modified` saves the app the transfer
and the parsing. The queries are a fixed handful whatever the range holds. Without
`start`, the range starts at the top of the current hour (not the current second),
so that the echoed `start` does not change the body, and the ETag, on every poll;
sessions that began earlier in the hour are listed with `can_book` false.

`GET schedule.ics` is public (no login, like the booking widgets studios embed):
scheduled sessions from a week back to six weeks ahead, class, room and instructor
names only, never a member. It takes the same `type` and `instructor` filters.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from apps.bookings.feeds import timetable_calendar, timetable_range
from apps.bookings.models import Booking
from apps.bookings.selectors import member_bookings_by_session
from apps.bookings.services import HOLDING_STATUSES, session_closed_reason
from apps.classes.selectors import sessions_between
from apps.core.api_errors import api_error, error_responses
from apps.core.api_input import CALENDAR_HELP, within_calendar
from apps.members.models import Member
from apps.members.selectors import member_for_user
from apps.memberships.models import Membership
from apps.staff.access import GymRolePermission
from apps.staff.roles import Role

from .models import ClassSession, GymClass

ICS_EXAMPLE = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//FitFlow//Timetable//EN\r\nX-WR-TIMEZONE:Europe/London\r\n"
    "BEGIN:VEVENT\r\nUID:session-913@iron-works\r\nDTSTART:20260414T170000Z\r\nDTEND:20260414T174500Z\r\n"
    "SUMMARY:Spin\r\nLOCATION:Studio 2\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)
DEFAULT_RANGE = datetime.timedelta(days=7)
MAX_RANGE = datetime.timedelta(days=31)


class UtcDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time written in UTC (`...Z`), whatever timezone is active (the
    gym's, during a request)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(default_timezone=datetime.UTC, **kwargs)


class JsonOnlyNegotiation(BaseContentNegotiation):
    """For views that answer a file (PNG, .ics) as a plain HttpResponse: errors are
    always JSON, whatever `Accept` says (calendar apps send `text/calendar`, image
    loaders `image/*`; DRF would otherwise refuse them with 406 before the view runs)."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


# --- conditional GET ------------------------------------------------------------------------


def body_etag(data: Any) -> str:
    """A strong ETag for a JSON-able body: the SHA-256 of its canonical JSON."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return f'"{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"'


def bytes_etag(content: bytes) -> str:
    return f'"{hashlib.sha256(content).hexdigest()[:32]}"'


def etag_matches(request: Request, etag: str) -> bool:
    """True when `If-None-Match` names `etag` (weak comparison, RFC 9110 13.1.2) or is `*`."""
    header = request.headers.get("If-None-Match", "")
    if not header:
        return False
    tags = parse_etags(header)
    if "*" in tags:
        return True
    bare = etag.removeprefix("W/")
    return any(tag.removeprefix("W/") == bare for tag in tags)


def not_modified(etag: str, cache_control: str) -> Response:
    """304 with the headers the 200 would have carried (RFC 9110 15.4.5)."""
    headers = {"ETag": etag, "Cache-Control": cache_control, "Vary": "Authorization"}
    return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)


# --- the caller's view of the sessions ------------------------------------------------------


class CallerBookingState:
    """What `can_book` and `my_booking` need about the calling member, loaded in three
    queries for the whole range: their bookings there, their active memberships, and
    which plans each class in range admits."""

    def __init__(self, *, member: Member | None, sessions: list[ClassSession], start: datetime.datetime) -> None:
        self.member = member
        self.bookings: dict[int, Booking] = {}
        self.memberships: list[Membership] = []
        self.class_plans: dict[int, set[int]] = {}
        if member is None or not sessions:
            return
        self.bookings = member_bookings_by_session(member=member, session_ids=[s.pk for s in sessions])
        self.memberships = list(
            Membership.objects.filter(member=member, status=Membership.Status.ACTIVE)
            .filter(Q(end_date__isnull=True) | Q(end_date__gte=start.date() - datetime.timedelta(days=1)))
            .only("id", "plan_id", "start_date", "end_date", "cancel_at_period_end", "next_billing_date")
        )
        if self.memberships:
            through = GymClass.allowed_plans.through
            pairs = through.objects.filter(gymclass_id__in={s.gym_class_id for s in sessions})
            for class_id, plan_id in pairs.values_list("gymclass_id", "plan_id"):
                self.class_plans.setdefault(class_id, set()).add(plan_id)

    def has_membership_for(self, session: ClassSession, day: datetime.date) -> bool:
        """An active membership covers `day` and its plan may book the class. (Access
        hours, freezes and credits are left to `booking_create`.)"""
        allowed = self.class_plans.get(session.gym_class_id)
        return any(
            m.start_date <= day
            and (m.end_date is None or m.end_date >= day)
            and not (m.cancel_at_period_end and m.next_billing_date is not None and m.next_billing_date <= day)
            and (not allowed or m.plan_id in allowed)
            for m in self.memberships
        )


def schedule_rows(
    *, sessions: Iterable[ClassSession], caller: CallerBookingState, now: datetime.datetime, zone: zoneinfo.ZoneInfo
) -> list[dict[str, Any]]:
    """Each session (from `sessions_with_counts`) with spots and the caller's state.
    `my_booking` is the caller's current booking there, else their latest cancelled
    one (`member_bookings_by_session`); only a current one stops `can_book`."""
    rows = []
    for session in sessions:
        total = session.capacity
        booked = session.booked_count  # type: ignore[attr-defined]
        available = max(total - booked, 0)
        window_open = session_closed_reason(session, now=now) is None
        waitlist_available = window_open and available == 0
        mine = caller.bookings.get(session.pk)
        can_book = (
            caller.member is not None
            and window_open
            and (available > 0 or waitlist_available)
            and (mine is None or mine.status not in HOLDING_STATUSES)
            and caller.has_membership_for(session, session.starts_at.astimezone(zone).date())
        )
        rows.append(
            {
                "id": session.pk,
                "gym_class": session.gym_class,
                "instructor": session.instructor or session.gym_class.default_instructor,
                "starts_at": session.starts_at,
                "ends_at": session.ends_at,
                "location": session.gym_class.location,
                "total_spots": total,
                "booked_spots": booked,
                "available_spots": available,
                "waitlist_count": session.waitlist_count,  # type: ignore[attr-defined]
                "waitlist_available": waitlist_available,
                "booking_opens_at": session.starts_at - datetime.timedelta(hours=session.booking_window_hours),
                "late_cancel_from": session.starts_at - datetime.timedelta(hours=session.cancellation_window_hours),
                "can_book": can_book,
                "my_booking": mine,
            }
        )
    return rows


def schedule_sessions(
    *, start: datetime.datetime, end: datetime.datetime, instructor_id: int | None = None, class_type: str = ""
) -> list[ClassSession]:
    """Scheduled sessions starting in [start, end) with their class, instructors and
    spot counts: `sessions_between`, scheduled only. One query."""
    sessions = sessions_between(start=start, end=end, instructor_id=instructor_id, class_type=class_type)
    return list(sessions.filter(status=ClassSession.Status.SCHEDULED))


# --- serializers ----------------------------------------------------------------------------


SCHEDULE_CLASS_EXAMPLE = {
    "id": 41,
    "name": "Spin",
    "type": "cycling",
    "difficulty": "intermediate",
    "colour": "#e4572e",
    "duration_minutes": 45,
    "credits_required": 1,
}
INSTRUCTOR_EXAMPLE = {"id": 907, "name": "Jo Park"}
SCHEDULE_SESSION_EXAMPLE: dict[str, Any] = {
    "id": 913,
    "gym_class": SCHEDULE_CLASS_EXAMPLE,
    "instructor": INSTRUCTOR_EXAMPLE,
    "starts_at": "2026-04-14T17:00:00Z",
    "ends_at": "2026-04-14T17:45:00Z",
    "location": "Studio 2",
    "total_spots": 20,
    "booked_spots": 18,
    "available_spots": 2,
    "waitlist_count": 0,
    "waitlist_available": False,
    "booking_opens_at": "2026-04-07T17:00:00Z",
    "late_cancel_from": "2026-04-14T15:00:00Z",
    "can_book": False,
    "my_booking": {"id": 70211, "status": "confirmed", "waitlist_position": None},
}


@extend_schema_serializer(component_name="ScheduleClass")
class ScheduleClassSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=GymClass.Type.choices)
    difficulty = serializers.ChoiceField(choices=GymClass.Difficulty.choices)
    colour = serializers.CharField()
    duration_minutes = serializers.IntegerField()
    credits_required = serializers.IntegerField()


@extend_schema_serializer(component_name="ScheduleInstructor")
class ScheduleInstructorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()

    def get_name(self, user: Any) -> str:
        return str(user.get_full_name())


@extend_schema_serializer(component_name="ScheduleMyBooking")
class ScheduleMyBookingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    # A plain string in the schema (the values of `Booking.status`): the same enum in two
    # components would get a hash-suffixed name from drf-spectacular.
    status = serializers.CharField(help_text="As Booking.status: confirmed, waitlisted, cancelled, late_cancelled, ...")
    waitlist_position = serializers.IntegerField(allow_null=True, help_text="1 = next in line; null unless waitlisted")


@extend_schema_serializer(component_name="ScheduleSession")
class ScheduleSessionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    gym_class = ScheduleClassSerializer()
    instructor = ScheduleInstructorSerializer(allow_null=True, help_text="The session's, else the class's default.")
    starts_at = UtcDateTimeField()
    ends_at = UtcDateTimeField()
    location = serializers.CharField()
    total_spots = serializers.IntegerField()
    booked_spots = serializers.IntegerField()
    available_spots = serializers.IntegerField()
    waitlist_count = serializers.IntegerField()
    waitlist_available = serializers.BooleanField(help_text="Full, and the booking window is open: join the waitlist.")
    booking_opens_at = UtcDateTimeField()
    late_cancel_from = UtcDateTimeField(
        help_text="Cancelling from this time on is a late cancel (no refund of credits)."
    )
    can_book = serializers.BooleanField(
        help_text="Pre-check for the caller (window, space or waitlist, active membership). POST bookings/ decides."
    )
    my_booking = ScheduleMyBookingSerializer(allow_null=True)


class ScheduleApi(APIView):
    """`GET schedule/`: scheduled sessions in a time range, with spots and the caller's
    booking state. See the module docstring for `can_book` and the ETag."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER
    cache_control = "private, no-cache"

    @extend_schema_serializer(component_name="ScheduleFilter")
    class FilterSerializer(serializers.Serializer):
        start = serializers.DateTimeField(
            required=False,
            validators=[within_calendar],
            help_text="Default: the start of the current hour (so polls within the hour can share an ETag). "
            f"A date alone means gym-local midnight. {CALENDAR_HELP}",
        )
        end = serializers.DateTimeField(
            required=False,
            validators=[within_calendar],
            help_text=f"Default start + 7 days; at most start + 31 days. {CALENDAR_HELP}",
        )
        type = serializers.ChoiceField(choices=GymClass.Type.choices, required=False)
        instructor = serializers.IntegerField(required=False, min_value=1)

    @extend_schema_serializer(
        component_name="Schedule",
        examples=[
            OpenApiExample(
                "A week",
                value={
                    "timezone": "Europe/London",
                    "start": "2026-04-14T08:00:00Z",
                    "end": "2026-04-21T08:00:00Z",
                    "results": [SCHEDULE_SESSION_EXAMPLE],
                },
                response_only=True,
            )
        ],
    )
    class OutputSerializer(serializers.Serializer):
        timezone = serializers.CharField(help_text="The gym's IANA timezone; times in this body are UTC.")
        start = UtcDateTimeField()
        end = UtcDateTimeField()
        results = ScheduleSessionSerializer(many=True)

    @extend_schema(
        operation_id="schedule_list",
        tags=["schedule"],
        summary="The timetable, with spots and my bookings",
        description=(
            "Scheduled sessions starting in [start, end) (default: the next 7 days from the top of the hour; "
            "at most 31 days; `end` before `start` is 400 `validation_error`), filtered by class `type` and "
            "`instructor`, with spots, the waitlist and the caller's booking state. Times are UTC. Sends "
            "`ETag`; with a matching `If-None-Match` the answer is 304 with no body."
        ),
        parameters=[FilterSerializer],
        responses={
            200: OutputSerializer,
            304: OpenApiResponse(description="Not modified (If-None-Match matched the ETag)."),
            **error_responses("range_too_long"),
        },
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        now = timezone.now()
        start = f.get("start") or now.replace(minute=0, second=0, microsecond=0)
        end = f.get("end") or start + DEFAULT_RANGE
        if end <= start:
            return api_error("validation_error", "Some fields are not valid.", {"end": ["Must be after start."]})
        if end - start > MAX_RANGE:
            return api_error(
                "range_too_long", f"Ask for at most {MAX_RANGE.days} days at a time.", {"max_days": MAX_RANGE.days}
            )
        gym = request.tenant  # type: ignore[attr-defined]
        sessions = schedule_sessions(
            start=start, end=end, instructor_id=f.get("instructor"), class_type=f.get("type", "")
        )
        member = member_for_user(user_id=request.user.pk)  # type: ignore[arg-type]
        caller = CallerBookingState(member=member, sessions=sessions, start=start)
        rows = schedule_rows(sessions=sessions, caller=caller, now=now, zone=zoneinfo.ZoneInfo(gym.timezone))
        data = self.OutputSerializer({"timezone": gym.timezone, "start": start, "end": end, "results": rows}).data
        etag = body_etag(data)
        if etag_matches(request, etag):
            return not_modified(etag, self.cache_control)
        return Response(data, headers={"ETag": etag, "Cache-Control": self.cache_control, "Vary": "Authorization"})


class ScheduleFeedApi(APIView):
    """`GET schedule.ics`: the gym's public timetable as an iCalendar feed (no login)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    # Calendar services poll from shared IPs: a scope of its own, not the anon API rate.
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "feeds"
    content_negotiation_class = JsonOnlyNegotiation
    cache_control = "public, max-age=900"

    @extend_schema_serializer(component_name="ScheduleFeedFilter")
    class FilterSerializer(serializers.Serializer):
        type = serializers.ChoiceField(choices=GymClass.Type.choices, required=False)
        instructor = serializers.IntegerField(required=False, min_value=1)

    @extend_schema(
        operation_id="schedule_feed",
        tags=["schedule"],
        summary="The public timetable as iCalendar (.ics)",
        description=(
            "No authentication. Scheduled sessions from 7 days ago to 42 days ahead, times in UTC, the gym's "
            "timezone in X-WR-TIMEZONE; no member names. Filter by class `type` and `instructor`. Sends "
            "`ETag` (304 on a match). Subscribe a calendar app to it. Errors are JSON."
        ),
        auth=[],
        parameters=[FilterSerializer],
        responses={
            (200, "text/calendar"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The timetable as iCalendar.",
                examples=[
                    OpenApiExample(
                        "Timetable",
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
    def get(self, request: Request) -> HttpResponse | Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        start, end = timetable_range()
        sessions = schedule_sessions(
            start=start, end=end, instructor_id=f.get("instructor"), class_type=f.get("type", "")
        )
        content = timetable_calendar(gym=request.tenant, sessions=sessions)  # type: ignore[attr-defined]
        return calendar_response(request, content, filename="timetable.ics", cache_control=self.cache_control)


def calendar_response(request: Request, content: bytes, *, filename: str, cache_control: str) -> HttpResponse:
    """An .ics answer with an ETag; 304 when the client already has it."""
    etag = bytes_etag(content)
    if etag_matches(request, etag):
        response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
    else:
        response = HttpResponse(content, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    return response
