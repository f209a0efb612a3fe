"""Scheduled notifications: what is due in the current gym now, recorded in bulk.

Beat runs `notifications_schedule_dispatch_task` every 5 minutes; it queues
`notifications_schedule_task` per running gym, which calls
`scheduled_notifications_record(now=...)` inside the gym's schema. Each rule below
SELECTs what is due in a few set-based queries (however many members the gym has),
then records it with `services.notifications_record` (one `INSERT … ON CONFLICT DO
NOTHING` per batch of `BATCH_SIZE`). Idempotency keys name the kind, the object and
the moment it is about, so the 5-minute repeats, retried tasks and two beats firing at
once record nothing new. Every function returns how many new notifications it recorded.

Time: `now` is a timezone-aware datetime (UTC in the database); dates and times of day
are the gym's (`Gym.timezone`, `apps.tenants.dispatch.gym_tzinfo`). Day-based notices
(expiring memberships, upcoming renewals, overdue invoices, birthdays) wait until
09:00 gym time, so an email never lands at midnight; re-engagement waits until 10:00.
A rule keyed on a date catches up any time later that local day if beat was down.
"""

from __future__ import annotations

import calendar
import datetime
from collections.abc import Iterable, Iterator
from decimal import Decimal
from itertools import islice
from typing import Any

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse

from apps.accounts.models import User
from apps.bookings.models import Booking
from apps.checkins.models import CheckIn
from apps.classes.models import ClassSession
from apps.invoices.models import Invoice
from apps.invoices.pdf import PAY_URL_NAME, invoice_pay_token
from apps.invoices.services.totals import invoice_totals
from apps.members.models import Member
from apps.memberships.models import CURRENT_STATUSES, Membership
from apps.tenants.dispatch import gym_tzinfo
from apps.tenants.models import Gym
from apps.tenants.selectors import current_gym, gym_base_url
from fitflow.db.base import search_path_cached

from .models import MessagingSettings, Notification
from .services import NotificationInput, notifications_record

BATCH_SIZE = 1000
"""Notifications per INSERT (6 parameters each; PostgreSQL allows 65,535 per statement)."""

DAY_NOTICES_FROM = datetime.time(9, 0)
"""Gym-local time from which day-based notices (expiring, renewal, overdue, birthday) are
recorded: the issue's 09:00 for birthdays, used for the others too so that emails
(not held by quiet hours) arrive in the morning rather than just after midnight."""

RE_ENGAGEMENT_FROM = datetime.time(10, 0)
"""Gym-local time from which re-engagement messages are recorded (issue 7)."""

EXPIRING_DAYS_AHEAD = 7
RENEWAL_DAYS_AHEAD = 3
OVERDUE_STEPS = (3, 7, 14)
"""Days past the due date at which an open invoice gets a reminder (issue 7). A step
missed (beat down) is caught up until the next step; 7 days after the last step,
reminders stop, so a long-forgotten invoice is never chased by a new deployment."""

OVERDUE_LAST_DAY = OVERDUE_STEPS[-1] + 6
RE_ENGAGEMENT_AFTER_DAYS = 14
RE_ENGAGEMENT_EVERY_DAYS = 30


# --- the gym's clock -------------------------------------------------------------------------


def _gym_clock(now: datetime.datetime) -> tuple[Gym, datetime.tzinfo, datetime.datetime]:
    """The current gym, its timezone and `now` seen there. Raises ValueError for a
    naive `now` and RuntimeError on the public schema (`current_gym`)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    gym = current_gym()
    tz = gym_tzinfo(gym)
    return gym, tz, now.astimezone(tz)


def _utc_iso(moment: datetime.datetime) -> str:
    """`moment` as ISO 8601 in UTC, e.g. `2026-03-04T18:00:00+00:00`."""
    return moment.astimezone(datetime.UTC).isoformat()


def _local_moment_iso(day: datetime.date, at: datetime.time, tz: datetime.tzinfo) -> str:
    """`day` at `at` gym-local time, as ISO 8601 in UTC (the `due_at` of day notices)."""
    return _utc_iso(datetime.datetime.combine(day, at, tzinfo=tz))


def _chunks(items: Iterable[NotificationInput], size: int = BATCH_SIZE) -> Iterator[list[NotificationInput]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _record(items: Iterable[NotificationInput]) -> int:
    """Record `items` in batches of `BATCH_SIZE` (one INSERT each); returns how many were new."""
    return sum(len(notifications_record(chunk)) for chunk in _chunks(items))


# --- class reminders -------------------------------------------------------------------------


def class_reminder_minutes() -> int:
    """The current gym's reminder lead time in minutes: its `MessagingSettings` row's
    `class_reminder_minutes`, else the model's default (120). One query."""
    minutes = MessagingSettings.objects.order_by("pk").values_list("class_reminder_minutes", flat=True).first()
    if minutes is None:
        return int(MessagingSettings._meta.get_field("class_reminder_minutes").get_default())
    return int(minutes)


def class_reminders_record(*, now: datetime.datetime) -> int:
    """Record a `class_reminder` for each confirmed booking of a scheduled (not
    cancelled) class session that starts within the next `class_reminder_minutes`
    (the gym's `MessagingSettings`, default 120) and has not started yet:
    `now < starts_at <= now + lead`. Waitlisted, cancelled, late-cancelled, attended
    and no-show bookings get none.

    Key `class_reminder:booking:<id>:<session start, ISO UTC>`, so a session moved to
    another time gets a new reminder, and one booked inside the window still gets one.
    Data: booking_id, session_id, class_name, starts_at and ends_at (ISO UTC), location (the
    class's room, may be ""), instructor (the session's, else the class's default, by
    name; omitted when there is none) and due_at (starts_at - lead, ISO UTC; the send
    pipeline drops a reminder held back until after the class). Four queries at most
    (lead, bookings, instructors, one INSERT per `BATCH_SIZE`). Returns how many were new.
    """
    _gym_clock(now)
    lead = datetime.timedelta(minutes=class_reminder_minutes())
    rows = list(
        Booking.objects.filter(
            status=Booking.Status.CONFIRMED,
            session__status=ClassSession.Status.SCHEDULED,
            session__starts_at__gt=now,
            session__starts_at__lte=now + lead,
        )
        .annotate(instructor=Coalesce("session__instructor_id", "session__gym_class__default_instructor_id"))
        .order_by("session__starts_at", "pk")
        .values_list(
            "pk",
            "member_id",
            "session_id",
            "session__starts_at",
            "session__gym_class__name",
            "session__gym_class__location",
            "instructor",
            "session__ends_at",
        )
    )
    instructor_ids = {row[6] for row in rows if row[6] is not None}
    names = {
        pk: f"{first} {last}".strip()
        for pk, first, last in User.objects.filter(pk__in=instructor_ids).values_list("pk", "first_name", "last_name")
    }
    items = []
    for booking_id, member_id, session_id, starts_at, class_name, location, instructor_id, ends_at in rows:
        starts = _utc_iso(starts_at)
        data: dict[str, Any] = {
            "booking_id": booking_id,
            "session_id": session_id,
            "class_name": class_name,
            "starts_at": starts,
            "ends_at": _utc_iso(ends_at),
            "location": location,
            "due_at": _utc_iso(starts_at - lead),
        }
        if names.get(instructor_id):
            data["instructor"] = names[instructor_id]
        items.append(
            NotificationInput(member_id, "class_reminder", f"class_reminder:booking:{booking_id}:{starts}", data)
        )
    return _record(items)


# --- memberships ---------------------------------------------------------------------------


def membership_expiring_record(*, now: datetime.datetime) -> int:
    """From 09:00 gym time, record `membership_expiring` for each current (active,
    frozen or past-due) membership whose last day (`end_date`) is 7 days after today
    (gym-local): one that is not billed again (one-off plans and class packs,
    `next_billing_date` empty) or a recurring one cancelled at period end (its
    `end_date` is the day before `next_billing_date`; `membership_cancel`). A
    recurring membership that renews has no end date and gets `renewal_upcoming`.

    Key `membership_expiring:membership:<id>:<end date>`, so a membership renewed to a
    later end gets a new notice. Data: membership_id, plan_name, end_date (ISO),
    cancel_at_period_end, due_at. Two queries (one INSERT per batch). Returns how many
    were new."""
    _gym, tz, local = _gym_clock(now)
    if local.time() < DAY_NOTICES_FROM:
        return 0
    end = local.date() + datetime.timedelta(days=EXPIRING_DAYS_AHEAD)
    due_at = _local_moment_iso(local.date(), DAY_NOTICES_FROM, tz)
    rows = (
        Membership.objects.filter(status__in=CURRENT_STATUSES, end_date=end)
        .filter(Q(next_billing_date__isnull=True) | Q(cancel_at_period_end=True))
        .order_by("pk")
        .values_list("pk", "member_id", "plan__name", "cancel_at_period_end")
    )
    return _record(
        NotificationInput(
            member_id,
            "membership_expiring",
            f"membership_expiring:membership:{pk}:{end.isoformat()}",
            {
                "membership_id": pk,
                "plan_name": plan_name,
                "end_date": end.isoformat(),
                "cancel_at_period_end": cancel_at_period_end,
                "due_at": due_at,
            },
        )
        for pk, member_id, plan_name, cancel_at_period_end in rows
    )


def renewal_upcoming_record(*, now: datetime.datetime) -> int:
    """From 09:00 gym time, record `renewal_upcoming` for each active recurring
    membership (a billing period, not cancelled at period end) whose
    `next_billing_date` is 3 days after today (gym-local): the billing run invoices
    (and charges a saved card) that day.

    Key `renewal_upcoming:membership:<id>:<next billing date>`. Data: membership_id,
    plan_name, amount (str Decimal in the gym's currency: what the period invoice
    will total, the contract price with the plan's tax added when prices exclude it,
    as `apps.invoices.services.totals.invoice_totals` works it out), currency,
    next_billing_date (ISO), due_at. Two queries (one INSERT per batch). Returns how
    many were new."""
    gym, tz, local = _gym_clock(now)
    if local.time() < DAY_NOTICES_FROM:
        return 0
    renews = local.date() + datetime.timedelta(days=RENEWAL_DAYS_AHEAD)
    due_at = _local_moment_iso(local.date(), DAY_NOTICES_FROM, tz)
    rows = (
        Membership.objects.filter(status=Membership.Status.ACTIVE, next_billing_date=renews, cancel_at_period_end=False)
        .exclude(billing_period="")
        .order_by("pk")
        .values_list("pk", "member_id", "plan__name", "price", "plan__tax_rate", "plan__price_includes_tax")
    )
    items = []
    for pk, member_id, plan_name, price, tax_rate, tax_inclusive in rows:
        amount = invoice_totals(
            amounts=[price],
            discount=Decimal("0"),
            tax_rate=tax_rate,
            tax_inclusive=tax_inclusive,
            currency=gym.currency,
        ).total
        items.append(
            NotificationInput(
                member_id,
                "renewal_upcoming",
                f"renewal_upcoming:membership:{pk}:{renews.isoformat()}",
                {
                    "membership_id": pk,
                    "plan_name": plan_name,
                    "amount": str(amount),
                    "currency": gym.currency,
                    "next_billing_date": renews.isoformat(),
                    "due_at": due_at,
                },
            )
        )
    return _record(items)


# --- invoices --------------------------------------------------------------------------------


def _overdue_step(days_overdue: int) -> int | None:
    """The reminder step `days_overdue` falls in: the largest of `OVERDUE_STEPS` at or
    below it, or None before the first step and after `OVERDUE_LAST_DAY`."""
    if days_overdue > OVERDUE_LAST_DAY:
        return None
    reached = [step for step in OVERDUE_STEPS if step <= days_overdue]
    return reached[-1] if reached else None


def invoice_overdue_reminders_record(*, now: datetime.datetime) -> int:
    """From 09:00 gym time, record an `invoice_overdue_reminder` for each open invoice
    with something still due that is 3, 7 or 14 days past its `due_date` (gym-local),
    once per step: a step missed is caught up until the next one is reached, and
    reminders stop 20 days after the due date (`OVERDUE_LAST_DAY`). Card-collected
    invoices still in dunning (`auto_collect` with a retry scheduled) are left to the
    dunning's `payment_failed` notices.

    Key `invoice_overdue_reminder:invoice:<id>:<step>`. Data: invoice_id, number,
    amount_due (str Decimal), currency, due_date (ISO), days_overdue (the step),
    due_at, and pay_url (the signed pay page, `apps.invoices.pdf`) when the gym takes
    card payments online. Two or three queries (the gym's domain for the pay link, one
    INSERT per batch). Returns how many were new."""
    gym, tz, local = _gym_clock(now)
    if local.time() < DAY_NOTICES_FROM:
        return 0
    today = local.date()
    due_at = _local_moment_iso(today, DAY_NOTICES_FROM, tz)
    rows = list(
        Invoice.objects.filter(
            status=Invoice.Status.OPEN,
            due_date__lte=today - datetime.timedelta(days=OVERDUE_STEPS[0]),
            due_date__gte=today - datetime.timedelta(days=OVERDUE_LAST_DAY),
        )
        .exclude(auto_collect=True, next_payment_attempt__isnull=False)
        .annotate(due=F("total") - F("amount_paid") - F("amount_credited"))
        .filter(due__gt=0)
        .order_by("pk")
        .values_list("pk", "member_id", "number", "due", "currency", "due_date")
    )
    base_url = gym_base_url(gym=gym) if rows and gym.stripe_connected else ""
    items = []
    for pk, member_id, number, due, currency, due_date in rows:
        step = _overdue_step((today - due_date).days)
        if step is None:
            continue
        data: dict[str, Any] = {
            "invoice_id": pk,
            "number": number,
            "amount_due": str(due),
            "currency": currency,
            "due_date": due_date.isoformat(),
            "days_overdue": step,
            "due_at": due_at,
        }
        if base_url:
            # `apps.invoices.pdf.invoice_pay_link`, with the gym's base URL read once.
            token = invoice_pay_token(Invoice(pk=pk))
            data["pay_url"] = base_url + reverse(PAY_URL_NAME, args=[token], urlconf=settings.ROOT_URLCONF)
        items.append(
            NotificationInput(
                member_id, "invoice_overdue_reminder", f"invoice_overdue_reminder:invoice:{pk}:{step}", data
            )
        )
    return _record(items)


# --- members ---------------------------------------------------------------------------------


def birthdays_record(*, now: datetime.datetime) -> int:
    """From 09:00 gym time, record a `birthday` greeting for each active member whose
    birthday is today (gym-local). Members born on 29 February are greeted on
    28 February in years that are not leap years.

    Key `birthday:member:<id>:<year>`: once a year. Data: birthday (today, ISO) and
    due_at (09:00 gym time; the send pipeline drops a greeting held back for more
    than 12 hours). Two queries (one INSERT per batch). Returns how many were new."""
    _gym, tz, local = _gym_clock(now)
    if local.time() < DAY_NOTICES_FROM:
        return 0
    today = local.date()
    born_today = Q(date_of_birth__month=today.month, date_of_birth__day=today.day)
    leap_day_not_in_year = (today.month, today.day) == (2, 28) and not calendar.isleap(today.year)
    if leap_day_not_in_year:
        born_today |= Q(date_of_birth__month=2, date_of_birth__day=29)
    due_at = _local_moment_iso(today, DAY_NOTICES_FROM, tz)
    rows = Member.objects.filter(born_today, status=Member.Status.ACTIVE).order_by("pk").values_list("pk", flat=True)
    return _record(
        NotificationInput(
            pk, "birthday", f"birthday:member:{pk}:{today.year}", {"birthday": today.isoformat(), "due_at": due_at}
        )
        for pk in rows
    )


def re_engagement_record(*, now: datetime.datetime) -> int:
    """From 10:00 gym time, record a `re_engagement` message ("we miss you") for each
    active member with an active membership that started 14 or more days ago
    (gym-local) who has not checked in for 14 days (their last check-in is at least
    14 x 24 hours before `now`, or they never came), unless one was recorded for them less than 30 days
    (30 x 24 hours) ago. A member who has just (re)joined is not nudged. It is a marketing
    message: the send pipeline suppresses it for members who did not opt in.

    Key `re_engagement:member:<id>:<gym-local date>`. Data: last_check_in_at (ISO UTC,
    or None) and due_at. Two queries (one INSERT per batch). Returns how many were new."""
    _gym, tz, local = _gym_clock(now)
    if local.time() < RE_ENGAGEMENT_FROM:
        return 0
    today = local.date()
    since = now - datetime.timedelta(days=RE_ENGAGEMENT_AFTER_DAYS)
    last_visit = CheckIn.objects.filter(member=OuterRef("pk")).order_by("-checked_in_at").values("checked_in_at")[:1]
    settled_in = Membership.objects.filter(
        member=OuterRef("pk"),
        status=Membership.Status.ACTIVE,
        start_date__lte=today - datetime.timedelta(days=RE_ENGAGEMENT_AFTER_DAYS),
    )
    recently_asked = Notification.objects.filter(
        member=OuterRef("pk"),
        kind="re_engagement",
        created_at__gt=now - datetime.timedelta(days=RE_ENGAGEMENT_EVERY_DAYS),
    )
    rows = (
        Member.objects.filter(status=Member.Status.ACTIVE)
        .filter(Exists(settled_in))
        .exclude(Exists(recently_asked))
        .annotate(last_visit=Subquery(last_visit))
        .filter(Q(last_visit__isnull=True) | Q(last_visit__lte=since))
        .order_by("pk")
        .values_list("pk", "last_visit")
    )
    due_at = _local_moment_iso(today, RE_ENGAGEMENT_FROM, tz)
    return _record(
        NotificationInput(
            pk,
            "re_engagement",
            f"re_engagement:member:{pk}:{today.isoformat()}",
            {"last_check_in_at": _utc_iso(last) if last else None, "due_at": due_at},
        )
        for pk, last in rows
    )


# --- all of them -----------------------------------------------------------------------------


def scheduled_notifications_record(*, now: datetime.datetime) -> dict[str, int]:
    """Run every scheduled rule above for the current gym at `now` (timezone-aware).
    Returns how many new notifications each kind recorded, e.g.
    `{"class_reminder": 12, "membership_expiring": 0, ...}`. About a dozen queries per
    gym, whatever its size (plus one INSERT per `BATCH_SIZE` new notifications), with
    the gym's `SET search_path` sent once (`fitflow.db.base.search_path_cached`)."""
    with search_path_cached():
        return {
            "class_reminder": class_reminders_record(now=now),
            "membership_expiring": membership_expiring_record(now=now),
            "renewal_upcoming": renewal_upcoming_record(now=now),
            "invoice_overdue_reminder": invoice_overdue_reminders_record(now=now),
            "birthday": birthdays_record(now=now),
            "re_engagement": re_engagement_record(now=now),
        }
