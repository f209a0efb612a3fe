"""Reads of members in the current gym."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.db.models import Prefetch, Q, QuerySet

from apps.memberships.models import CURRENT_STATUSES, Membership
from apps.memberships.selectors import membership_sort_current

from .models import Member

SORTS = {
    "name": ("last_name", "first_name", "id"),
    "-name": ("-last_name", "-first_name", "-id"),
    "joined": ("joined_on", "id"),
    "-joined": ("-joined_on", "-id"),
    "email": ("email", "id"),
    "-email": ("-email", "-id"),
    "status": ("status", "last_name", "id"),
    "-status": ("-status", "last_name", "id"),
}


def member_list(
    *, query: str = "", status: str = "", plan_id: int | None = None, tag: str = "", sort: str = "name"
) -> QuerySet[Member]:
    """Members matching a search over name, email and phone, with optional status,
    current-plan and tag filters, sorted by one of SORTS. Each member comes with
    `current_memberships` (their active/frozen/past-due memberships and plans)
    prefetched, newest first: 2 queries however many members are listed. To show
    "the" current membership use `membership_pick_current` on them, or
    `member_list_current_first` to list them with that one first."""
    members = Member.objects.all()
    for word in query.split():
        digits = "".join(ch for ch in word if ch.isdigit())
        condition = Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
        if len(digits) >= 3:
            condition |= Q(phone__contains=digits)
        members = members.filter(condition)
    if status:
        members = members.filter(status=status)
    if tag:
        members = members.filter(tags__contains=[tag.strip().lower()])
    if plan_id:
        members = members.filter(memberships__plan_id=plan_id, memberships__status__in=CURRENT_STATUSES).distinct()
    current = Membership.objects.filter(status__in=CURRENT_STATUSES).select_related("plan")
    return members.order_by(*SORTS.get(sort, SORTS["name"])).prefetch_related(
        Prefetch("memberships", queryset=current, to_attr="current_memberships")
    )


def member_list_current_first(*, members: Iterable[Member], today: datetime.date) -> list[Member]:
    """`members` from `member_list` as a list, each one's prefetched `current_memberships`
    put in `membership_sort_current` order, so the first is the one
    `membership_pick_current` picks (the one the members API and me/ show). No query
    beyond evaluating `members`."""
    rows = list(members)
    for member in rows:
        current = member.current_memberships  # type: ignore[attr-defined]
        member.current_memberships = membership_sort_current(current, today=today)  # type: ignore[attr-defined]
    return rows


def member_for_user(*, user_id: int) -> Member | None:
    """The member record linked to a global user at the current gym, if any (not erased)."""
    return Member.objects.filter(user_id=user_id).exclude(status=Member.Status.ERASED).first()
