"""Scheduled notifications (`apps.notifications.schedules`): each rule's window in the
gym's timezone, what it skips, its idempotency, its query count, and the per-gym beat
task over two gyms in different timezones (in-process at fixed instants, and through
the beat dispatcher and a real Celery worker at the real time)."""

from __future__ import annotations

import datetime
import time
import uuid
import zoneinfo
from collections.abc import Iterator
from datetime import date as D
from decimal import Decimal
from typing import Any

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.accounts.tests.factories import UserFactory
from apps.bookings.models import Booking
from apps.bookings.tests.test_concurrency import committed, provision_with_retry
from apps.checkins.models import CheckIn
from apps.classes.models import ClassSession
from apps.classes.tests.factories import ClassSessionFactory, GymClassFactory
from apps.invoices.models import Invoice
from apps.invoices.pdf import invoice_pay_token_read
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.tenants.models import Gym

from ..models import MessagingSettings, Notification
from ..schedules import (
    birthdays_record,
    class_reminders_record,
    invoice_overdue_reminders_record,
    membership_expiring_record,
    re_engagement_record,
    renewal_upcoming_record,
    scheduled_notifications_record,
)
from ..tasks import notifications_schedule_dispatch_task, notifications_schedule_task

pytestmark = pytest.mark.django_db

JOBURG = "Africa/Johannesburg"  # UTC+2 all year
NEW_YORK = "America/New_York"  # UTC-5 in winter (EST), UTC-4 from 8 March 2026 (EDT)
H = datetime.timedelta(hours=1)
M = datetime.timedelta(minutes=1)


def utc(*args: int) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def local(gym: Gym, *args: int) -> datetime.datetime:
    """A gym-local wall-clock time as an aware datetime (compare/convert freely)."""
    return datetime.datetime(*args, tzinfo=zoneinfo.ZoneInfo(gym.timezone))


def set_timezone(gym: Gym, name: str) -> Gym:
    """Give `gym` the IANA timezone `name` (in the database and on the instance)."""
    Gym.objects.filter(pk=gym.pk).update(timezone=name)
    gym.timezone = name
    return gym


@pytest.fixture
def joburg(gym_a: Gym) -> Gym:
    """Gym A in Johannesburg (UTC+2, no daylight saving)."""
    return set_timezone(gym_a, JOBURG)


def keys(kind: str | None = None) -> set[str]:
    rows = Notification.objects.all() if kind is None else Notification.objects.filter(kind=kind)
    return set(rows.values_list("idempotency_key", flat=True))


# --- class reminders -------------------------------------------------------------------------


def booked(session: ClassSession, status: str = Booking.Status.CONFIRMED, member: Member | None = None) -> Booking:
    return Booking.objects.create(member=member or MemberFactory(), session=session, status=status)


def session_at(starts_at: datetime.datetime, **fields: Any) -> ClassSession:
    gym_class = fields.pop("gym_class", None) or GymClassFactory()
    return ClassSessionFactory(gym_class=gym_class, starts_at=starts_at, ends_at=starts_at + H, **fields)


def reminder_key(booking: Booking) -> str:
    booking.session.refresh_from_db()
    return f"class_reminder:booking:{booking.pk}:{booking.session.starts_at.astimezone(datetime.UTC).isoformat()}"


def test_class_reminders_cover_confirmed_bookings_of_sessions_starting_within_the_lead(joburg: Gym) -> None:
    now = utc(2026, 3, 2, 8, 0)
    with tenant_context(joburg):
        # given sessions before, at, inside and past the 120-minute window
        started = booked(session_at(now - M))
        starting_now = booked(session_at(now))
        soon = booked(session_at(now + 30 * M))
        at_edge = booked(session_at(now + 120 * M))
        too_far = booked(session_at(now + 121 * M))

        # when the reminders are recorded
        recorded = class_reminders_record(now=now)

        # then only those starting after now and within 120 minutes get one
        assert recorded == 2
        assert keys("class_reminder") == {reminder_key(soon), reminder_key(at_edge)}
        assert not keys() & {reminder_key(b) for b in (started, starting_now, too_far)}


