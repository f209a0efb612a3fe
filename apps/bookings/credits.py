"""The class-credit ledger: append-only `CreditEntry` rows per credit bucket.

A bucket is a membership with limited classes (`Membership.class_credits` not None,
copied from the plan when it was sold). Unlimited memberships have no bucket and
spend nothing. Where the credits come from:
- a class pack or a one-off pass: one `purchase` row of `class_credits`, expiring on
  the membership's `end_date` (the last day it may be used; None = never);
- a recurring plan: one `grant` row of `class_credits` per allowance period, expiring
  on the period's last day. Periods are the billing periods, anchored on
  `next_billing_date` (see `credit_allowance_period`). What is left of a period is
  expired (an `expire` row to 0) before the next period's grant: allowances do not
  roll over.
Both are written lazily, the first time the bucket is used or queried in a period, so
nothing has to run when a membership is sold or a period begins.

Rows: `purchase`/`grant`/`refund` add, `spend`/`expire` take away, `adjust` (staff) does
either. Every row carries `balance_after` (never negative; a CHECK constraint backs it
up) and repeats the bucket's current `period_start` and `expires_on`, so the newest row
alone tells the balance and when it lapses. The invariant: the sum of a bucket's
amounts equals its newest `balance_after`.

Locking: a writer locks the bucket's membership row (`SELECT ... FOR UPDATE`) and only
then reads the newest row, so concurrent writers of one bucket queue up and each one
appends to the balance the previous one committed. Several memberships are locked in
one statement in primary-key order (`memberships_lock`), after the class session's row
when there is one: one global lock order, so two booking transactions cannot deadlock.

Dates are gym-local (`today` defaults to the date in the active timezone).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from apps.accounts.models import User
from apps.members.models import Member
from apps.memberships.models import CURRENT_STATUSES, Freeze, Membership
from apps.memberships.services import billing_period_delta

from .errors import BookingError
from .models import Booking, CreditEntry

Kind = CreditEntry.Kind

__all__ = [
    "BucketState",
    "CreditBucket",
    "CreditSummary",
    "bucket_states",
    "credit_adjust",
    "credit_allowance_period",
    "credits_expire_due",
    "credits_summary",
    "memberships_lock",
]


# --- periods -----------------------------------------------------------------------------


def credit_allowance_period(*, membership: Membership, on: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The allowance period of a recurring membership that contains the date `on`, as
    (first day, last day), both inclusive.

    Periods are the membership's billing periods. The one in effect is the period that
    ends the day before `next_billing_date` (billing moves that date on each period,
    keeping the anchor day: monthly from 31 January bills 28 February, then 31 March,
    so March's period is 28 February to 30 March). Dates before or after it step from
    `next_billing_date` (`start_date` if there is none) by whole multiples of
    `billing_period_delta`, e.g. when billing has not moved the date on yet. A period
    that would begin before the membership starts begins on `start_date` (trial days
    form a period of their own).
    Raises ValueError when the membership has no billing period (not recurring).
    """
    delta = billing_period_delta(billing_period=membership.billing_period, interval=membership.billing_interval)
    anchor = membership.next_billing_date or membership.start_date
    k = 0
    if anchor <= on:
        while anchor + delta * (k + 1) <= on:
            k += 1
    else:
        while anchor + delta * k > on:
            k -= 1
    first = anchor + delta * k
    last = anchor + delta * (k + 1) - datetime.timedelta(days=1)
    return max(first, membership.start_date), last


# --- bucket state and writes ----------------------------------------------------------------


@dataclass
class BucketState:
    """The live state of one locked bucket inside a transaction: its balance and the
    current period and expiry. Writes go through `append`, which keeps it current."""

    membership: Membership
    balance: int
    period_start: datetime.date | None
    expires_on: datetime.date | None

    def expired(self, today: datetime.date) -> bool:
        """True once the credits' last day (`expires_on`) is before `today`."""
        return self.expires_on is not None and self.expires_on < today

    def append(
        self,
        kind: str,
        amount: int,
        *,
        booking: Booking | None = None,
        note: str = "",
        actor: User | None = None,
    ) -> CreditEntry:
        """Write one ledger row moving the balance by `amount`. The caller holds the
        membership's row lock and has checked that the balance stays >= 0."""
        balance = self.balance + amount
        if balance < 0:  # a bug in a caller, never a member's mistake: the CHECK constraint agrees
            raise ValueError(f"credit bucket {self.membership.pk} would go below 0 ({balance})")
        entry = CreditEntry.objects.create(
            member_id=self.membership.member_id,
            membership=self.membership,
            kind=kind,
            amount=amount,
            balance_after=balance,
            booking=booking,
            period_start=self.period_start,
            expires_on=self.expires_on,
            note=note[:255],
            actor=actor,
        )
        self.balance = balance
        return entry


