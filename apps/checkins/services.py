"""Writes of the front desk: check-in, check-out, the automatic check-out, and
printed member cards.

The check-in rules (`checkin_create`) run in this order; the first broken one is the
answer (codes and sentences in `errors.py`):

1. `unknown_code`: a scanned token that names nobody here (`qr.qr_identify`).
2. The member's memberships on the gym-local date, in one query:
   - an active membership (term covering today, no freeze over today), or a past-due
     one still inside the gym's `payment_grace_days` (counting the day it went past
     due; 0 refuses at once, see `_grace_ends`), whose plan's access hours
     contain the local time -> allowed;
   - else an active / in-grace one outside its access hours -> `outside_access_hours`;
   - else a past-due one beyond the grace -> `payment_overdue`;
   - else a frozen one (status frozen, or a freeze covering today) -> `membership_frozen`;
   - else `no_active_membership`.
   A manager's override (`override_reason`) skips this step and records the code it
   overrode.
3. `already_checked_in`: the member has an open check-in younger than the gym's
   `checkin_repeat_minutes`; the answer names that check-in and writes nothing. An
   open check-in older than that (they left without checking out) is closed as
   `superseded`, so occupancy never counts one person twice.

Then the row is written and, if the member holds a confirmed booking for a class
session starting within the next 60 minutes or started within the last 15
(`ATTENDANCE_BEFORE` / `ATTENDANCE_AFTER`), that booking is marked attended. The
live update (feed and occupancy) is broadcast on commit (`live.py`).

Concurrency: each check-in locks the member's row first, so two desks scanning the
same person at once write one check-in and answer `already_checked_in` to the other.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Subquery
from django.utils import timezone

from apps.accounts.models import User
from apps.bookings.errors import BookingError
from apps.bookings.models import Booking
from apps.bookings.services import booking_mark_attendance
from apps.bookings.services.eligibility import access_hours_allow
from apps.classes.models import ClassSession
from apps.members.models import Member
from apps.memberships.models import CURRENT_STATUSES, Freeze, Membership
from apps.memberships.selectors import membership_covers, membership_sort_current
from apps.tenants.dispatch import gym_tzinfo
from apps.tenants.models import Gym
from apps.tenants.selectors import current_gym

from . import live
from .errors import REFUSALS, CheckInError
from .models import CheckIn, MemberCard
from .qr import QrIdentity, UnknownCode, qr_identify

ATTENDANCE_BEFORE = datetime.timedelta(minutes=60)
"""A check-in marks a booking attended for a session starting up to 60 minutes later."""
ATTENDANCE_AFTER = datetime.timedelta(minutes=15)
"""... or one that started up to 15 minutes ago (a member running late)."""
EXPIRY_WARNING_DAYS = 7
"""The green panel warns when the membership ends within this many days."""


@dataclass
class CheckInResult:
    """The desk's answer to one scan or pick.

    - `allowed`: green (True) or red (False).
    - `code`: `checked_in` when allowed, else a refusal code (`errors.py`).
    - `message`: the sentence for the panel.
    - `member`: who it was (None only for `unknown_code`).
    - `membership`: the membership that let them in, or the one the refusal is about.
    - `check_in`: the new row; for `already_checked_in`, the open one.
    - `booking`: the class booking marked attended by this check-in, if any.
    - `warnings`: sentences for a green panel (membership ending soon, payment overdue
      but inside the grace days, a booking that could not be marked).
    """

    allowed: bool
    code: str
    message: str
    member: Member | None = None
    membership: Membership | None = None
    check_in: CheckIn | None = None
    booking: Booking | None = None
    warnings: list[str] = field(default_factory=list)


def _memberships_today(member: Member, *, today: datetime.date) -> list[Membership]:
    """The member's current memberships covering `today`, plans loaded, each annotated
    `frozen_today` and `frozen_until` (the last day of the freeze over today, or None),
    most current first. One query."""
    freezes = Freeze.objects.filter(
        membership=OuterRef("pk"), ended_on__isnull=True, start_date__lte=today, end_date__gte=today
    )
    rows = (
        Membership.objects.filter(member=member, status__in=CURRENT_STATUSES)
        .select_related("plan")
        .annotate(
            frozen_today=Exists(freezes),
            frozen_until=Subquery(freezes.order_by("-end_date").values("end_date")[:1]),
        )
    )
    return [m for m in membership_sort_current(rows, today=today) if membership_covers(m, day=today)]


def _grace_ends(membership: Membership, gym: Gym) -> datetime.date | None:
    """The last gym-local date a past-due membership still gets in (None: unknown start).

    The grace is `Gym.payment_grace_days` days of getting in, counting the day the
    payment failed (the settings page: "Days a membership with an overdue payment still
    gets in"): 3 means that day and the next two; 0 means none, so the date returned is
    the day before it went past due and the member is refused at once."""
    if membership.past_due_since is None:
        return None
    return membership.past_due_since + datetime.timedelta(days=gym.payment_grace_days - 1)


def _access_rules(
    memberships: list[Membership], *, gym: Gym, local_now: datetime.datetime
) -> tuple[Membership | None, str, str, list[str]]:
    """Step 2 of the rules: (membership, code, message, warnings). `code` is
    `checked_in` with the membership that lets the member in, else a refusal code with
    the membership it is about (None for no_active_membership)."""
    today = local_now.date()
    Status = Membership.Status
    usable: list[Membership] = []
    overdue: list[Membership] = []
    frozen: list[Membership] = []
    for m in memberships:
        if m.status == Status.FROZEN or m.frozen_today:  # type: ignore[attr-defined]
            frozen.append(m)
        elif m.status == Status.PAST_DUE:
            grace_ends = _grace_ends(m, gym)
            (usable if grace_ends is not None and today <= grace_ends else overdue).append(m)
        else:
            usable.append(m)
    in_hours = [m for m in usable if access_hours_allow(m.plan, local_now)]
    if in_hours:
        chosen = next((m for m in in_hours if m.status == Status.ACTIVE), in_hours[0])
        return chosen, "checked_in", "Checked in.", _warnings(chosen, gym=gym, today=today)
    if usable:
        m = usable[0]
        return m, "outside_access_hours", f"{m.plan.name} does not allow entry at {local_now:%H:%M}.", []
    if overdue:
        m = overdue[0]
        since = f" since {m.past_due_since:%d %b}" if m.past_due_since else ""
        return m, "payment_overdue", f"Payment is overdue{since}. Please settle at the desk.", []
    if frozen:
        m = frozen[0]
        until = m.frozen_until  # type: ignore[attr-defined]
        message = f"The membership is frozen until {until:%a %d %b}." if until else "The membership is frozen."
        return m, "membership_frozen", message, []
    return None, "no_active_membership", "No active membership today.", []


def _warnings(m: Membership, *, gym: Gym, today: datetime.date) -> list[str]:
    warnings = []
    if m.status == Membership.Status.PAST_DUE:
        grace_ends = _grace_ends(m, gym)
        warnings.append(f"Payment overdue: entry is refused after {grace_ends:%a %d %b}.")
    if m.end_date is not None and (m.end_date - today).days <= EXPIRY_WARNING_DAYS:
        warnings.append(f"Membership ends on {m.end_date:%a %d %b}.")
    return warnings


def _attendance_booking(member: Member, identity_booking: Booking | None, now: datetime.datetime) -> Booking | None:
    """The confirmed booking this visit attends: the scanned booking if its session is
    in the window, else the member's earliest one in the window."""
    window = dict(
        session__starts_at__gte=now - ATTENDANCE_AFTER,
        session__starts_at__lte=now + ATTENDANCE_BEFORE,
        session__status=ClassSession.Status.SCHEDULED,
        status=Booking.Status.CONFIRMED,
    )
    bookings = Booking.objects.filter(member=member, **window).select_related("session__gym_class")
    if identity_booking is not None:
        scanned = bookings.filter(pk=identity_booking.pk).first()
        if scanned is not None:
            return scanned
    return bookings.order_by("session__starts_at", "pk").first()


@transaction.atomic
def checkin_create(
    *,
    qr: str | None = None,
    member: Member | None = None,
    actor: User | None = None,
    method: str | None = None,
    override_reason: str = "",
    now: datetime.datetime | None = None,
) -> CheckInResult:
    """Check a member in at the current gym, from a scanned `qr` token or a `member`
    picked at the desk (exactly one of them), at `now` (aware, default now).

    `method` defaults to what the token was (member_qr, card_qr, booking_qr) or
    `search` for a picked member. `override_reason` (a manager's manual override; the
    caller checks the role) lets the member in whatever the membership rules say, and
    is stored with the code it overrode. `actor` is the staff user at the desk.

    Returns a `CheckInResult` (see the module docstring for the rules); a refused
    scan writes nothing. Raises `CheckInError` `member_not_found` (an erased member),
    `override_reason_required` (an override of a token that names nobody) or
    `invalid_input` (neither or both of qr and member).
    """
    now = now or timezone.now()
    if (qr is None) == (member is None):
        raise CheckInError("invalid_input", "Scan a QR code or pick a member.")
    override_reason = (override_reason or "").strip()[:255]
    identity: QrIdentity | None = None
    if qr is not None:
        try:
            identity = qr_identify(token=qr, now=now)
        except UnknownCode as exc:
            return CheckInResult(allowed=False, code="unknown_code", message=exc.reason)
        member = identity.member
    assert member is not None
    locked = Member.objects.select_for_update().filter(pk=member.pk).exclude(status=Member.Status.ERASED).first()
    if locked is None:
        raise CheckInError("member_not_found", "This member does not exist at this gym.")
    member = locked
    gym = current_gym()
    local_now = now.astimezone(gym_tzinfo(gym))

    memberships = _memberships_today(member, today=local_now.date())
    membership, code, message, warnings = _access_rules(memberships, gym=gym, local_now=local_now)
    overridden_code = ""
    if code != "checked_in":
        if not override_reason:
            return CheckInResult(allowed=False, code=code, message=message, member=member, membership=membership)
        overridden_code = code
        warnings = [f"Override: {REFUSALS[code]} Reason: {override_reason}"]
        membership = memberships[0] if memberships else None

    open_check_in = (
        CheckIn.objects.filter(member=member, checked_out_at__isnull=True).order_by("-checked_in_at").first()
    )
    if open_check_in is not None:
        if open_check_in.checked_in_at >= now - datetime.timedelta(minutes=gym.checkin_repeat_minutes):
            at = open_check_in.checked_in_at.astimezone(local_now.tzinfo)
            return CheckInResult(
                allowed=False,
                code="already_checked_in",
                message=f"Already checked in at {at:%H:%M}.",
                member=member,
                membership=membership,
                check_in=open_check_in,
            )
        CheckIn.objects.filter(member=member, checked_out_at__isnull=True).update(
            checked_out_at=now, check_out_kind=CheckIn.CheckOutKind.SUPERSEDED
        )

    check_in = CheckIn.objects.create(
        member=member,
        membership=membership,
        method=CheckIn.Method.OVERRIDE if overridden_code else (method or _method(identity)),
        checked_in_at=now,
        override_reason=override_reason if overridden_code else "",
        overridden_code=overridden_code,
        checked_in_by=actor,
    )
    booking = _attendance_booking(member, identity.booking if identity else None, now)
    if booking is not None:
        try:
            booking = booking_mark_attendance(
                booking=booking, attended=True, actor=actor, now=now, opens_before=ATTENDANCE_BEFORE
            )
        except BookingError as exc:
            warnings.append(f"The class booking could not be marked attended: {exc.message}")
            booking = None
        else:
            check_in.booking = booking
            check_in.save(update_fields=["booking"])
    check_in.member = member
    check_in.membership = membership
    live.check_in_broadcast(gym=gym, check_in=check_in, event="checked_in")
    return CheckInResult(
        allowed=True,
        code="checked_in",
        message="Checked in." if not overridden_code else "Checked in by override.",
        member=member,
        membership=membership,
        check_in=check_in,
        booking=booking,
        warnings=warnings,
    )


def _method(identity: QrIdentity | None) -> str:
    return identity.method if identity is not None else CheckIn.Method.SEARCH


@transaction.atomic
def checkin_check_out(*, check_in: CheckIn, actor: User | None = None, now: datetime.datetime | None = None) -> CheckIn:
    """Check the member out of an open check-in at `now` (aware, default now); the
    live occupancy drops on commit. Returns the row. Raises `CheckInError`
    `check_in_not_found` (not at this gym) or `already_checked_out`."""
    now = now or timezone.now()
    locked = CheckIn.objects.select_for_update().select_related("member").filter(pk=check_in.pk).first()
    if locked is None:
        raise CheckInError("check_in_not_found", "This check-in does not exist at this gym.")
    if locked.checked_out_at is not None:
        raise CheckInError("already_checked_out", f"Already checked out at {locked.checked_out_at:%H:%M}.")
    locked.checked_out_at = max(now, locked.checked_in_at)
    locked.check_out_kind = CheckIn.CheckOutKind.MANUAL
    locked.checked_out_by = actor
    locked.save(update_fields=["checked_out_at", "check_out_kind", "checked_out_by"])
    live.check_in_broadcast(gym=current_gym(), check_in=locked, event="checked_out")
    return locked


@transaction.atomic
def checkins_auto_check_out(*, now: datetime.datetime | None = None) -> int:
    """Close every open check-in at the current gym older than its
    `auto_checkout_hours` (members who left without checking out). Each gets
    `checked_out_at` = check-in time + those hours (when they most likely had left,
    which keeps visit lengths honest for analytics) and kind `auto`. Idempotent.
    Returns how many were closed; occupancy is broadcast on commit when any were."""
    now = now or timezone.now()
    gym = current_gym()
    hours = datetime.timedelta(hours=gym.auto_checkout_hours)
    stale = CheckIn.objects.filter(checked_out_at__isnull=True, checked_in_at__lt=now - hours)
    closed = stale.update(
        checked_out_at=F("checked_in_at") + hours,
        check_out_kind=CheckIn.CheckOutKind.AUTO,
    )
    if closed:
        live.occupancy_broadcast(gym=gym)
    return closed


@transaction.atomic
def member_card_issue(*, member: Member, actor: User | None = None) -> MemberCard:
    """Issue `member` a printed QR card, revoking any card they hold (a lost card
    stops working the moment the new one is issued). Returns the new card; its token
    is `qr.member_card_qr_token(card=...)`. Raises `CheckInError` `member_not_found`
    for an erased member."""
    if member.status == Member.Status.ERASED:
        raise CheckInError("member_not_found", "This member does not exist at this gym.")
    Member.objects.select_for_update().filter(pk=member.pk).first()
    MemberCard.objects.filter(member=member, revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_by=actor
    )
    return MemberCard.objects.create(member=member, issued_by=actor)


def member_card_revoke(*, card: MemberCard, actor: User | None = None) -> MemberCard:
    """Revoke a printed card (lost, stolen, or the member left): its QR answers
    `unknown_code` from now on. Revoking a revoked card changes nothing."""
    if card.revoked_at is None:
        card.revoked_at = timezone.now()
        card.revoked_by = actor
        card.save(update_fields=["revoked_at", "revoked_by"])
    return card
