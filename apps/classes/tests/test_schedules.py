"""Recurring schedules, DST, and editing or cancelling "this" or "this and following"."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django_tenants.utils import tenant_context

from apps.classes.errors import ClassError
from apps.classes.models import ClassSchedule, ClassSession
from apps.classes.services import (
    class_create,
    schedule_create,
    schedule_preview,
    session_cancel,
    session_update,
)
from apps.classes.tests.factories import GymClassFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

LONDON = zoneinfo.ZoneInfo("Europe/London")
D = datetime.date
T = datetime.time


def test_weekly_rule_on_chosen_weekdays_with_count() -> None:
    starts = schedule_preview(
        frequency="weekly", interval=1, weekdays=[0, 2], start_date=D(2026, 3, 2), start_time=T(7), count=4, tz="UTC"
    )
    assert [s.date() for s in starts] == [D(2026, 3, 2), D(2026, 3, 4), D(2026, 3, 9), D(2026, 3, 11)]
    assert all(s.time() == T(7) for s in starts)


def test_daily_every_other_day_until_and_monthly() -> None:
    daily = schedule_preview(
        frequency="daily",
        interval=2,
        weekdays=[],
        start_date=D(2026, 1, 1),
        start_time=T(18, 30),
        until=D(2026, 1, 7),
        tz="UTC",
    )
    monthly = schedule_preview(
        frequency="monthly", interval=1, weekdays=[], start_date=D(2026, 1, 15), start_time=T(9), count=3, tz="UTC"
    )
    assert [s.day for s in daily] == [1, 3, 5, 7]
    assert [s.date() for s in monthly] == [D(2026, 1, 15), D(2026, 2, 15), D(2026, 3, 15)]


def test_a_0700_class_stays_at_0700_local_across_the_clock_change() -> None:
    # UK clocks go forward on Sunday 29 March 2026: 07:00 GMT is 07:00 UTC, 07:00 BST is 06:00 UTC.
    starts = schedule_preview(
        frequency="daily", interval=1, weekdays=[], start_date=D(2026, 3, 28), start_time=T(7), count=3, tz=LONDON
    )
    assert [s.astimezone(LONDON).time() for s in starts] == [T(7)] * 3
    assert [s.astimezone(datetime.UTC).hour for s in starts] == [7, 6, 6]


def test_a_time_that_does_not_exist_moves_forward_by_the_gap() -> None:
    (start,) = schedule_preview(
        frequency="daily", interval=1, weekdays=[], start_date=D(2026, 3, 29), start_time=T(1, 30), count=1, tz=LONDON
    )
    assert start.astimezone(LONDON).time() == T(2, 30)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        (dict(count=None, until=None), "schedule_unbounded"),
        (dict(count=None, until=D(2026, 1, 1)), "schedule_invalid"),
        (dict(count=500), "schedule_too_long"),
        (dict(count=3, weekdays=[7]), "schedule_invalid"),
        (dict(count=3, frequency="hourly"), "schedule_invalid"),
        (dict(count=None, until=D(2030, 1, 1), frequency="daily"), "schedule_too_long"),
    ],
)
def test_bad_rules_are_refused(kwargs: dict, code: str) -> None:
    rule = dict(frequency="weekly", interval=1, weekdays=[0], start_date=D(2026, 3, 2), start_time=T(7), tz="UTC")
    with pytest.raises(ClassError) as exc:
        schedule_preview(**(rule | kwargs))
    assert exc.value.code == code


def _weekly(gym: Gym, **overrides: object) -> tuple[ClassSchedule, list[ClassSession]]:
    gym_class = GymClassFactory(duration_minutes=45)
    rule = dict(frequency="weekly", interval=1, weekdays=[0], start_date=D(2027, 3, 1), start_time=T(7), count=6)
    return schedule_create(gym_class=gym_class, **(rule | overrides))


def test_schedule_create_makes_sessions_in_gym_local_time_with_gym_windows(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        schedule, sessions = _weekly(gym_a)

        assert len(sessions) == ClassSession.objects.filter(schedule=schedule).count() == 6
        assert all(s.starts_at.astimezone(LONDON).time() == T(7) for s in sessions)
        assert all(s.ends_at - s.starts_at == datetime.timedelta(minutes=45) for s in sessions)
        assert {s.cancellation_window_hours for s in sessions} == {gym_a.cancellation_window_hours}
        # The UK clock change (28 March 2027) falls inside: UTC hours differ, local ones don't.
        assert {s.starts_at.astimezone(datetime.UTC).hour for s in sessions} == {6, 7}


def test_edit_this_session_only(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        _, sessions = _weekly(gym_a)
        changed = session_update(session=sessions[2], scope="this", start_time=T(8, 15), notes="Sub teacher")

        assert [s.pk for s in changed] == [sessions[2].pk]
        times = [s.starts_at.astimezone(LONDON).time() for s in ClassSession.objects.order_by("starts_at")]
        assert times == [T(7), T(7), T(8, 15), T(7), T(7), T(7)]


def test_edit_this_and_following_splits_the_schedule(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        schedule, sessions = _weekly(gym_a)
        changed = session_update(session=sessions[3], scope="following", start_time=T(18), duration_minutes=60)

        assert [s.pk for s in changed] == [s.pk for s in sessions[3:]]
        ordered = list(ClassSession.objects.order_by("starts_at"))
        assert [s.starts_at.astimezone(LONDON).time() for s in ordered] == [T(7)] * 3 + [T(18)] * 3
        assert all(s.ends_at - s.starts_at == datetime.timedelta(minutes=60) for s in ordered[3:])
        schedule.refresh_from_db()
        new = ClassSchedule.objects.exclude(pk=schedule.pk).get()
        assert schedule.until == sessions[3].starts_at.astimezone(LONDON).date() - datetime.timedelta(days=1)
        assert new.start_time == T(18) and new.start_date == sessions[3].starts_at.astimezone(LONDON).date()
        assert {s.schedule_id for s in ordered[:3]} == {schedule.pk} and {s.schedule_id for s in ordered[3:]} == {
            new.pk
        }


def test_past_sessions_cannot_be_edited_or_cancelled(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        _, sessions = _weekly(gym_a)
        later = sessions[0].starts_at + datetime.timedelta(minutes=1)
        with pytest.raises(ClassError) as edit:
            session_update(session=sessions[0], scope="this", notes="x", now=later)
        with pytest.raises(ClassError) as cancel:
            session_cancel(session=sessions[0], scope="this", reason="x", now=later)
        assert edit.value.code == cancel.value.code == "session_in_past"


def test_cancel_this_and_following(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        _, sessions = _weekly(gym_a)
        cancelled = session_cancel(session=sessions[4], scope="following", reason="Studio refurbishment")

        assert [s.pk for s in cancelled] == [s.pk for s in sessions[4:]]
        statuses = list(ClassSession.objects.order_by("starts_at").values_list("status", flat=True))
        assert statuses == ["scheduled"] * 4 + ["cancelled"] * 2
        with pytest.raises(ClassError) as again:
            session_cancel(session=sessions[5], scope="this", reason="x")
        assert again.value.code == "session_not_scheduled"


def test_instructor_must_be_a_trainer(gym_a: Gym, make_staff) -> None:
    desk = make_staff(gym_a, Role.RECEPTIONIST)
    coach = make_staff(gym_a, Role.TRAINER)
    with tenant_context(gym_a):
        with pytest.raises(ClassError) as exc:
            class_create(name="Spin", default_instructor=desk)
        assert exc.value.code == "instructor_not_trainer"
        assert class_create(name="Spin", default_instructor=coach).default_instructor == coach


def test_instructor_from_another_gym_is_refused(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    coach_b = make_staff(gym_b, Role.TRAINER)
    with tenant_context(gym_a), pytest.raises(ClassError):
        class_create(name="Spin", default_instructor=coach_b)


def test_cancelling_a_session_cancels_its_bookings_refunds_and_records_notices(gym_a: Gym) -> None:
    from apps.bookings.models import Booking, CreditEntry
    from apps.bookings.services import booking_create
    from apps.memberships.tests.factories import MembershipFactory
    from apps.notifications.models import Notification
    from apps.plans.tests.factories import PlanFactory

    with tenant_context(gym_a):
        gym_class = GymClassFactory(capacity=1)
        session = ClassSession.objects.create(
            gym_class=gym_class,
            starts_at=datetime.datetime(2027, 5, 3, 7, tzinfo=datetime.UTC),
            ends_at=datetime.datetime(2027, 5, 3, 8, tzinfo=datetime.UTC),
        )
        plan = PlanFactory(class_credits=8)
        now = datetime.datetime(2027, 5, 1, 12, tzinfo=datetime.UTC)
        first, second = (
            MembershipFactory(plan=plan, start_date=D(2027, 4, 20), next_billing_date=D(2027, 5, 20)) for _ in range(2)
        )
        confirmed = booking_create(member=first.member, session=session, now=now)
        waiting = booking_create(member=second.member, session=session, join_waitlist=True, now=now)

        session_cancel(session=session, scope="this", reason="Instructor ill", now=now)

        statuses = dict(Booking.objects.values_list("pk", "status"))
        assert statuses == {confirmed.pk: "cancelled", waiting.pk: "cancelled"}
        refunds = CreditEntry.objects.filter(booking=confirmed, kind="refund")
        assert [r.amount for r in refunds] == [1]
        assert set(Notification.objects.filter(kind="session_cancelled").values_list("member_id", flat=True)) == {
            first.member_id,
            second.member_id,
        }