def test_class_reminder_data_names_the_class_room_instructor_and_due_time(joburg: Gym) -> None:
    now = utc(2026, 3, 2, 8, 0)
    with tenant_context(joburg):
        coach = UserFactory(first_name="Thandi", last_name="Nkosi")
        default_coach = UserFactory(first_name="Sipho", last_name="Dlamini")
        yoga = GymClassFactory(name="Sunrise Yoga", location="Studio 2", default_instructor=default_coach)
        with_coach = booked(session_at(now + 90 * M, gym_class=yoga, instructor=coach))
        with_default = booked(session_at(now + 60 * M, gym_class=yoga))
        nobody = booked(session_at(now + 45 * M, gym_class=GymClassFactory(name="Open Gym", location="")))

        class_reminders_record(now=now)

        data = Notification.objects.get(idempotency_key=reminder_key(with_coach)).data
        assert data == {
            "booking_id": with_coach.pk,
            "session_id": with_coach.session_id,
            "class_name": "Sunrise Yoga",
            "starts_at": "2026-03-02T09:30:00+00:00",
            "ends_at": "2026-03-02T10:30:00+00:00",
            "location": "Studio 2",
            "instructor": "Thandi Nkosi",
            "due_at": "2026-03-02T07:30:00+00:00",
        }
        assert (
            Notification.objects.get(idempotency_key=reminder_key(with_default)).data["instructor"] == "Sipho Dlamini"
        )
        assert "instructor" not in Notification.objects.get(idempotency_key=reminder_key(nobody)).data
        reminder = Notification.objects.get(idempotency_key=reminder_key(with_coach))
        assert (reminder.member_id, reminder.category, reminder.status) == (
            with_coach.member_id,
            "reminders",
            "pending",
        )


def test_class_reminders_skip_cancelled_sessions_and_bookings_that_are_not_confirmed(joburg: Gym) -> None:
    now = utc(2026, 3, 2, 8, 0)
    with tenant_context(joburg):
        session = session_at(now + H)
        confirmed = booked(session)
        for status in (
            Booking.Status.WAITLISTED,
            Booking.Status.CANCELLED,
            Booking.Status.LATE_CANCELLED,
            Booking.Status.NO_SHOW,
            Booking.Status.ATTENDED,
        ):
            booked(session, status=status)
        cancelled_session = session_at(now + H, status=ClassSession.Status.CANCELLED)
        booked(cancelled_session)

        assert class_reminders_record(now=now) == 1
        assert keys() == {reminder_key(confirmed)}


def test_class_reminder_lead_comes_from_the_gyms_messaging_settings(joburg: Gym) -> None:
    now = utc(2026, 3, 2, 8, 0)
    with tenant_context(joburg):
        MessagingSettings.objects.create(class_reminder_minutes=30)
        inside = booked(session_at(now + 30 * M))
        outside = booked(session_at(now + 31 * M))

        assert class_reminders_record(now=now) == 1
        assert keys() == {reminder_key(inside)}
        assert Notification.objects.get().data["due_at"] == "2026-03-02T08:00:00+00:00"
        # 1 minute later the next one is due
        assert class_reminders_record(now=now + M) == 1
        assert reminder_key(outside) in keys()


def test_repeat_dispatch_records_nothing_new_but_a_moved_session_gets_a_new_reminder(joburg: Gym) -> None:
    now = utc(2026, 3, 2, 8, 0)
    with tenant_context(joburg):
        booking = booked(session_at(now + H))
        first_key = reminder_key(booking)
        assert class_reminders_record(now=now) == 1
        # beat fires again 5 minutes later: nothing new
        assert class_reminders_record(now=now + 5 * M) == 0
        assert scheduled_notifications_record(now=now + 10 * M)["class_reminder"] == 0

        # the session moves 30 minutes later: a reminder for the new time
        ClassSession.objects.filter(pk=booking.session_id).update(starts_at=now + 90 * M, ends_at=now + 150 * M)
        assert class_reminders_record(now=now + 15 * M) == 1
        assert keys() == {first_key, reminder_key(booking)}
        assert reminder_key(booking) != first_key


# --- memberships ---------------------------------------------------------------------------


