"""Reads of memberships in the current gym."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from decimal import Decimal

from django.db.models import Case, Count, DecimalField, F, Prefetch, QuerySet, Sum, Value, When
from django.utils import timezone

from apps.members.models import Member
from apps.plans.models import Plan

from .models import CURRENT_STATUSES, Freeze, Membership, MembershipEvent


def _current_rank(today: datetime.date) -> Callable[[Membership], tuple[bool, bool, int, int]]:
    """The sort key of "most current first": in effect `today` (started on or before
    it) before a future start, then a recurring plan before a pass or pack, then the
    latest start, then the newest row."""

    def rank(m: Membership) -> tuple[bool, bool, int, int]:
        return (m.start_date > today, m.plan.kind != Plan.Kind.RECURRING, -m.start_date.toordinal(), -m.pk)

    return rank


def membership_pick_current(memberships: Iterable[Membership], *, today: datetime.date) -> Membership | None:
    """The one membership to show as a member's current one, from their memberships
    (their plans loaded), or None when none is current (active, frozen or past due).

    When the member holds several (a class pack beside a monthly plan, or a renewal
    that starts later), the one in effect `today` (gym-local) wins over a future one,
    then a recurring plan over a pass or pack, then the latest start. Rows that are
    not current are skipped. Pure: no query, so it serves prefetched rows (e.g.
    `current_memberships` from `apps.members.selectors.member_list`) and
    `membership_current_for` alike.
    """
    return min((m for m in memberships if m.is_current), key=_current_rank(today), default=None)


def membership_covers(membership: Membership, *, day: datetime.date) -> bool:
    """True when the membership's term includes the gym-local `day`: started on or
    before it, not ended before it, and (for a contract cancelled at period end) the
    day is before its next billing date. Status and freezes are not looked at. Pure."""
    if membership.start_date > day:
        return False
    if membership.end_date is not None and membership.end_date < day:
        return False
    ends_at_period_end = membership.cancel_at_period_end and membership.next_billing_date is not None
    return not (ends_at_period_end and membership.next_billing_date <= day)  # type: ignore[operator]


def membership_sort_current(memberships: Iterable[Membership], *, today: datetime.date) -> list[Membership]:
    """The current ones of `memberships` (plans loaded), most current first: the order
    `membership_pick_current` ranks them in, so the first is the one it picks. For
    pages and exports that list every current membership. Pure: no query."""
    return sorted((m for m in memberships if m.is_current), key=_current_rank(today))


def membership_current_for(*, member: Member, today: datetime.date | None = None) -> Membership | None:
    """The member's current membership (active, frozen or past due), with its plan, or
    None: `membership_pick_current` over their current memberships, `today` defaulting
    to the active timezone's date (the gym's). One query.
    """
    today = today or timezone.localdate()
    current = Membership.objects.filter(member=member, status__in=CURRENT_STATUSES).select_related("plan")
    return membership_pick_current(current, today=today)


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


# Months in one billing period, to normalise a recurring price to a month (52 weeks a year).
_MONTHS_PER_PERIOD = {
    Plan.BillingPeriod.WEEKLY: Decimal(12) / Decimal(52),
    Plan.BillingPeriod.MONTHLY: Decimal(1),
    Plan.BillingPeriod.QUARTERLY: Decimal(3),
    Plan.BillingPeriod.YEARLY: Decimal(12),
}

MRR_STATUSES = (Membership.Status.ACTIVE, Membership.Status.PAST_DUE)


def membership_mrr() -> Decimal:
    """The gym's MRR (monthly recurring revenue): the sum of its recurring memberships'
    prices normalised to one month, as a `Decimal` in the gym's currency rounded to 2
    places (0 when there are none).

    Counted: recurring memberships that are active or past due (still owed, as in
    Stripe's MRR, which counts `active` and `past_due` subscriptions). Not counted:
    frozen (paused: no billing while frozen), cancelled and expired memberships, passes
    and class packs. A price every `billing_interval` x period is divided by the months
    it covers: weekly x 52 / 12, quarterly / 3, yearly / 12. One query.
    """
    months = Case(
        *[
            When(billing_period=period, then=F("billing_interval") * Value(per, output_field=DecimalField()))
            for period, per in _MONTHS_PER_PERIOD.items()
        ],
        output_field=DecimalField(),
    )
    total = (
        Membership.objects.filter(status__in=MRR_STATUSES, plan__kind=Plan.Kind.RECURRING)
        .exclude(billing_period="")
        .aggregate(mrr=Sum(F("price") / months, output_field=DecimalField()))["mrr"]
    )
    return (total or Decimal(0)).quantize(Decimal("0.01"))
