"""The demo gym's check-in history: weekday peaks and quieter weekends in the gym's
local time, visits only on days a membership let the member in, attended bookings
with their check-ins, every past visit checked out, a few members in the gym now,
deterministic and idempotent."""

from __future__ import annotations

import datetime
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.bookings.models import Booking
from apps.bookings.services.eligibility import access_hours_allow
from apps.checkins.demo import IN_THE_GYM_NOW, demo_checkins_seed
from apps.checkins.models import CheckIn, MemberCard
from apps.checkins.services import ATTENDANCE_AFTER, ATTENDANCE_BEFORE
from apps.classes.demo import demo_timetable_seed
from apps.members.demo import demo_members_seed
from apps.memberships.models import Freeze, Membership
from apps.memberships.selectors import membership_covers
from apps.plans.models import Plan
from apps.staff.roles import Role
from apps.tenants.dispatch import gym_tzinfo
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

WEEKS = 6


@dataclass
class Seeded:
    gym: Gym
    now: datetime.datetime
    tz: datetime.tzinfo
    created: int
    check_ins: list[CheckIn]

    def local(self, at: datetime.datetime) -> datetime.datetime:
        return at.astimezone(self.tz)


@pytest.fixture
def seeded(gym_a: Gym, make_staff) -> Iterator[Seeded]:
    """Gym A with the demo members, timetable and check-ins (seeded at `now`)."""
    instructors = [make_staff(gym_a, Role.TRAINER) for _ in range(4)]
    desk = make_staff(gym_a, Role.RECEPTIONIST)
    now = timezone.now()
    with tenant_context(gym_a):
        demo_members_seed(count=300)
        demo_timetable_seed(instructors=instructors)
        created = demo_checkins_seed(gym=gym_a, desk=desk, now=now)
        rows = list(CheckIn.objects.select_related("membership__plan", "booking__session").order_by("pk"))
        yield Seeded(gym=gym_a, now=now, tz=gym_tzinfo(gym_a), created=created, check_ins=rows)


def test_weekdays_peak_morning_and_evening_weekends_are_later_and_sunday_quietest(seeded: Seeded) -> None:
    weekday_hours: Counter[int] = Counter()
    weekend_hours: Counter[int] = Counter()
    per_weekday: Counter[int] = Counter()
    today = seeded.local(seeded.now).date()
    # the history: the visits over (open ones are topped up whatever the hour now)
    for c in (c for c in seeded.check_ins if c.checked_out_at is not None):
        at = seeded.local(c.checked_in_at)
        (weekday_hours if at.weekday() < 5 else weekend_hours)[at.hour] += 1
        if at.date() < today:  # whole days only: six of each weekday
            per_weekday[at.weekday()] += 1

    def per_hour(counts: Counter[int], hours: range) -> float:
        return sum(counts[h] for h in hours) / len(hours)

    # then: check-ins per hour at 06-09 and 17-20 are well above 13-15 on weekdays
    afternoon = per_hour(weekday_hours, range(13, 15))
    assert per_hour(weekday_hours, range(6, 9)) > 1.5 * afternoon > 0
    assert per_hour(weekday_hours, range(17, 20)) > 1.5 * afternoon

    # weekends: no early rush or after-work peak, most visits in the late morning
    def share(counts: Counter[int], hours: range) -> float:
        return sum(counts[h] for h in hours) / sum(counts.values())

    assert share(weekend_hours, range(0, 6)) == 0 < share(weekday_hours, range(0, 6))
    assert share(weekend_hours, range(17, 21)) < 0.1 < 0.2 < share(weekday_hours, range(17, 21))
    assert share(weekend_hours, range(7, 12)) > 0.6 > 0.4 > share(weekday_hours, range(7, 12))
    assert 7 <= max(weekend_hours, key=lambda h: weekend_hours[h]) <= 11
    # Sunday is the quietest day, well under any weekday
    assert per_weekday[6] < per_weekday[5]
    assert per_weekday[6] < 0.75 * min(per_weekday[d] for d in range(5))


