"""iCalendar feeds (RFC 5545, the `icalendar` package): the gym's public timetable and
each member's private calendar of their bookings, plus the member feed's token.

Both feeds write times in UTC (`DTSTART:20260105T070000Z`), which every calendar app
converts to the viewer's zone; the gym's IANA timezone goes in `X-WR-TIMEZONE` (and
the calendar's description) so apps that honour it show the gym's wall clock. UIDs
are stable per class session (`session-<id>.<schema>@fitflow`) and per booking
(`booking-<id>.<schema>@fitflow`), so a refresh updates events instead of doubling
them, and two gyms' events never collide. `DTSTAMP` is the row's last change, so an
unchanged timetable renders byte-for-byte the same.

The public timetable names classes, rooms and instructors, never members. The member
feed names the member's own bookings only.

Member feed token: `signing.dumps({"g": schema, "m": member id, "k": key})` with the
salt `FEED_SALT`. It never expires (calendar apps poll one URL for years), so it is
revocable instead: `k` is an HMAC of the member's linked login's password hash, so
changing the password retires every feed URL handed out before (as Django's
password-reset tokens do), and erasing the member or unlinking their login makes it
404. A "reset my calendar link" button without a password change needs a per-member
key column (not in the models yet).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.core import signing
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from icalendar import Calendar, Event

from apps.classes.models import ClassSession
from apps.members.models import Member
from apps.tenants.models import Gym
from apps.tenants.selectors import current_schema_name

from .models import Booking

FEED_SALT = "fitflow.bookings.feed"
PRODID = "-//FitFlow//Class timetable//EN"
# What the feeds cover: calendar apps keep past events they have seen, so a short
# look-back is enough; the look-ahead matches the longest booking windows.
TIMETABLE_PAST = datetime.timedelta(days=7)
TIMETABLE_AHEAD = datetime.timedelta(days=42)
MEMBER_FEED_PAST = datetime.timedelta(days=60)
# Bookings the member feed shows (cancelled ones drop out, so calendar apps remove them).
MEMBER_FEED_STATUSES = [
    Booking.Status.CONFIRMED,
    Booking.Status.WAITLISTED,
    Booking.Status.ATTENDED,
    Booking.Status.NO_SHOW,
]
# Calendar apps re-fetch a subscription about this often (RFC 7986 REFRESH-INTERVAL
# and the older X-PUBLISHED-TTL that Apple and Google read).
REFRESH_INTERVAL = datetime.timedelta(hours=1)


class FeedTokenInvalid(Exception):
    """A member feed token that names nobody here (answered as a plain 404)."""


def session_uid(*, session_id: int, schema: str) -> str:
    return f"session-{session_id}.{schema}@fitflow"


def booking_uid(*, booking_id: int, schema: str) -> str:
    return f"booking-{booking_id}.{schema}@fitflow"


def instructor_name(session: ClassSession) -> str:
    """The session's instructor (override, else the class's default) by name; never an
    email, since the public timetable shows it."""
    user = session.instructor or session.gym_class.default_instructor
    return user.get_full_name() if user is not None else ""


def _calendar(*, gym: Gym, name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", gym.timezone)
    calendar.add("x-wr-caldesc", f"{gym.name} class timetable. Times are in UTC; the gym is in {gym.timezone}.")
    calendar.add("refresh-interval", REFRESH_INTERVAL, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", REFRESH_INTERVAL)
    return calendar


def _session_event(session: ClassSession, *, uid: str, stamp: datetime.datetime) -> Event:
    gym_class = session.gym_class
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp.astimezone(datetime.UTC))
    event.add("dtstart", session.starts_at.astimezone(datetime.UTC))
    event.add("dtend", session.ends_at.astimezone(datetime.UTC))
    event.add("summary", gym_class.name)
    if gym_class.location:
        event.add("location", gym_class.location)
    lines = [gym_class.get_type_display(), gym_class.get_difficulty_display()]
    instructor = instructor_name(session)
    if instructor:
        lines.append(f"Instructor: {instructor}")
    if gym_class.description:
        lines.append(gym_class.description)
    event.add("description", "\n".join(str(line) for line in lines))
    event.add("categories", [str(gym_class.get_type_display())])
    return event


def timetable_calendar(*, gym: Gym, sessions: Iterable[ClassSession]) -> bytes:
    """The gym's timetable as an .ics document: one VEVENT per session given (pass only
    scheduled ones, with `gym_class` and the instructors loaded)."""
    calendar = _calendar(gym=gym, name=f"{gym.name} timetable")
    schema = gym.schema_name
    for session in sessions:
        event = _session_event(session, uid=session_uid(session_id=session.pk, schema=schema), stamp=session.updated_at)
        event.add("status", "CONFIRMED")
        event.add("transp", "OPAQUE")
        calendar.add_component(event)
    return bytes(calendar.to_ical())


def member_calendar(*, gym: Gym, bookings: Iterable[Booking]) -> bytes:
    """One member's bookings as an .ics document: a VEVENT per booking (session, class
    and instructors loaded), tentative while waitlisted."""
    calendar = _calendar(gym=gym, name=f"My classes at {gym.name}")
    schema = gym.schema_name
    for booking in bookings:
        session = booking.session
        stamp = max(
            t for t in (session.updated_at, booking.created_at, booking.confirmed_at, booking.cancelled_at) if t
        )
        event = _session_event(session, uid=booking_uid(booking_id=booking.pk, schema=schema), stamp=stamp)
        if booking.status == Booking.Status.WAITLISTED:
            event["summary"] = f"{session.gym_class.name} (waitlist #{booking.waitlist_position or '?'})"
            event.add("status", "TENTATIVE")
        else:
            event.add("status", "CONFIRMED")
        if session.status == ClassSession.Status.CANCELLED:
            event["summary"] = f"Cancelled: {session.gym_class.name}"
            event["status"] = "CANCELLED"
        calendar.add_component(event)
    return bytes(calendar.to_ical())


def timetable_range(*, now: datetime.datetime | None = None) -> tuple[datetime.datetime, datetime.datetime]:
    """The (start, end) the public timetable feed covers."""
    now = now or timezone.now()
    return now - TIMETABLE_PAST, now + TIMETABLE_AHEAD


# --- the member feed's token ---------------------------------------------------------------


def _member_key(member: Member) -> str:
    user = member.user
    secret = f"{member.pk}:{user.pk}:{user.password}" if user is not None else ""
    return salted_hmac(FEED_SALT, secret, algorithm="sha256").hexdigest()[:20]


def member_feed_token(*, member: Member) -> str:
    """The private calendar-feed token of `member` (who must have a login), at the
    current gym. Stable until their password changes."""
    return signing.dumps({"g": current_schema_name(), "m": member.pk, "k": _member_key(member)}, salt=FEED_SALT)


def member_feed_verify(*, token: str) -> Member:
    """The member a feed token belongs to, at the current gym. Raises
    `FeedTokenInvalid` for a forged, other-gym or revoked token, or an erased member."""
    try:
        payload = signing.loads(token, salt=FEED_SALT)
    except (signing.BadSignature, ValueError, UnicodeError) as exc:
        raise FeedTokenInvalid("forged") from exc
    if not isinstance(payload, dict) or payload.get("g") != current_schema_name():
        raise FeedTokenInvalid("other_gym")
    member_id = payload.get("m")
    if not isinstance(member_id, int):
        raise FeedTokenInvalid("forged")
    member = (
        Member.objects.select_related("user")
        .filter(pk=member_id, user__isnull=False)
        .exclude(status=Member.Status.ERASED)
        .first()
    )
    if member is None or not constant_time_compare(str(payload.get("k", "")), _member_key(member)):
        raise FeedTokenInvalid("revoked")
    return member