def one_off_until(end: D, **fields: Any) -> Membership:
    plan = PlanFactory(kind=Plan.Kind.ONE_OFF, billing_period="", name="10-week course")
    return MembershipFactory(plan=plan, end_date=end, next_billing_date=None, **fields)


def test_membership_expiring_seven_days_ahead_in_gym_local_dates(gym_a: Gym) -> None:
    gym = set_timezone(gym_a, NEW_YORK)
    # 3 March 01:00 UTC is 2 March 20:00 in New York: seven days ahead is 9 March
    now = utc(2026, 3, 3, 1, 0)
    with tenant_context(gym):
        ends_9th = one_off_until(D(2026, 3, 9))
        ends_10th = one_off_until(D(2026, 3, 10))
        ends_8th = one_off_until(D(2026, 3, 8))
        recurring = MembershipFactory(next_billing_date=D(2026, 3, 10))  # renews, never "expires"
        # cancelled at period end: its last day is the day before the next billing date
        cancelling = MembershipFactory(
            next_billing_date=D(2026, 3, 10), end_date=D(2026, 3, 9), cancel_at_period_end=True
        )
        one_off_until(D(2026, 3, 9), status=Membership.Status.CANCELLED)
        one_off_until(D(2026, 3, 9), status=Membership.Status.EXPIRED)

        assert membership_expiring_record(now=now) == 2
        assert keys() == {
            f"membership_expiring:membership:{ends_9th.pk}:2026-03-09",
            f"membership_expiring:membership:{cancelling.pk}:2026-03-09",
        }
        data = Notification.objects.get(idempotency_key__contains=f":{cancelling.pk}:").data
        assert data["cancel_at_period_end"] is True and data["end_date"] == "2026-03-09"
        assert data["plan_name"] == cancelling.plan.name
        assert not {ends_10th.pk, ends_8th.pk, recurring.pk} & {
            n.data["membership_id"] for n in Notification.objects.all()
        }
        assert membership_expiring_record(now=now + H) == 0


def test_day_notices_wait_until_nine_gym_time(joburg: Gym) -> None:
    with tenant_context(joburg):
        one_off_until(D(2026, 3, 9))
        MembershipFactory(next_billing_date=D(2026, 3, 5))
        # 08:59 in Johannesburg is 06:59 UTC
        assert membership_expiring_record(now=utc(2026, 3, 2, 6, 59)) == 0
        assert renewal_upcoming_record(now=utc(2026, 3, 2, 6, 59)) == 0
        assert membership_expiring_record(now=utc(2026, 3, 2, 7, 0)) == 1
        assert renewal_upcoming_record(now=utc(2026, 3, 2, 7, 0)) == 1
        assert Notification.objects.filter(kind="renewal_upcoming").get().data["due_at"] == "2026-03-02T07:00:00+00:00"


def test_renewal_upcoming_three_days_ahead_with_what_will_be_charged(joburg: Gym) -> None:
    now = utc(2026, 3, 2, 10, 0)
    with tenant_context(joburg):
        inclusive = MembershipFactory(
            plan=PlanFactory(name="Unlimited", price=Decimal("600.00")), next_billing_date=D(2026, 3, 5)
        )
        exclusive_plan = PlanFactory(
            name="Plus", price=Decimal("100.00"), tax_rate=Decimal("15.00"), price_includes_tax=False
        )
        exclusive = MembershipFactory(plan=exclusive_plan, price=Decimal("80.00"), next_billing_date=D(2026, 3, 5))
        MembershipFactory(next_billing_date=D(2026, 3, 4))
        MembershipFactory(next_billing_date=D(2026, 3, 6))
        MembershipFactory(next_billing_date=D(2026, 3, 5), cancel_at_period_end=True, end_date=D(2026, 3, 4))
        MembershipFactory(next_billing_date=D(2026, 3, 5), status=Membership.Status.FROZEN)
        MembershipFactory(next_billing_date=D(2026, 3, 5), status=Membership.Status.PAST_DUE)

        assert renewal_upcoming_record(now=now) == 2
        by_membership = {n.data["membership_id"]: n for n in Notification.objects.all()}
        assert set(by_membership) == {inclusive.pk, exclusive.pk}
        assert by_membership[inclusive.pk].idempotency_key == f"renewal_upcoming:membership:{inclusive.pk}:2026-03-05"
        assert by_membership[inclusive.pk].data | {"due_at": None} == {
            "membership_id": inclusive.pk,
            "plan_name": "Unlimited",
            "amount": "600.00",
            "currency": joburg.currency,
            "next_billing_date": "2026-03-05",
            "due_at": None,
        }
        # the contract price (80.00), plus 15% tax added on top: 92.00
        assert by_membership[exclusive.pk].data["amount"] == "92.00"
        assert renewal_upcoming_record(now=now + 5 * M) == 0