def test_history_spans_six_weeks_with_regulars_and_rare_visitors(seeded: Seeded) -> None:
    today = seeded.local(seeded.now).date()
    first = min(seeded.local(c.checked_in_at).date() for c in seeded.check_ins)
    assert seeded.created == len(seeded.check_ins) > 1000
    assert first == today - datetime.timedelta(weeks=WEEKS)
    assert max(c.checked_in_at for c in seeded.check_ins) <= seeded.now
    # each week of the window has visits
    weeks_seen = {(seeded.local(c.checked_in_at).date() - first).days // 7 for c in seeded.check_ins}
    assert weeks_seen == set(range(WEEKS + 1))
    # regulars come 3+ times a week; others rarely
    visits = Counter(c.member_id for c in seeded.check_ins)
    regulars = [m for m, n in visits.items() if n >= 3 * WEEKS]
    rare = [m for m, n in visits.items() if n <= WEEKS]
    assert len(regulars) > 0.2 * len(visits)
    assert len(rare) > 0.1 * len(visits)
    # ... at their usual time: a regular's weekday check-ins mostly fall in two hours
    spread = []
    for member_id in regulars:
        hours = Counter(
            seeded.local(c.checked_in_at).hour
            for c in seeded.check_ins
            if c.member_id == member_id and seeded.local(c.checked_in_at).weekday() < 5
        )
        spread.append(sum(n for _, n in hours.most_common(2)) / max(sum(hours.values()), 1))
    assert sorted(spread)[len(spread) // 2] >= 0.5


def test_visits_only_on_days_a_membership_let_the_member_in(seeded: Seeded) -> None:
    grace = datetime.timedelta(days=seeded.gym.payment_grace_days)
    freezes: dict[int, list[Freeze]] = defaultdict(list)
    for f in Freeze.objects.all():
        freezes[f.membership_id].append(f)
    statuses: Counter[str] = Counter()
    for c in seeded.check_ins:
        m, at = c.membership, seeded.local(c.checked_in_at)
        day = at.date()
        assert m is not None and m.member_id == c.member_id
        assert membership_covers(m, day=day), (c.pk, m.pk, day)
        assert not any(f.start_date <= day <= f.end_date for f in freezes[m.pk])
        if m.status == Membership.Status.PAST_DUE:
            assert m.past_due_since is not None and day < m.past_due_since + grace
        if m.status == Membership.Status.FROZEN:
            assert freezes[m.pk] and day < min(f.start_date for f in freezes[m.pk])
        if c.booking_id is None:
            assert m.plan.kind != Plan.Kind.CLASS_PACK  # packs are for classes
            assert access_hours_allow(m.plan, at)
        statuses[m.status] += 1
    # the frozen, cancelled and expired ones did visit before their freeze or end
    assert statuses[Membership.Status.ACTIVE] > 0
    assert statuses[Membership.Status.CANCELLED] + statuses[Membership.Status.EXPIRED] > 0
    assert statuses[Membership.Status.FROZEN] > 0


def test_attended_bookings_have_their_check_ins(seeded: Seeded) -> None:
    first_day = seeded.local(seeded.now).date() - datetime.timedelta(weeks=WEEKS)
    window_start = datetime.datetime.combine(first_day, datetime.time.min, tzinfo=seeded.tz)
    by_member: dict[int, list[CheckIn]] = defaultdict(list)
    for c in seeded.check_ins:
        by_member[c.member_id].append(c)
        if c.booking is not None:  # linked as checkin_create links: session in the attendance window
            assert c.booking.member_id == c.member_id and c.booking.status == Booking.Status.ATTENDED
            starts = c.booking.session.starts_at
            assert c.checked_in_at - ATTENDANCE_AFTER <= starts <= c.checked_in_at + ATTENDANCE_BEFORE
    assert len({c.booking_id for c in seeded.check_ins if c.booking_id}) == sum(
        1 for c in seeded.check_ins if c.booking_id
    )
    attended = Booking.objects.filter(
        status=Booking.Status.ATTENDED, session__starts_at__gte=window_start, session__starts_at__lt=seeded.now
    ).select_related("membership", "session")
    checked = 0
    for booking in attended:
        day = seeded.local(booking.session.starts_at).date()
        if booking.membership is None or not membership_covers(booking.membership, day=day):
            continue  # the demo timetable booked it before the member's membership began
        # the member was in the gym for the class: in by its start (or a few minutes late), out after its end
        assert any(
            c.checked_in_at <= booking.session.starts_at + ATTENDANCE_AFTER
            and (c.checked_out_at is None or c.checked_out_at >= booking.session.ends_at)
            for c in by_member[booking.member_id]
        ), booking.pk
        checked += 1
    assert checked > 0.8 * attended.count()
    assert sum(1 for c in seeded.check_ins if c.booking_id) > 0.5 * checked


def test_past_visits_are_checked_out_and_a_few_members_are_in_now(seeded: Seeded) -> None:
    auto_after = datetime.timedelta(hours=seeded.gym.auto_checkout_hours)
    kinds: Counter[str] = Counter()
    for c in seeded.check_ins:
        if c.checked_out_at is None:
            assert c.check_out_kind == "" and c.checked_in_at > seeded.now - datetime.timedelta(minutes=150)
            continue
        assert c.checked_out_at > c.checked_in_at
        kinds[c.check_out_kind] += 1
        if c.check_out_kind == CheckIn.CheckOutKind.AUTO:
            # as the automatic check-out writes them
            assert c.checked_out_at == c.checked_in_at + auto_after <= seeded.now
        else:
            assert c.check_out_kind == CheckIn.CheckOutKind.MANUAL
            minutes = (c.checked_out_at - c.checked_in_at).total_seconds() / 60
            # 45-120 minutes; back-to-back classes in one visit up to 150
            assert 45 <= minutes <= (150 if c.booking_id else 120), (c.pk, minutes)
            assert c.checked_out_at <= seeded.now
    assert set(kinds) == {"manual", "auto"} and kinds["manual"] > 3 * kinds["auto"]
    open_members = Counter(c.member_id for c in seeded.check_ins if c.checked_out_at is None)
    assert sum(open_members.values()) >= IN_THE_GYM_NOW
    assert max(open_members.values()) == 1  # nobody is in twice
    # one visit at a time per member
    by_member: dict[int, list[CheckIn]] = defaultdict(list)
    for c in sorted(seeded.check_ins, key=lambda c: c.checked_in_at):
        by_member[c.member_id].append(c)
    for visits in by_member.values():
        for before, after in itertools.pairwise(visits):
            assert before.checked_out_at is not None and before.checked_out_at < after.checked_in_at
    # members who scanned a card hold one live card, issued before the first scan
    card_scans = {c.member_id: c.checked_in_at for c in reversed(seeded.check_ins) if c.method == "card_qr"}
    cards = {card.member_id: card for card in MemberCard.objects.filter(revoked_at__isnull=True)}
    assert card_scans and set(cards) == set(card_scans)
    assert all(cards[m].issued_at < min(c.checked_in_at for c in by_member[m] if c.method == "card_qr") for m in cards)


def test_deterministic_idempotent_and_only_in_this_gym(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    instructors = [make_staff(gym_a, Role.TRAINER) for _ in range(2)]
    now = timezone.now()
    with tenant_context(gym_a):
        demo_members_seed(count=120)
        demo_timetable_seed(instructors=instructors)
        first = _seed_and_read(gym_a, now, rollback=True)
        second = _seed_and_read(gym_a, now, rollback=False)

        assert first == second and len(first) > 100
        assert demo_checkins_seed(gym=gym_a, now=now) == 0  # a second seed_demo run adds nothing
        assert CheckIn.objects.count() == len(first)
    with tenant_context(gym_b):
        assert not CheckIn.objects.exists() and not MemberCard.objects.exists()


class _Rollback(Exception):
    pass


def _seed_and_read(gym: Gym, now: datetime.datetime, *, rollback: bool) -> list[tuple[object, ...]]:
    fields = ("member_id", "membership_id", "booking_id", "method", "checked_in_at", "checked_out_at", "check_out_kind")
    try:
        with transaction.atomic():
            demo_checkins_seed(gym=gym, now=now)
            rows = list(CheckIn.objects.order_by("checked_in_at", "member_id").values_list(*fields))
            if rollback:
                raise _Rollback
    except _Rollback:
        pass
    return rows