def memberships_lock(
    *,
    member_ids: Iterable[int] = (),
    membership_ids: Iterable[int] = (),
    frozen_on: datetime.date | None = None,
) -> list[Membership]:
    """Lock, in one statement and in primary-key order, the current memberships
    (active, frozen, past due) of `member_ids` and the memberships `membership_ids`
    (whatever their status). Returns them with their plans. With `frozen_on`, each one
    also tells (`frozen_then`) whether a freeze not ended early covers that date, in the
    same statement. Call it at most once per transaction, after locking the class
    session (see the module docstring)."""
    member_ids, membership_ids = list(member_ids), list(membership_ids)
    if not member_ids and not membership_ids:
        return []
    locked = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("plan")
        .filter(Q(member_id__in=member_ids, status__in=CURRENT_STATUSES) | Q(pk__in=membership_ids))
        .order_by("pk")
    )
    if frozen_on is not None:
        covering = Freeze.objects.filter(
            membership=OuterRef("pk"), ended_on__isnull=True, start_date__lte=frozen_on, end_date__gte=frozen_on
        )
        locked = locked.annotate(frozen_then=Exists(covering))
    return list(locked)


def bucket_states(memberships: Iterable[Membership], *, today: datetime.date) -> dict[int, BucketState]:
    """The buckets of `memberships` (locked by the caller), by membership id; unlimited
    ones are left out. Brings each up to date on `today` first, writing what is due:
    a pack's `purchase` on first use, a recurring plan's `grant` for the current
    period (after expiring what is left of the last), and an `expire` row when the
    credits have lapsed. One query to read, plus the rows written."""
    limited = [m for m in memberships if m.class_credits is not None]
    if not limited:
        return {}
    newest = {
        e.membership_id: e
        for e in CreditEntry.objects.filter(membership_id__in=[m.pk for m in limited])
        .order_by("membership_id", "-id")
        .distinct("membership_id")
    }
    return {m.pk: _bucket_bring_up_to_date(m, newest.get(m.pk), today=today) for m in limited}


def _bucket_bring_up_to_date(
    membership: Membership, newest: CreditEntry | None, *, today: datetime.date
) -> BucketState:
    state = BucketState(
        membership=membership,
        balance=newest.balance_after if newest else 0,
        period_start=newest.period_start if newest else None,
        expires_on=newest.expires_on if newest else None,
    )
    credits = membership.class_credits or 0
    if membership.billing_period:  # recurring: one allowance per period
        if newest is None or state.expired(today):
            if state.balance > 0:
                state.append(Kind.EXPIRE, -state.balance, note="The allowance period ended")
            first, last = credit_allowance_period(membership=membership, on=max(today, membership.start_date))
            state.period_start, state.expires_on = first, last
            state.append(Kind.GRANT, credits, note=f"Classes for {first:%d %b %Y} to {last:%d %b %Y}")
    else:  # a class pack or a one-off pass: credits once, for its term
        if newest is None:
            state.expires_on = membership.end_date
            state.append(Kind.PURCHASE, credits, note=f"{membership.plan.name}: {credits} classes")
        if state.expired(today) and state.balance > 0:
            state.append(Kind.EXPIRE, -state.balance, note="The credits expired")
    return state


def credit_refund(state: BucketState, *, booking: Booking, today: datetime.date, actor: User | None, note: str) -> None:
    """Give back what `booking` spent to its (locked, up-to-date) bucket. Refunding into
    a bucket that has expired still writes the refund (the booking was refunded) and
    then expires it straight away, so no lapsed credit becomes usable."""
    if booking.credits_spent <= 0:
        return
    state.append(Kind.REFUND, booking.credits_spent, booking=booking, note=note, actor=actor)
    if state.expired(today):
        state.append(Kind.EXPIRE, -state.balance, note="Refunded after the credits expired")


# --- staff adjustments and the summary ------------------------------------------------------