# --- invoices --------------------------------------------------------------------------------


def open_invoice(due: D, *, total: str = "500.00", **fields: Any) -> Invoice:
    fields.setdefault("member", MemberFactory())
    fields.setdefault("number", f"INV-{uuid.uuid4().hex[:10]}")
    fields.setdefault("status", Invoice.Status.OPEN)
    return Invoice.objects.create(
        currency="GBP",
        issue_date=due - datetime.timedelta(days=7),
        due_date=due,
        total=Decimal(total),
        **fields,
    )


def test_overdue_reminders_at_three_seven_and_fourteen_days_once_each(joburg: Gym) -> None:
    with tenant_context(joburg):
        invoice = open_invoice(D(2026, 3, 1))

        def run(day: int) -> int:
            return invoice_overdue_reminders_record(now=local(joburg, 2026, 3, day, 9, 30))

        # 2 days overdue on the 3rd: nothing; 3 days on the 4th: the first reminder, once
        assert (run(3), run(4), run(4)) == (0, 1, 0)
        assert run(8) == 1  # 7 days overdue
        assert (run(9), run(14)) == (0, 0)
        assert run(15) == 1  # 14 days overdue
        assert keys() == {f"invoice_overdue_reminder:invoice:{invoice.pk}:{step}" for step in (3, 7, 14)}
        assert sorted(n.data["days_overdue"] for n in Notification.objects.all()) == [3, 7, 14]
        assert Notification.objects.first().category == "transactional"  # type: ignore[union-attr]


def test_a_missed_overdue_step_is_caught_up_until_the_next_and_old_invoices_are_left_alone(joburg: Gym) -> None:
    now = local(joburg, 2026, 3, 31, 9, 0)
    with tenant_context(joburg):
        five_days = open_invoice(D(2026, 3, 26))  # step 3 missed on the 29th: caught up
        ten_days = open_invoice(D(2026, 3, 21))  # step 7 (not 3 as well)
        twenty_days = open_invoice(D(2026, 3, 11))  # step 14, still within its week
        open_invoice(D(2026, 3, 10))  # 21 days: reminders have stopped
        open_invoice(D(2026, 3, 29))  # 2 days: not yet

        assert invoice_overdue_reminders_record(now=now) == 3
        assert keys() == {
            f"invoice_overdue_reminder:invoice:{five_days.pk}:3",
            f"invoice_overdue_reminder:invoice:{ten_days.pk}:7",
            f"invoice_overdue_reminder:invoice:{twenty_days.pk}:14",
        }


def test_overdue_reminders_skip_paid_void_settled_and_dunning_invoices(joburg: Gym) -> None:
    now = local(joburg, 2026, 3, 5, 9, 0)
    due = D(2026, 3, 2)
    with tenant_context(joburg):
        part_paid = open_invoice(due, amount_paid=Decimal("200.00"))
        open_invoice(due, status=Invoice.Status.PAID)
        open_invoice(due, status=Invoice.Status.VOID)
        open_invoice(due, amount_paid=Decimal("300.00"), amount_credited=Decimal("200.00"))  # nothing left to pay
        open_invoice(due, auto_collect=True, attempt_count=1, next_payment_attempt=D(2026, 3, 6))  # dunning retries
        gave_up = open_invoice(due, auto_collect=True, attempt_count=4, next_payment_attempt=None)

        assert invoice_overdue_reminders_record(now=now) == 2
        by_invoice = {n.data["invoice_id"]: n.data for n in Notification.objects.all()}
        assert set(by_invoice) == {part_paid.pk, gave_up.pk}
        assert by_invoice[part_paid.pk] | {"due_at": None} == {
            "invoice_id": part_paid.pk,
            "number": part_paid.number,
            "amount_due": "300.00",
            "currency": "GBP",
            "due_date": "2026-03-02",
            "days_overdue": 3,
            "due_at": None,
        }


def test_overdue_reminder_carries_the_signed_pay_link_when_the_gym_takes_cards(joburg: Gym) -> None:
    joburg.stripe_account_id, joburg.stripe_charges_enabled = "acct_test_reminders", True
    with tenant_context(joburg):
        invoice = open_invoice(D(2026, 3, 2))
        assert invoice_overdue_reminders_record(now=local(joburg, 2026, 3, 5, 12, 0)) == 1
        url = Notification.objects.get().data["pay_url"]
        domain = joburg.domains.get(is_primary=True).domain
        assert url.startswith(f"http://{domain}/") or url.startswith(f"https://{domain}/")
        token = url.rstrip("/").rsplit("/", 1)[1]
        assert invoice_pay_token_read(token) == invoice.pk
    # the link names gym A's schema: gym B refuses it
    with tenant_context(Gym.objects.get(slug="gym-b")), pytest.raises(signing.BadSignature):
        invoice_pay_token_read(token)


# --- birthdays -------------------------------------------------------------------------------


def test_birthdays_of_active_members_from_nine_gym_time_once_a_year(joburg: Gym) -> None:
    with tenant_context(joburg):
        birthday = MemberFactory(date_of_birth=D(1990, 3, 2))
        MemberFactory(date_of_birth=D(1990, 3, 2), status=Member.Status.INACTIVE)
        MemberFactory(date_of_birth=D(1990, 3, 3))
        MemberFactory(date_of_birth=None)

        assert birthdays_record(now=local(joburg, 2026, 3, 2, 8, 59)) == 0
        assert birthdays_record(now=local(joburg, 2026, 3, 2, 9, 0)) == 1
        assert birthdays_record(now=local(joburg, 2026, 3, 2, 21, 0)) == 0
        assert keys() == {f"birthday:member:{birthday.pk}:2026"}
        assert Notification.objects.get().data == {"birthday": "2026-03-02", "due_at": "2026-03-02T07:00:00+00:00"}
        # next year, another greeting
        assert birthdays_record(now=local(joburg, 2027, 3, 2, 9, 0)) == 1


def test_leap_day_birthdays_on_28_february_in_other_years(joburg: Gym) -> None:
    with tenant_context(joburg):
        leapling = MemberFactory(date_of_birth=D(2000, 2, 29))
        born_28th = MemberFactory(date_of_birth=D(1999, 2, 28))

        # 2027 is not a leap year: both on the 28th
        assert birthdays_record(now=local(joburg, 2027, 2, 28, 10, 0)) == 2
        assert birthdays_record(now=local(joburg, 2027, 3, 1, 10, 0)) == 0
        # 2028 is: the leapling waits for the 29th
        assert birthdays_record(now=local(joburg, 2028, 2, 28, 10, 0)) == 1
        assert f"birthday:member:{born_28th.pk}:2028" in keys()
        assert birthdays_record(now=local(joburg, 2028, 2, 29, 10, 0)) == 1
        assert keys() == {
            f"birthday:member:{leapling.pk}:2027",
            f"birthday:member:{born_28th.pk}:2027",
            f"birthday:member:{born_28th.pk}:2028",
            f"birthday:member:{leapling.pk}:2028",
        }


# --- re-engagement ---------------------------------------------------------------------------


def member_since(start: D, *, status: str = Membership.Status.ACTIVE) -> Member:
    return MembershipFactory(
        start_date=start, next_billing_date=start + datetime.timedelta(days=60), status=status
    ).member


def visit(member: Member, at: datetime.datetime) -> CheckIn:
    return CheckIn.objects.create(member=member, method=CheckIn.Method.SEARCH, checked_in_at=at)


def test_re_engagement_after_fourteen_days_away_from_ten_gym_time(joburg: Gym) -> None:
    now = local(joburg, 2026, 3, 20, 10, 0)
    with tenant_context(joburg):
        away = member_since(D(2026, 1, 1))
        visit(away, now - datetime.timedelta(days=30))
        visit(away, now - datetime.timedelta(days=14))  # the last visit: exactly 14 days ago
        recent = member_since(D(2026, 1, 1))
        visit(recent, now - datetime.timedelta(days=20))
        visit(recent, now - datetime.timedelta(days=13, hours=23))
        never_came = member_since(D(2026, 3, 6))  # joined 14 days ago, never checked in
        just_joined = member_since(D(2026, 3, 7))  # 13 days ago
        frozen = member_since(D(2026, 1, 1), status=Membership.Status.FROZEN)
        lapsed = member_since(D(2026, 1, 1), status=Membership.Status.EXPIRED)
        inactive = member_since(D(2026, 1, 1))
        Member.objects.filter(pk=inactive.pk).update(status=Member.Status.INACTIVE)

        assert re_engagement_record(now=now - M) == 0  # 09:59 gym time
        assert re_engagement_record(now=now) == 2
        assert keys() == {
            f"re_engagement:member:{away.pk}:2026-03-20",
            f"re_engagement:member:{never_came.pk}:2026-03-20",
        }
        assert not {recent.pk, just_joined.pk, frozen.pk, lapsed.pk, inactive.pk} & set(
            Notification.objects.values_list("member_id", flat=True)
        )
        data = Notification.objects.get(member=away).data
        assert data["last_check_in_at"] == (now - datetime.timedelta(days=14)).astimezone(datetime.UTC).isoformat()
        assert Notification.objects.get(member=never_came).data["last_check_in_at"] is None
        assert Notification.objects.get(member=away).category == "marketing"


def test_re_engagement_at_most_once_in_thirty_days(joburg: Gym) -> None:
    with tenant_context(joburg):
        away = member_since(D(2026, 1, 1))
        visit(away, local(joburg, 2026, 1, 5, 18, 0))
        first = local(joburg, 2026, 3, 2, 10, 0)
        assert re_engagement_record(now=first) == 1
        # the recorded row's age is what counts: pretend it was recorded at `first`
        Notification.objects.update(created_at=first)
        assert re_engagement_record(now=first + datetime.timedelta(days=1)) == 0
        assert re_engagement_record(now=first + datetime.timedelta(days=29, hours=23)) == 0
        assert re_engagement_record(now=first + datetime.timedelta(days=30)) == 1
        assert Notification.objects.filter(member=away, kind="re_engagement").count() == 2


# --- all rules, query counts -----------------------------------------------------------------


def gym_population(now: datetime.datetime, n: int) -> None:
    """`n` of everything each rule picks up at `now` (a Johannesburg 12:00)."""
    today = now.astimezone(zoneinfo.ZoneInfo(JOBURG)).date()
    coach = UserFactory()
    for i in range(n):
        session = session_at(now + (30 + i) * M, instructor=coach if i % 2 else None)
        booked(session)
        one_off_until(today + datetime.timedelta(days=7))
        MembershipFactory(next_billing_date=today + datetime.timedelta(days=3))
        open_invoice(today - datetime.timedelta(days=7))
        MemberFactory(date_of_birth=today.replace(year=1990))
        away = member_since(today - datetime.timedelta(days=60))
        visit(away, now - datetime.timedelta(days=20))


def test_scheduled_rules_make_the_same_few_queries_for_few_or_many_rows(joburg: Gym) -> None:
    now = local(joburg, 2026, 3, 2, 12, 0)
    joburg.stripe_account_id, joburg.stripe_charges_enabled = "acct_test_counts", True
    counted: list[int] = []
    with tenant_context(joburg):
        for n in (2, 30):
            Notification.objects.all().delete()
            gym_population(now, n)
            with CaptureQueriesContext(connection) as queries:
                recorded = scheduled_notifications_record(now=now)
            # every rule found its rows (the first round's too: their notifications were deleted)
            assert all(count >= n for count in recorded.values()), recorded
            counted.append(len(queries))
            # and again: nothing new, no more queries than the first time
            with CaptureQueriesContext(connection) as again:
                assert sum(scheduled_notifications_record(now=now).values()) == 0
            assert len(again) <= len(queries)
    # SET search_path once; the lead, bookings, instructors, 5 more selects, the pay
    # link's domain, 6 inserts
    assert counted[0] == counted[1] and counted[1] <= 16, counted


def test_batches_of_a_thousand_per_insert(joburg: Gym) -> None:
    now = local(joburg, 2026, 3, 2, 12, 0)
    with tenant_context(joburg):
        Member.objects.bulk_create(
            Member(first_name=f"B{i}", email=f"b{i}@example.test", date_of_birth=D(1990, 3, 2)) for i in range(1001)
        )
        with CaptureQueriesContext(connection) as queries:
            assert birthdays_record(now=now) == 1001
        assert sum(1 for q in queries if q["sql"].startswith("INSERT")) == 2


def test_rules_need_an_aware_now_and_a_gym(joburg: Gym) -> None:
    with tenant_context(joburg), pytest.raises(ValueError, match="timezone-aware"):
        class_reminders_record(now=datetime.datetime(2026, 3, 2, 8, 0))  # naive: refused
    with pytest.raises(RuntimeError):
        birthdays_record(now=utc(2026, 3, 2, 12, 0))  # on the public schema


# --- two gyms, two timezones -----------------------------------------------------------------


def test_beat_task_over_two_gyms_in_different_timezones(gym_a: Gym, gym_b: Gym) -> None:
    # given gym A in Johannesburg (UTC+2) and gym B in New York (UTC-5 on 2 March),
    # each with a member whose birthday is 2 March and a class at 10:00 local time
    a, b = set_timezone(gym_a, JOBURG), set_timezone(gym_b, NEW_YORK)
    population: dict[str, dict[str, Any]] = {}
    for gym in (a, b):
        with tenant_context(gym):
            birthday = MemberFactory(date_of_birth=D(1985, 3, 2))
            class_at_ten = booked(session_at(local(gym, 2026, 3, 2, 10, 0)), member=birthday)
            population[gym.slug] = {
                "birthday": f"birthday:member:{birthday.pk}:2026",
                "reminder": reminder_key(class_at_ten),
            }

    def dispatch(now: datetime.datetime) -> dict[str, dict[str, int]]:
        """What beat's per-gym task records in each gym at the same UTC instant."""
        return {gym.slug: notifications_schedule_task(gym.pk, now.isoformat()) for gym in (a, b)}

    def recorded(gym: Gym) -> set[str]:
        with tenant_context(gym):
            return keys()

    # 07:30 UTC: 09:30 in Johannesburg (class in 30 min, birthday greeting due);
    # 02:30 in New York (nothing yet)
    first = dispatch(utc(2026, 3, 2, 7, 30))
    assert (first[a.slug]["class_reminder"], first[a.slug]["birthday"]) == (1, 1)
    assert sum(first[b.slug].values()) == 0
    assert recorded(a) == set(population[a.slug].values())
    assert recorded(b) == set()

    # 13:30 UTC: 08:30 in New York (class at 10:00 within 2 h, greeting not before 09:00)
    second = dispatch(utc(2026, 3, 2, 13, 30))
    assert sum(second[a.slug].values()) == 0
    assert (second[b.slug]["class_reminder"], second[b.slug]["birthday"]) == (1, 0)
    # 14:00 UTC: 09:00 in New York
    third = dispatch(utc(2026, 3, 2, 14, 0))
    assert sum(third[a.slug].values()) == 0 and third[b.slug]["birthday"] == 1

    # each gym holds exactly its own members' notifications
    assert recorded(a) == set(population[a.slug].values())
    assert recorded(b) == set(population[b.slug].values())
    for gym in (a, b):
        with tenant_context(gym):
            assert set(Notification.objects.values_list("member_id", flat=True)) <= set(
                Member.objects.values_list("pk", flat=True)
            )
            bookings = set(Booking.objects.values_list("pk", flat=True))
            assert {n.data["booking_id"] for n in Notification.objects.filter(kind="class_reminder")} <= bookings


def test_beat_task_skips_gyms_that_are_not_running(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        booked(session_at(utc(2026, 3, 2, 9, 0)))
    Gym.objects.filter(pk=gym_a.pk).update(status=Gym.Status.SUSPENDED)
    assert notifications_schedule_task(gym_a.pk, utc(2026, 3, 2, 8, 0).isoformat()) == {}
    with tenant_context(gym_a):
        assert not Notification.objects.exists()


# --- through the beat dispatcher and a real worker ----------------------------------------------

# Real IANA zones one to two hours apart around the world, to find, at the real time of
# the test, one gym that is past 09:00 (and before 21:00) and one that is before 08:00.
ZONES = [
    "Pacific/Pago_Pago",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Atlantic/South_Georgia",
    "Atlantic/Cape_Verde",
    "UTC",
    "Africa/Lagos",
    "Africa/Johannesburg",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Brisbane",
    "Pacific/Noumea",
    "Pacific/Tarawa",
    "Pacific/Tongatapu",
    "Pacific/Kiritimati",
]


def zones_now(now: datetime.datetime) -> tuple[str, str]:
    """A zone where `now` is between 10:00 and 20:00 and one where it is 01:00-07:00."""
    day = next(z for z in ZONES if 10 <= now.astimezone(zoneinfo.ZoneInfo(z)).hour < 20)
    night = next(z for z in ZONES if 1 <= now.astimezone(zoneinfo.ZoneInfo(z)).hour < 7)
    return day, night


@pytest.fixture
def two_committed_gyms() -> Iterator[tuple[Gym, Gym]]:
    day_zone, night_zone = zones_now(datetime.datetime.now(datetime.UTC))
    tag = uuid.uuid4().hex[:6]
    gyms = tuple(
        committed(
            lambda name=name, zone=zone: provision_with_retry(
                name=f"Reminders {name}", slug=f"rem-{name}-{tag}", status="active", timezone=zone
            )
        )
        for name, zone in (("day", day_zone), ("night", night_zone))
    )
    try:
        yield gyms  # type: ignore[misc]
    finally:
        for gym in gyms:
            committed(lambda gym=gym: gym.delete(force_drop=True))


def test_beat_dispatch_through_a_real_worker_in_each_gyms_local_time(
    celery_worker_process: None, two_committed_gyms: tuple[Gym, Gym]
) -> None:
    # given two gyms where it is now daytime and night-time, each with a member whose
    # birthday is today (their local date) and a class in an hour
    day_gym, night_gym = two_committed_gyms

    def arrange(gym: Gym) -> dict[str, str]:
        with tenant_context(gym):
            now = datetime.datetime.now(datetime.UTC)
            today = now.astimezone(zoneinfo.ZoneInfo(gym.timezone)).date()
            member = MemberFactory(
                date_of_birth=today.replace(year=1988) if (today.month, today.day) != (2, 29) else D(1988, 2, 29)
            )
            booking = booked(session_at(now + H), member=member)
            return {"birthday": f"birthday:member:{member.pk}:{today.year}", "reminder": reminder_key(booking)}

    expected = {gym.pk: committed(lambda gym=gym: arrange(gym)) for gym in two_committed_gyms}

    def recorded(gym: Gym) -> set[str]:
        with tenant_context(gym):
            return keys()

    # when beat's dispatcher fans out (jitter up to 30 s) to the worker
    assert notifications_schedule_dispatch_task() >= 2
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        seen = {gym.pk: committed(lambda gym=gym: recorded(gym)) for gym in two_committed_gyms}
        if (
            seen[day_gym.pk] == set(expected[day_gym.pk].values())
            and expected[night_gym.pk]["reminder"] in seen[night_gym.pk]
        ):
            break
        time.sleep(0.5)
    time.sleep(1)  # the night gym's task records its reminder before it looks at birthdays

    # then both gyms have their class reminder, only the daytime gym its greeting,
    # and neither holds the other's
    assert committed(lambda: recorded(day_gym)) == set(expected[day_gym.pk].values())
    assert committed(lambda: recorded(night_gym)) == {expected[night_gym.pk]["reminder"]}
