"""Demo check-in history for `make run`: six weeks of front-desk visits at the
current gym, so the desk, the day list and (later) peak-hours analytics open on
real-looking data.

The shape, all in the gym's local time (stored UTC):
- weekdays peak in the morning (06:00-09:00) and the evening (17:00-20:00), with a
  small lunchtime bump; weekends are flatter and later (late morning), and Sunday
  is the quietest day;
- a member visits only on days a membership lets them in: its term covers the day,
  no freeze covers it, and a past-due one only up to the gym's `payment_grace_days`
  after it went past due. So frozen, cancelled and expired memberships stop visits
  from their freeze or their end. Class packs give no open-gym visits, and a plan's
  access hours are respected;
- regulars (about half the members) come 3-5 times a week at their usual time of
  day (early, after work, lunch, afternoon for students, daytime on off-peak
  plans); the others come rarely;
- every attended class booking in the window gets its check-in 3-20 minutes before
  the session starts, linked to the booking (as `checkin_create` links it).
  Back-to-back classes (less than an hour apart) are one visit, linked to the first;
- a visit lasts 45-120 minutes (up to 150 for back-to-back classes). Most are
  checked out at the desk (`manual`); the rest were closed by the automatic
  check-out, which writes `checked_out_at` = check-in + `auto_checkout_hours`
  (`services.checkins_auto_check_out`), so the demo rows look like real ones;
- visits in progress now stay open, topped up to `IN_THE_GYM_NOW` members whatever
  the hour (a demo convenience, not a pattern), so the desk shows a live occupancy
  on first open.

Deterministic for a given database and `now` (seeded random), and skipped when the
gym already has check-ins (like the other demo seeds). Rows go in with bulk_create.
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.bookings.models import Booking
from apps.bookings.services.eligibility import access_hours_allow
from apps.members.models import Member
from apps.memberships.models import Freeze, Membership
from apps.memberships.selectors import membership_covers
from apps.plans.models import Plan
from apps.tenants.dispatch import gym_tzinfo
from apps.tenants.models import Gym

from .models import CheckIn, MemberCard

IN_THE_GYM_NOW = 8
"""At least this many members have an open check-in when the seed finishes."""

# Arrival-hour weights (gym-local hour -> weight). The gym opens 05:00-22:00 on
# weekdays, 06:00-18:00 on Saturday and 07:00-16:00 on Sunday.
WEEKDAY_HOURS = {
    5: 3,
    6: 9,
    7: 10,
    8: 7,
    9: 4,
    10: 3,
    11: 3,
    12: 4,
    13: 2,
    14: 2,
    15: 3,
    16: 5,
    17: 9,
    18: 10,
    19: 7,
    20: 2,
}
SATURDAY_HOURS = {6: 2, 7: 4, 8: 7, 9: 9, 10: 9, 11: 8, 12: 6, 13: 4, 14: 3, 15: 2, 16: 1}
SUNDAY_HOURS = {7: 3, 8: 6, 9: 8, 10: 8, 11: 7, 12: 5, 13: 3, 14: 2}
DAY_WEIGHTS = [1.2, 1.1, 1.1, 1.0, 0.85, 0.75, 0.35]
"""How likely a free visit falls on each weekday (Monday first): Sunday the least."""

# A member's usual weekday arrival: (habit, earliest, latest anchor in minutes after
# midnight, share of members). "any" follows the weekday curve.
HABITS = [
    ("early", 6 * 60 + 15, 8 * 60 + 45, 0.36),
    ("after_work", 16 * 60 + 30, 19 * 60 + 30, 0.38),
    ("lunch", 11 * 60 + 30, 13 * 60, 0.10),
    ("afternoon", 13 * 60, 16 * 60, 0.06),
    ("any", 0, 0, 0.10),
]
REGULAR_SHARE = 0.5
AUTO_CHECK_OUT_SHARE = 0.2
"""Share of historic visits the member left without checking out."""
MERGE_GAP = datetime.timedelta(minutes=60)
"""Classes less than this apart are one visit."""
LONGEST_VISIT = datetime.timedelta(minutes=150)
METHOD_HABITS = [(CheckIn.Method.MEMBER_QR, 0.55), (CheckIn.Method.CARD_QR, 0.30), (CheckIn.Method.SEARCH, 0.15)]


@dataclass
class _Visit:
    member_id: int
    membership_id: int
    arrival: datetime.datetime
    leave: datetime.datetime
    method: str
    booking_id: int | None = None
    last_class_end: datetime.datetime | None = None


@dataclass
class _Profile:
    member_id: int
    memberships: list[Membership]
    regular: bool
    habit: str
    anchor: int  # minutes after local midnight
    rate: float  # an occasional member's chance of a visit in a week
    method: str
    frozen: dict[int, list[tuple[datetime.date, datetime.date]]] = field(default_factory=dict)


def _allowed(profile: _Profile, membership: Membership, day: datetime.date, grace_days: int) -> bool:
    """The membership let the member in on the gym-local `day`."""
    if not membership_covers(membership, day=day):
        return False
    if membership.cancelled_on is not None and membership.end_date is None and day > membership.cancelled_on:
        return False
    freezes = profile.frozen.get(membership.pk, [])
    if any(start <= day <= end for start, end in freezes):
        return False
    if membership.status == Membership.Status.FROZEN and not freezes:
        return False  # frozen with no dates recorded: treat as frozen throughout
    if membership.status == Membership.Status.PAST_DUE and membership.past_due_since is not None:
        return day < membership.past_due_since + datetime.timedelta(days=grace_days)
    return True


def _membership_on(
    profile: _Profile, day: datetime.date, grace_days: int, *, open_gym: bool = True
) -> list[Membership]:
    """The member's memberships that let them in on `day` (class packs only for
    classes when `open_gym`), active ones first."""
    return [
        m
        for m in profile.memberships
        if (not open_gym or m.plan.kind != Plan.Kind.CLASS_PACK) and _allowed(profile, m, day, grace_days)
    ]


def _minute_of(rng: random.Random, hours: dict[int, int]) -> int:
    """A random minute after local midnight, its hour drawn from `hours` weights."""
    return rng.choices(list(hours), list(hours.values()))[0] * 60 + rng.randrange(60)


def _arrival_minute(rng: random.Random, profile: _Profile, day: datetime.date) -> int:
    """Minutes after local midnight the member arrives on `day`."""
    if day.weekday() == 5:
        return _minute_of(rng, SATURDAY_HOURS)
    if day.weekday() == 6:
        return _minute_of(rng, SUNDAY_HOURS)
    if profile.habit == "any" or rng.random() < 0.15:
        return _minute_of(rng, WEEKDAY_HOURS)
    return min(max(int(rng.gauss(profile.anchor, 20)), 5 * 60), 20 * 60 + 59)


def _weighted_sample(rng: random.Random, days: list[datetime.date], k: int) -> list[datetime.date]:
    """`k` of `days` without replacement, weighted by `DAY_WEIGHTS` (Efraimidis-Spirakis)."""
    keyed = sorted(days, key=lambda d: rng.random() ** (1 / DAY_WEIGHTS[d.weekday()]), reverse=True)
    return sorted(keyed[: max(k, 0)])


def _weekly_target(rng: random.Random, profile: _Profile, days_in_window: int) -> int:
    """How many visits the member makes in a week (scaled for a part week)."""
    if profile.regular:
        target = rng.choice([0, 1, 2]) if rng.random() < 0.08 else rng.choice([3, 4, 4, 5])
    else:
        target = int(rng.random() < profile.rate) + int(rng.random() < profile.rate / 4)
    scaled = target * days_in_window / 7
    return int(scaled) + int(rng.random() < scaled - int(scaled))


def _any_method(rng: random.Random) -> str:
    return rng.choices([m for m, _ in METHOD_HABITS], [w for _, w in METHOD_HABITS])[0]


def _method(rng: random.Random, profile: _Profile) -> str:
    """How the member checks in this time: mostly their usual way."""
    return profile.method if rng.random() < 0.85 else _any_method(rng)


def _profiles(rng: random.Random, members: list[int], memberships: dict[int, list[Membership]]) -> list[_Profile]:
    frozen: dict[int, list[tuple[datetime.date, datetime.date]]] = defaultdict(list)
    for membership_id, start, end, ended_on in Freeze.objects.order_by("pk").values_list(
        "membership_id", "start_date", "end_date", "ended_on"
    ):
        last = end if ended_on is None else min(end, ended_on - datetime.timedelta(days=1))
        frozen[membership_id].append((start, last))
    profiles = []
    for member_id in members:
        own = memberships.get(member_id, [])
        habit, earliest, latest, _ = rng.choices(HABITS, [h[3] for h in HABITS])[0]
        if any(m.plan.access_hours for m in own):
            habit, earliest, latest = "daytime", 9 * 60 + 15, 12 * 60 + 30  # off-peak plans
        elif any("student" in m.plan.name.lower() for m in own) and rng.random() < 0.25:
            habit, earliest, latest = "afternoon", 13 * 60, 16 * 60  # after lectures
        profiles.append(
            _Profile(
                member_id=member_id,
                memberships=own,
                regular=rng.random() < REGULAR_SHARE,
                habit=habit,
                anchor=rng.randint(earliest, latest) if latest else 0,
                rate=rng.uniform(0.1, 0.7),
                method=_any_method(rng),
                frozen={m.pk: frozen[m.pk] for m in own if m.pk in frozen},
            )
        )
    return profiles


def _class_visits(
    rng: random.Random,
    profile: _Profile,
    bookings: list[tuple[int, int | None, datetime.datetime, datetime.datetime]],
    *,
    tz: datetime.tzinfo,
    grace_days: int,
) -> list[_Visit]:
    """The member's visits for their attended bookings (id, membership id, session
    start, session end), in start order: one per booking, or one for back-to-back
    classes, starting shortly before the (first) class and linked to its booking."""
    visits: list[_Visit] = []
    for booking_id, membership_id, starts_at, ends_at in bookings:
        day = starts_at.astimezone(tz).date()
        allowed = _membership_on(profile, day, grace_days, open_gym=False)
        if not allowed:
            continue  # the booking predates the member's membership: no visit to record
        membership = next((m for m in allowed if m.pk == membership_id), allowed[0])
        last = visits[-1] if visits else None
        if (
            last is not None
            and last.last_class_end is not None
            and starts_at - last.last_class_end < MERGE_GAP
            and ends_at + datetime.timedelta(minutes=10) - last.arrival <= LONGEST_VISIT
        ):
            last.last_class_end = ends_at
            last.leave = ends_at + datetime.timedelta(minutes=rng.randint(2, 10))
            continue
        arrival = starts_at - datetime.timedelta(minutes=rng.randint(3, 20), seconds=rng.randrange(60))
        if last is not None and last.last_class_end is not None and arrival <= last.leave:
            # The next class is close but one visit would run too long: the member
            # leaves between the classes and checks in again.
            room = max(starts_at - last.last_class_end, datetime.timedelta(0))
            last.leave = min(last.leave, last.last_class_end + room / 2)
            arrival = last.leave + datetime.timedelta(minutes=1)
            if arrival > starts_at + datetime.timedelta(minutes=15):
                continue
        method = CheckIn.Method.BOOKING_QR if rng.random() < 0.45 else _method(rng, profile)
        visits.append(
            _Visit(
                member_id=profile.member_id,
                membership_id=membership.pk,
                arrival=arrival,
                leave=ends_at + datetime.timedelta(minutes=rng.randint(3, 25), seconds=rng.randrange(60)),
                method=method,
                booking_id=booking_id,
                last_class_end=ends_at,
            )
        )
    return visits


def _free_visits(
    rng: random.Random,
    profile: _Profile,
    days: list[datetime.date],
    class_days: set[datetime.date],
    skip_days: set[datetime.date],
    *,
    tz: datetime.tzinfo,
    grace_days: int,
) -> list[_Visit]:
    """The member's open-gym visits, week by week, around their class days."""
    visits: list[_Visit] = []
    weeks: dict[datetime.date, list[datetime.date]] = defaultdict(list)
    for day in days:
        weeks[day - datetime.timedelta(days=day.weekday())].append(day)
    for week_days in weeks.values():
        target = _weekly_target(rng, profile, len(week_days)) - len(class_days.intersection(week_days))
        candidates = [
            d
            for d in week_days
            if d not in class_days and d not in skip_days and _membership_on(profile, d, grace_days)
        ]
        for day in _weighted_sample(rng, candidates, target):
            allowed = _membership_on(profile, day, grace_days)
            for _attempt in range(4):
                minute = _arrival_minute(rng, profile, day)
                local = datetime.datetime.combine(day, datetime.time(minute // 60, minute % 60, rng.randrange(60)))
                arrival = local.replace(tzinfo=tz)
                membership = next((m for m in allowed if access_hours_allow(m.plan, arrival)), None)
                if membership is not None:
                    break
            else:
                continue  # no time the plan allows that fits the member's day
            minutes = rng.triangular(45, 120, 70)
            visits.append(
                _Visit(
                    member_id=profile.member_id,
                    membership_id=membership.pk,
                    arrival=arrival.astimezone(datetime.UTC),
                    leave=(arrival + datetime.timedelta(minutes=minutes)).astimezone(datetime.UTC),
                    method=_method(rng, profile),
                )
            )
    return visits


@transaction.atomic
def demo_checkins_seed(
    *,
    gym: Gym,
    desk: User | None = None,
    weeks: int = 6,
    now: datetime.datetime | None = None,
    seed: int = 2026,
) -> int:
    """Create `weeks` weeks of check-in history up to `now` (aware, default now) in
    the current gym's schema (`gym`, entered with `tenant_context`), plus a few open
    check-ins (members in the gym now) and the printed cards the card scans used.
    `desk` (a receptionist) is recorded as the staff user who checked members in and
    out. Returns the number of check-ins created: 0 when the gym already has any.
    """
    if CheckIn.objects.exists():
        return 0
    now = now or timezone.now()
    tz = gym_tzinfo(gym)
    today = now.astimezone(tz).date()
    first_day = today - datetime.timedelta(weeks=weeks)
    days = [first_day + datetime.timedelta(days=n) for n in range((today - first_day).days + 1)]
    window_start = datetime.datetime.combine(first_day, datetime.time.min, tzinfo=tz)
    grace = gym.payment_grace_days
    rng = random.Random(seed)  # noqa: S311 (demo data, not security)

    members = list(Member.objects.exclude(status=Member.Status.ERASED).order_by("pk").values_list("pk", flat=True))
    memberships: dict[int, list[Membership]] = defaultdict(list)
    rows = Membership.objects.filter(member_id__in=members).select_related("plan").order_by("member_id", "pk")
    for m in sorted(rows, key=lambda m: (m.member_id, m.status != Membership.Status.ACTIVE, m.pk)):
        memberships[m.member_id].append(m)
    attended: dict[int, list[tuple[int, int | None, datetime.datetime, datetime.datetime]]] = defaultdict(list)
    missed: dict[int, set[datetime.date]] = defaultdict(set)
    bookings = (
        Booking.objects.filter(
            status__in=[Booking.Status.ATTENDED, Booking.Status.NO_SHOW],
            session__starts_at__gte=window_start,
            session__starts_at__lt=now,
        )
        .order_by("member_id", "session__starts_at", "pk")
        .values_list("pk", "member_id", "membership_id", "status", "session__starts_at", "session__ends_at")
    )
    for booking_id, member_id, membership_id, status, starts_at, ends_at in bookings:
        if status == Booking.Status.ATTENDED:
            attended[member_id].append((booking_id, membership_id, starts_at, ends_at))
        else:
            missed[member_id].add(starts_at.astimezone(tz).date())

    visits: list[_Visit] = []
    profiles = _profiles(rng, members, memberships)
    for profile in profiles:
        own = _class_visits(rng, profile, attended[profile.member_id], tz=tz, grace_days=grace)
        class_days = {v.arrival.astimezone(tz).date() for v in own}
        own += _free_visits(rng, profile, days, class_days, missed[profile.member_id], tz=tz, grace_days=grace)
        visits += [v for v in own if v.arrival <= now]

    open_now = {v.member_id for v in visits if v.leave > now}
    _top_up_open(rng, profiles, visits, open_now, now=now, tz=tz, grace_days=grace)
    return _write(rng, visits, profiles, gym=gym, desk=desk, now=now)


def _top_up_open(
    rng: random.Random,
    profiles: list[_Profile],
    visits: list[_Visit],
    open_now: set[int],
    *,
    now: datetime.datetime,
    tz: datetime.tzinfo,
    grace_days: int,
) -> None:
    """Add visits in progress for members who may be in now, up to `IN_THE_GYM_NOW`."""
    today = now.astimezone(tz).date()
    last_leave: dict[int, datetime.datetime] = {}
    for v in visits:
        last_leave[v.member_id] = max(v.leave, last_leave.get(v.member_id, v.leave))
    candidates = [p for p in profiles if p.member_id not in open_now]
    rng.shuffle(candidates)
    for profile in candidates:
        if len(open_now) >= IN_THE_GYM_NOW:
            break
        arrival = now - datetime.timedelta(minutes=rng.randint(5, 75), seconds=rng.randrange(60))
        if profile.member_id in last_leave and last_leave[profile.member_id] >= arrival:
            continue
        local = arrival.astimezone(tz)
        membership = next(
            (m for m in _membership_on(profile, today, grace_days) if access_hours_allow(m.plan, local)), None
        )
        if membership is None or local.date() != today:
            continue
        visits.append(
            _Visit(
                member_id=profile.member_id,
                membership_id=membership.pk,
                arrival=arrival,
                leave=now + datetime.timedelta(minutes=rng.randint(10, 60)),
                method=_method(rng, profile),
            )
        )
        open_now.add(profile.member_id)


def _write(
    rng: random.Random,
    visits: list[_Visit],
    profiles: list[_Profile],
    *,
    gym: Gym,
    desk: User | None,
    now: datetime.datetime,
) -> int:
    """bulk_create the check-ins, and the printed cards behind the card scans."""
    auto = datetime.timedelta(hours=gym.auto_checkout_hours)
    visits.sort(key=lambda v: (v.arrival, v.member_id))
    next_arrival: dict[int, datetime.datetime] = {}
    comes_back: list[datetime.datetime | None] = [None] * len(visits)
    for i in range(len(visits) - 1, -1, -1):
        comes_back[i] = next_arrival.get(visits[i].member_id)
        next_arrival[visits[i].member_id] = visits[i].arrival
    rows = []
    for v, back in zip(visits, comes_back, strict=True):
        row = CheckIn(
            member_id=v.member_id,
            membership_id=v.membership_id,
            booking_id=v.booking_id,
            method=v.method,
            checked_in_at=v.arrival,
            checked_in_by=desk,
        )
        if v.leave <= now:
            # Left without checking out: closed by the task, unless they were back
            # before it ran (then the desk checked them out).
            closed_by_task = v.arrival + auto <= min(now, back or now)
            if rng.random() < AUTO_CHECK_OUT_SHARE and closed_by_task:
                row.checked_out_at, row.check_out_kind = v.arrival + auto, CheckIn.CheckOutKind.AUTO
            else:
                row.checked_out_at, row.check_out_kind = v.leave, CheckIn.CheckOutKind.MANUAL
                row.checked_out_by = desk
        rows.append(row)
    CheckIn.objects.bulk_create(rows, batch_size=5000)
    _cards(rng, rows, desk=desk)
    return len(rows)


def _cards(rng: random.Random, rows: list[CheckIn], *, desk: User | None) -> None:
    """One live card for each member who scanned a card, issued before their first
    card scan; a few also have an older card they lost (revoked when the new one was
    issued)."""
    first_scan: dict[int, datetime.datetime] = {}
    for row in rows:
        if row.method == CheckIn.Method.CARD_QR and row.member_id not in first_scan:
            first_scan[row.member_id] = row.checked_in_at
    cards, dates = [], []
    for member_id, scanned in sorted(first_scan.items()):
        issued = scanned - datetime.timedelta(days=rng.randint(1, 60), minutes=rng.randint(0, 600))
        if rng.random() < 0.06:
            lost = issued - datetime.timedelta(days=rng.randint(30, 300))
            cards.append(MemberCard(member_id=member_id, issued_by=desk, revoked_at=issued, revoked_by=desk))
            dates.append(lost)
        cards.append(MemberCard(member_id=member_id, issued_by=desk))
        dates.append(issued)
    MemberCard.objects.bulk_create(cards)
    for card, issued_at in zip(cards, dates, strict=True):
        card.issued_at = issued_at  # auto_now_add wrote "now" on create
    MemberCard.objects.bulk_update(cards, ["issued_at"], batch_size=1000)
