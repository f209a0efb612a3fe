"""Reads of the front desk: occupancy, the live feed, a day's check-ins, desk search."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from apps.members.models import Member
from apps.members.selectors import member_list
from apps.tenants.models import Gym

from .models import CheckIn

WARNING_RATIO = 0.85
"""Above 85% of capacity the desk counter turns amber (the issue's warning level)."""
BUSY_RATIO = 0.5


@dataclass(frozen=True)
class Occupancy:
    """How many are in the gym now. `count`: open check-ins; `capacity`: the gym's
    setting; `level`: quiet (< 50%), busy (50-85%), very_busy (> 85%) or full
    (>= 100%); `as_of`: when it was counted (aware, UTC), so a client can drop an
    update older than one it already shows."""

    count: int
    capacity: int
    level: str
    as_of: datetime.datetime

    @property
    def percent(self) -> int:
        """`count` as a whole percentage of `capacity` (0 when capacity is 0)."""
        return round(100 * self.count / self.capacity) if self.capacity else 0

    @property
    def warning(self) -> bool:
        """True above 85% of capacity."""
        return self.level in ("very_busy", "full")

    def as_dict(self) -> dict[str, object]:
        """The public shape (API, websockets): count, capacity, level, as_of (ISO 8601)."""
        return {"count": self.count, "capacity": self.capacity, "level": self.level, "as_of": self.as_of.isoformat()}


def occupancy_level(*, count: int, capacity: int) -> str:
    """quiet, busy, very_busy or full for `count` people against `capacity`."""
    if capacity <= 0:
        return "quiet" if count == 0 else "busy"
    ratio = count / capacity
    if ratio >= 1:
        return "full"
    if ratio > WARNING_RATIO:
        return "very_busy"
    if ratio >= BUSY_RATIO:
        return "busy"
    return "quiet"


def occupancy_now(*, gym: Gym) -> Occupancy:
    """The gym's occupancy now (must run in its schema): one COUNT over the partial
    index of open check-ins."""
    count = CheckIn.objects.filter(checked_out_at__isnull=True).count()
    return Occupancy(
        count=count,
        capacity=gym.occupancy_capacity,
        level=occupancy_level(count=count, capacity=gym.occupancy_capacity),
        as_of=timezone.now(),
    )


def checkin_feed(*, limit: int = 12) -> list[CheckIn]:
    """The latest check-ins, newest first, with member and plan loaded: one query."""
    return list(CheckIn.objects.select_related("member", "membership__plan").order_by("-checked_in_at", "-id")[:limit])


def checkin_list(*, day: datetime.date, tz: datetime.tzinfo) -> QuerySet[CheckIn]:
    """The check-ins of the gym-local `day` (midnight to midnight in `tz`), newest
    first, with member, plan and booked class loaded."""
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=tz)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min, tzinfo=tz)
    return (
        CheckIn.objects.filter(checked_in_at__gte=start, checked_in_at__lt=end)
        .select_related("member", "membership__plan", "booking__session__gym_class")
        .order_by("-checked_in_at", "-id")
    )


def open_check_in_for(*, member: Member) -> CheckIn | None:
    """The member's open check-in (they are in the gym now), if any."""
    return CheckIn.objects.filter(member=member, checked_out_at__isnull=True).order_by("-checked_in_at").first()


def desk_member_search(*, query: str, limit: int = 8) -> list[Member]:
    """Members (not erased) matching a name, email or phone search, for one-click
    check-in: `member_list` rows with `current_memberships` prefetched. Two queries;
    empty for a query under 2 characters."""
    query = query.strip()
    if len(query) < 2:
        return []
    return list(member_list(query=query).exclude(status=Member.Status.ERASED)[:limit])


def member_check_ins(*, member: Member, limit: int = 100) -> list[CheckIn]:
    """The member's latest `limit` check-ins, newest first, with plan, booked class and
    desk staff loaded: one query (for the member page's Check-ins tab)."""
    return list(
        CheckIn.objects.filter(member=member)
        .select_related("membership__plan", "booking__session__gym_class", "checked_in_by")
        .order_by("-checked_in_at", "-id")[:limit]
    )


def member_visit_count(*, member: Member, since: datetime.datetime) -> int:
    """How many times the member checked in from `since` (aware) until now."""
    return CheckIn.objects.filter(member=member, checked_in_at__gte=since).count()