@transaction.atomic
def credit_adjust(
    *,
    membership: Membership,
    amount: int,
    note: str,
    actor: User | None,
    today: datetime.date | None = None,
) -> CreditEntry:
    """Add (`amount` > 0) or remove (< 0) credits from a membership's bucket by hand,
    with a note for the ledger. Credits added to a recurring plan's period lapse with
    the period, like its allowance. Returns the `adjust` row.

    Raises `BookingError`: `invalid_amount` (0), `unlimited_membership` (no bucket),
    `credits_expired` (adding to a bucket whose credits have lapsed) or
    `insufficient_credits` (the balance would go below 0).
    """
    today = today or timezone.localdate()
    if amount == 0:
        raise BookingError("invalid_amount", "Enter a number of credits other than 0.", field="amount")
    [locked] = memberships_lock(membership_ids=[membership.pk])
    if locked.class_credits is None:
        raise BookingError("unlimited_membership", "This membership has unlimited classes; it has no credits.")
    state = bucket_states([locked], today=today)[locked.pk]
    if amount > 0 and state.expired(today):
        raise BookingError("credits_expired", "These credits have expired; sell a new pack instead.")
    if state.balance + amount < 0:
        raise BookingError(
            "insufficient_credits",
            f"Only {state.balance} credits are left; the balance cannot go below 0.",
            field="amount",
        )
    return state.append(Kind.ADJUST, amount, note=note or "Adjusted by staff", actor=actor)


@dataclass(frozen=True)
class CreditBucket:
    """One line of a member's credits: a current membership, its balance (None when
    unlimited) and the last day its credits may be used (None: no expiry). `usable`:
    the membership is active and its credits have not lapsed."""

    membership: Membership
    plan_name: str
    balance: int | None
    expires_on: datetime.date | None
    unlimited: bool
    usable: bool


@dataclass(frozen=True)
class CreditSummary:
    """A member's credits: `buckets` in the order they are spent (unlimited first, then
    soonest-expiring), `total` the usable limited credits, `unlimited` True when an
    active membership books classes without credits."""

    buckets: list[CreditBucket]
    total: int
    unlimited: bool


@transaction.atomic
def credits_summary(*, member: Member, today: datetime.date | None = None) -> CreditSummary:
    """The member's credits over their current memberships (active, frozen, past due),
    bringing each bucket up to date first (the lazy purchase/grant/expire rows). Locks
    those memberships while it writes. Queries: 2, plus any rows written."""
    today = today or timezone.localdate()
    memberships = memberships_lock(member_ids=[member.pk])
    states = bucket_states(memberships, today=today)
    buckets = []
    for m in memberships:
        active = m.status == Membership.Status.ACTIVE
        if m.class_credits is None:
            buckets.append(CreditBucket(m, m.plan.name, None, m.end_date, unlimited=True, usable=active))
        else:
            s = states[m.pk]
            buckets.append(
                CreditBucket(
                    m, m.plan.name, s.balance, s.expires_on, unlimited=False, usable=active and not s.expired(today)
                )
            )
    buckets.sort(key=lambda b: (not b.unlimited, b.expires_on or datetime.date.max, b.membership.pk))
    return CreditSummary(
        buckets=buckets,
        total=sum(b.balance or 0 for b in buckets if b.usable and not b.unlimited),
        unlimited=any(b.unlimited and b.usable for b in buckets),
    )


# --- the nightly expiry -------------------------------------------------------------------


def credits_expire_due(*, today: datetime.date) -> int:
    """Expire lapsed credits in the current gym: every bucket whose newest row says its
    credits' last day is before `today` (gym-local) and whose balance is above 0 gets
    an `expire` row bringing it to 0. Class packs and one-off passes lapse on their
    end date, a recurring plan's allowance at its period's end. Idempotent: a second
    run finds nothing. Each bucket is locked and written in a transaction of its own,
    so the job never holds more than one membership lock. Returns the rows written."""
    newest = CreditEntry.objects.filter(membership=OuterRef("pk")).order_by("-id")
    due = (
        Membership.objects.annotate(
            credits_expire_on=Subquery(newest.values("expires_on")[:1]),
            credits_balance=Subquery(newest.values("balance_after")[:1]),
        )
        .filter(credits_expire_on__lt=today, credits_balance__gt=0)
        .values_list("pk", flat=True)
    )
    written = 0
    for membership_id in list(due):
        with transaction.atomic():
            [locked] = memberships_lock(membership_ids=[membership_id])
            last = CreditEntry.objects.filter(membership_id=membership_id).order_by("-id").first()
            if last is None or last.balance_after <= 0 or last.expires_on is None or last.expires_on >= today:
                continue  # changed since the scan
            state = BucketState(locked, last.balance_after, last.period_start, last.expires_on)
            state.append(Kind.EXPIRE, -state.balance, note="The credits expired")
            written += 1
    return written
