"""Reads of bookings and the credit ledger in the current gym."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from apps.classes.models import ClassSession
from apps.members.models import Member

from .models import Booking, CreditEntry
from .services import HOLDING_STATUSES, SPOT_STATUSES

Status = Booking.Status

__all__ = [
    "SessionRoster",
    "credit_ledger",
    "member_bookings",
    "member_bookings_by_session",
    "session_roster",
    "sessions_with_counts",
]


@dataclass(frozen=True)
class SessionRoster:
    """A session's bookings for the roster page: `booked` (confirmed, attended,
    no-show; by member name), `waitlist` (by position) and `cancelled` (cancelled and
    late-cancelled, newest first). Iterating it yields all three groups in that order."""

    booked: list[Booking]
    waitlist: list[Booking]
    cancelled: list[Booking]

    def __iter__(self) -> Iterator[Booking]:
        yield from self.booked
        yield from self.waitlist
        yield from self.cancelled


def session_roster(*, session: ClassSession) -> SessionRoster:
    """The session's roster, each booking with its member and its membership's plan.
    One query."""
    rows = list(
        Booking.objects.filter(session=session)
        .select_related("member", "membership__plan", "booked_by")
        .order_by("member__last_name", "member__first_name", "id")
    )
    return SessionRoster(
        booked=[b for b in rows if b.status in SPOT_STATUSES],
        waitlist=sorted((b for b in rows if b.status == Status.WAITLISTED), key=lambda b: (b.waitlist_position, b.pk)),
        cancelled=sorted(
            (b for b in rows if b.status in (Status.CANCELLED, Status.LATE_CANCELLED)),
            key=lambda b: (b.cancelled_at is None, -(b.cancelled_at.timestamp() if b.cancelled_at else 0), -b.pk),
        ),
    )


def member_bookings(*, member: Member) -> QuerySet[Booking]:
    """All the member's bookings, with session, class and membership plan joined, in
    session order (earliest first; filter on `session__starts_at` for upcoming or
    past). One query."""
    return (
        Booking.objects.filter(member=member)
        .select_related("session__gym_class", "membership__plan")
        .order_by("session__starts_at", "id")
    )


def member_bookings_by_session(*, member: Member, session_ids: Iterable[int]) -> dict[int, Booking]:
    """The member's own booking in each of `session_ids` that has one, by session id:
    the current one (confirmed, waitlisted, attended or no-show) when there is one,
    else their latest cancelled one. For "your booking" on a timetable or schedule
    API without a query per session. One query."""
    mine: dict[int, Booking] = {}
    for b in Booking.objects.filter(member=member, session_id__in=list(session_ids)).order_by("id"):
        current = mine.get(b.session_id)
        if current is None or current.status not in HOLDING_STATUSES:
            mine[b.session_id] = b
    return mine


def _count_of(statuses: Sequence[str]) -> Coalesce:
    counted = (
        Booking.objects.filter(session=OuterRef("pk"), status__in=statuses)
        .order_by()
        .values("session")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def sessions_with_counts(queryset: QuerySet[ClassSession]) -> QuerySet[ClassSession]:
    """`queryset` annotated with `booked_count` (confirmed, attended and no-show
    bookings: the spots taken) and `waitlist_count`, as correlated subqueries (indexed
    on session and status), so listing many sessions stays one query and composes
    with any other annotation. Spots left: `session.capacity - session.booked_count`
    (select_related `gym_class` for the capacity)."""
    return queryset.annotate(booked_count=_count_of(SPOT_STATUSES), waitlist_count=_count_of([Status.WAITLISTED]))


def credit_ledger(*, member: Member) -> QuerySet[CreditEntry]:
    """The member's credit ledger, newest row first, each with its membership's plan,
    its booking's session and class, and the staff actor. One query. (Buckets that were
    never used have no rows yet: `credits_summary` creates them.)"""
    return (
        CreditEntry.objects.filter(member=member)
        .select_related("membership__plan", "booking__session__gym_class", "actor")
        .order_by("-id")
    )
