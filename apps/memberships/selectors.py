"""Reads of memberships in the current gym."""

from __future__ import annotations

import datetime

from django.db.models import Count, Prefetch, QuerySet
from django.utils import timezone

from apps.members.models import Member
from apps.plans.models import Plan

from .models import CURRENT_STATUSES, Freeze, Membership, MembershipEvent


def membership_current_for(*, member: Member, today: datetime.date | None = None) -> Membership | None:
    """The member's current membership (active, frozen or past due), with its plan, or None.

    When the member holds several (a class pack beside a monthly plan, or a renewal
    that starts later), the one in effect `today` (gym-local, default the active
    timezone's date) wins over a future one, then a recurring plan over a pass or
    pack, then the latest start. One query.
    """
    today = today or timezone.localdate()
    current = list(Membership.objects.filter(member=member, status__in=CURRENT_STATUSES).select_related("plan"))
    if not current:
        return None
    return min(
        current,
        key=lambda m: (m.start_date > today, m.plan.kind != Plan.Kind.RECURRING, -m.start_date.toordinal(), -m.pk),
    )


def membership_history(*, member: Member) -> QuerySet[Membership]:
    """All the member's memberships, newest first, each with its plan, its freezes
    (newest first) and its events (newest first, with their actors) prefetched:
    three queries however long the history."""
    return (
        Membership.objects.filter(member=member)
        .select_related("plan")
        .prefetch_related(
            Prefetch("freezes", queryset=Freeze.objects.order_by("-start_date", "-id")),
            Prefetch("events", queryset=MembershipEvent.objects.select_related("actor").order_by("-at", "-id")),
        )
        .order_by("-start_date", "-id")
    )


def membership_statuses_counts() -> dict[str, int]:
    """How many memberships the gym has in each status, every status present (0 if none)."""
    counts = dict.fromkeys(Membership.Status.values, 0)
    for row in Membership.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts
