"""The daily job for one gym, `membership_expire_due`: expire memberships past their
end (or their period end, when set to cancel then), end freezes whose last day has
passed, start scheduled freezes, and set members with nothing current left inactive.
Celery runs it per gym through `apps.memberships.tasks`.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from ..models import CURRENT_STATUSES, Freeze, Membership, MembershipEvent
from ._common import Kind, Status, _iso, _members_deactivate_if_lapsed, freeze_notices


@transaction.atomic
def membership_expire_due(*, today: datetime.date) -> dict[str, int]:
    """The daily job for the current gym; `today` is the gym-local date. Idempotent:
    a second run on the same day changes nothing.

    In this order:
    1. `expired`: current memberships whose `end_date` is before today (their last
       day has passed), or set to cancel at period end with `next_billing_date` on or
       before today, become expired.
    2. `unfrozen`: frozen memberships with no freeze in effect today (the freeze's last
       day has passed) become active. Their dates already include the freeze.
    3. `freezes_started`: active memberships with a scheduled freeze in effect today
       become frozen.
    4. `members_inactive`: members left with no current membership by step 1 become
       inactive.
    Each change writes an event with no actor. Returns the four counts.
    """
    now = timezone.now()
    counts = {"expired": 0, "unfrozen": 0, "freezes_started": 0, "members_inactive": 0}
    events: list[MembershipEvent] = []
    locked = Membership.objects.select_for_update(of=("self",))

    ended = list(
        locked.filter(status__in=CURRENT_STATUSES)
        .filter(Q(end_date__lt=today) | Q(cancel_at_period_end=True, next_billing_date__lte=today))
        .only("pk", "member_id", "status", "end_date", "cancel_at_period_end")
    )
    for m in ended:
        events.append(
            MembershipEvent(
                membership_id=m.pk,
                kind=Kind.EXPIRED,
                reason="Reached its end date",
                data={
                    "from_status": m.status,
                    "end_date": _iso(m.end_date),
                    "cancel_at_period_end": m.cancel_at_period_end,
                },
            )
        )
    counts["expired"] = Membership.objects.filter(pk__in=[m.pk for m in ended]).update(
        status=Status.EXPIRED, updated_at=now
    )

    in_effect = Freeze.objects.filter(
        membership=OuterRef("pk"), ended_on__isnull=True, start_date__lte=today, end_date__gte=today
    )
    last_started = Freeze.objects.filter(membership=OuterRef("pk"), start_date__lte=today).order_by("-start_date")

    thawed = list(
        locked.filter(status=Status.FROZEN)
        .exclude(Exists(in_effect))
        .annotate(freeze_id=Subquery(last_started.values("pk")[:1]))
        .only("pk", "member_id")
    )
    for m in thawed:
        events.append(
            MembershipEvent(
                membership_id=m.pk,
                kind=Kind.UNFROZEN,
                reason="Freeze ended",
                data={"freeze_id": m.freeze_id, "automatic": True},  # type: ignore[attr-defined]
            )
        )
    counts["unfrozen"] = Membership.objects.filter(pk__in=[m.pk for m in thawed]).update(
        status=Status.ACTIVE, updated_at=now
    )

    starting = list(
        locked.filter(status=Status.ACTIVE)
        .filter(Exists(in_effect))
        .annotate(freeze_id=Subquery(in_effect.order_by("start_date").values("pk")[:1]))
        .only("pk", "member_id")
    )
    for m in starting:
        events.append(
            MembershipEvent(
                membership_id=m.pk,
                kind=Kind.FROZEN,
                reason="Scheduled freeze started",
                data={"freeze_id": m.freeze_id, "started": True, "automatic": True},  # type: ignore[attr-defined]
            )
        )
    counts["freezes_started"] = Membership.objects.filter(pk__in=[m.pk for m in starting]).update(
        status=Status.FROZEN, updated_at=now
    )

    MembershipEvent.objects.bulk_create(events)
    freeze_notices(
        [(m.pk, "membership_unfrozen", m.freeze_id, m.member_id) for m in thawed]  # type: ignore[attr-defined]
        + [(m.pk, "membership_frozen", m.freeze_id, m.member_id) for m in starting]  # type: ignore[attr-defined]
    )
    counts["members_inactive"] = _members_deactivate_if_lapsed({m.member_id for m in ended})
    return counts
