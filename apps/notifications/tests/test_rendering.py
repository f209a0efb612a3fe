"""What notifications say: every kind in `kinds.KINDS` renders on every channel from
realistic data (a real booking, invoice, membership and freeze, and the data payloads
the recording services write), unknown kinds render a generic message, times are the
gym's, money is Babel's, short texts fit 320 characters, WhatsApp variables are in
order, and email attachments (.ics, check-in QR, invoice PDF) are what they claim.

`World` and `realistic_data` are shared with `test_email_smtp`."""

from __future__ import annotations

import datetime
import io
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context
from icalendar import Calendar
from PIL import Image

from apps.bookings.models import Booking
from apps.bookings.services import booking_create
from apps.bookings.tests.factories import member_on, monthly_plan
from apps.classes.models import ClassSession
from apps.classes.tests.factories import ClassSessionFactory, GymClassFactory
from apps.invoices.delivery import invoice_deliver
from apps.invoices.links import member_card_link
from apps.invoices.models import Invoice
from apps.invoices.services import LineInput, invoice_create
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Freeze, Membership
from apps.notifications.kinds import KINDS
from apps.notifications.models import Channel, MessagingSettings, Notification
from apps.notifications.rendering import SHORT_MAX, STOP_HINT, Rendered, notification_render
from apps.notifications.services import notification_record
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

CHANNELS = [Channel.EMAIL, Channel.SMS, Channel.WHATSAPP, Channel.PUSH]


@dataclass
class World:
    """A gym's realistic state for one member: a confirmed booking of "Yoga Flow" two
    days ahead at 17:00 UTC (Studio 2, 60 minutes), an open invoice of 505.00 with
    its PDF stored, a monthly membership and a freeze."""

    gym: Gym
    member: Member
    booking: Booking
    invoice: Invoice
    membership: Membership
    freeze: Freeze

    @property
    def starts_at(self) -> datetime.datetime:
        return self.booking.session.starts_at


def world_build(gym: Gym) -> World:
    """Build a `World` in the current gym schema through the services (booking_create,
    invoice_create, invoice_deliver)."""
    today = timezone.now().date()
    member = cast(Member, MemberFactory(first_name="Thandi", last_name="Nkosi"))
    membership = member_on(monthly_plan(name="Unlimited Monthly"), start=today, member=member)
    starts = (timezone.now() + datetime.timedelta(days=2)).replace(hour=17, minute=0, second=0, microsecond=0)
    gym_class = GymClassFactory(name="Yoga Flow", location="Studio 2", duration_minutes=60)
    session = cast(
        ClassSession,
        ClassSessionFactory(gym_class=gym_class, starts_at=starts, ends_at=starts + datetime.timedelta(hours=1)),
    )
    booking = booking_create(member=member, session=session)
    invoice = invoice_create(
        member=member,
        lines=[
            LineInput("Monthly membership", Decimal("500.00")),
            LineInput("Towel hire", Decimal("2.50"), quantity=2),
        ],
    )
    invoice_deliver(invoice.pk)  # stores the PDF and records invoice_issued
    invoice.refresh_from_db()
    freeze = Freeze.objects.create(
        membership=membership,
        start_date=today + datetime.timedelta(days=10),
        end_date=today + datetime.timedelta(days=23),
        reason="Travelling",
    )
    return World(gym=gym, member=member, booking=booking, invoice=invoice, membership=membership, freeze=freeze)


def realistic_data(w: World) -> dict[str, dict[str, Any]]:
    """Each kind's data payload, shaped as its recording service writes it
    (apps.bookings.services._common.notify, apps.invoices.services.payments,
    apps.memberships.services.freeze_notices, apps.notifications.schedules)."""
    today = timezone.now().date()
    session = w.booking.session
    booking = {
        "booking_id": w.booking.pk,
        "session_id": session.pk,
        "class_name": "Yoga Flow",
        "starts_at": session.starts_at.isoformat(),
    }
    invoice = {"invoice_id": w.invoice.pk, "number": w.invoice.number, "total": str(w.invoice.total)}
    nine = datetime.datetime.combine(today, datetime.time(7, 0), tzinfo=datetime.UTC).isoformat()
    return {
        "welcome": {},
        "app_invite": {"user_id": w.member.user_id},
        "booking_confirmed": booking,
        "booking_cancelled": {**booking, "late": False, "credits_refunded": 1},
        "waitlist_joined": {**booking, "waitlist_position": 3},
        "waitlist_promoted": booking,
        "waitlist_removed": {
            **booking,
            "code": "insufficient_credits",
            "reason": "The member has no credits left for this class.",
        },
        "session_cancelled": {**booking, "reason": "The instructor is unwell"},
        "invoice_issued": invoice,
        "payment_received": invoice,
        "payment_failed": {
            "invoice_id": w.invoice.pk,
            "number": w.invoice.number,
            "amount": str(w.invoice.total),
            "reason": "Your card was declined.",
            "next_attempt": (today + datetime.timedelta(days=3)).isoformat(),
            "update_card_url": member_card_link(member=w.member, gym=w.gym),
        },
        "invoice_overdue": {"invoice_id": w.invoice.pk, "due_date": w.invoice.due_date.isoformat()},
        "membership_frozen": {"membership_id": w.membership.pk, "freeze_id": w.freeze.pk},
        "membership_unfrozen": {"membership_id": w.membership.pk, "freeze_id": w.freeze.pk},
        "class_reminder": {
            **booking,
            "starts_at": session.starts_at.astimezone(datetime.UTC).isoformat(),
            "location": "Studio 2",
            "instructor": "Sam Coach",
            "due_at": (session.starts_at - datetime.timedelta(hours=2)).isoformat(),
        },
        "membership_expiring": {
            "membership_id": w.membership.pk,
            "plan_name": "Unlimited Monthly",
            "end_date": (today + datetime.timedelta(days=7)).isoformat(),
            "cancel_at_period_end": True,
            "due_at": nine,
        },
        "renewal_upcoming": {
            "membership_id": w.membership.pk,
            "plan_name": "Unlimited Monthly",
            "amount": "500.00",
            "currency": w.gym.currency,
            "next_billing_date": (today + datetime.timedelta(days=3)).isoformat(),
            "due_at": nine,
        },
        "invoice_overdue_reminder": {
            "invoice_id": w.invoice.pk,
            "number": w.invoice.number,
            "amount_due": str(w.invoice.amount_due),
            "currency": w.invoice.currency,
            "due_date": w.invoice.due_date.isoformat(),
            "days_overdue": 7,
            "due_at": nine,
        },
        "birthday": {"birthday": today.isoformat(), "due_at": nine},
        "re_engagement": {
            "last_check_in_at": (timezone.now() - datetime.timedelta(days=20)).isoformat(),
            "due_at": nine,
        },
    }


def notification_of(w: World, kind: str, data: dict[str, Any] | None = None, *, key: str = "") -> Notification:
    """Record a `kind` notification for the world's member (as the services do) and
    return its row."""
    key = key or f"{kind}:test:{w.member.pk}"
    notification_record(
        member=w.member, kind=kind, idempotency_key=key, data=realistic_data(w)[kind] if data is None else data
    )
    return Notification.objects.select_related("member").get(idempotency_key=key)


def render(w: World, notification: Notification, channel: str = Channel.EMAIL) -> Rendered:
    config = MessagingSettings(sender_name="Gym A Studio", reply_to="desk@gym-a.test")
    return notification_render(notification, member=w.member, gym=w.gym, config=config, channel=channel)


@pytest.fixture
def world(gym_a: Gym, settings, tmp_path: Path) -> Iterator[World]:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with tenant_context(gym_a):
        yield world_build(gym_a)


# What each kind must name (in its subject and bodies), by family.
def expected_words(w: World, kind: str) -> list[str]:
    if kind in {
        "booking_confirmed",
        "booking_cancelled",
        "waitlist_joined",
        "waitlist_promoted",
        "waitlist_removed",
        "session_cancelled",
        "class_reminder",
    }:
        return ["Yoga Flow"]
    if kind.startswith(("invoice", "payment")):
        return [str(w.invoice.number)]
    if kind.startswith(("membership", "renewal")):
        return ["Unlimited Monthly"]
    if kind == "birthday":
        return ["Happy birthday", "Thandi"]
    return [w.gym.name]


# --- every kind ---------------------------------------------------------------------------------


def test_every_kind_renders_on_every_channel(world: World) -> None:
    data = realistic_data(world)
    assert set(KINDS) <= set(data), "give each new kind realistic data here"
    for kind in KINDS:
        notification = notification_of(world, kind)
        for channel in CHANNELS:
            rendered = render(world, notification, channel)
            where = f"{kind} on {channel}"
            # then everything is filled in: no template syntax or "None" left behind; the
            # email bodies are rendered for email only (SMS and push send `short`)
            email = channel == Channel.EMAIL
            parts = (rendered.subject, rendered.short, *((rendered.text, rendered.html) if email else ()))
            for part in parts:
                assert part.strip(), where
                assert "{{" not in part and "{%" not in part and "None" not in part, (where, part)
            if not email:
                assert (rendered.text, rendered.html) == ("", ""), where
            for word in expected_words(world, kind):
                assert word in rendered.subject + rendered.short or word in rendered.text, (where, word)
                assert not email or (word in rendered.text and word in rendered.html), (where, word)
            if email:
                assert "Hi Thandi," in rendered.text and "Hi Thandi," in rendered.html
                assert world.gym.name in rendered.html and "<table" in rendered.html
            assert len(rendered.short) <= SHORT_MAX and "\n" not in rendered.short
            assert "\n" not in rendered.subject and len(rendered.subject) < 120
            assert rendered.template_variables["1"] == "Thandi"
            assert all(rendered.template_variables.values()), (where, rendered.template_variables)
            if channel != Channel.EMAIL:
                assert rendered.attachments == [], where


def test_reminders_and_marketing_link_to_unsubscribe_transactional_do_not(world: World) -> None:
    for kind, spec in KINDS.items():
        rendered = render(world, notification_of(world, kind))
        if spec.category == "transactional":
            assert "/notifications/unsubscribe/" not in rendered.html + rendered.text, kind
            assert "always sent" in rendered.text, kind
        else:
            assert "/notifications/unsubscribe/" in rendered.html and "/notifications/unsubscribe/" in rendered.text
    # an SMS reminder says how to stop; a transactional SMS does not need to
    reminder = render(world, notification_of(world, "class_reminder"), Channel.SMS)
    assert reminder.short.endswith(STOP_HINT)
    assert not render(world, notification_of(world, "booking_confirmed"), Channel.SMS).short.endswith(STOP_HINT)


def test_unknown_kinds_render_a_generic_message(world: World) -> None:
    for kind, data in [
        ("loyalty_points", {"title": "You earned 50 points", "message": "Thanks for 10 visits!"}),
        ("../../etc/passwd", {}),
        ("mystery", {"starts_at": "not a date", "invoice_id": "x"}),
    ]:
        notification = notification_of(world, kind, data, key=f"{kind}:1")
        for channel in CHANNELS:
            rendered = render(world, notification, channel)
            assert rendered.subject and rendered.short
            assert bool(rendered.text and rendered.html) == (channel == Channel.EMAIL)
            assert rendered.attachments == []
    titled = render(world, Notification.objects.get(idempotency_key="loyalty_points:1"))
    assert titled.subject == "You earned 50 points" and "Thanks for 10 visits!" in titled.text
    plain = render(world, Notification.objects.get(idempotency_key="mystery:1"))
    assert plain.subject == f"A message from {world.gym.name}"


def test_missing_data_keys_and_deleted_objects_render_without_details(world: World) -> None:
    # given notifications whose data names nothing, or objects that are not there
    for kind in KINDS:
        for data in ({}, {"booking_id": 999_999, "invoice_id": 999_999, "membership_id": 999_999, "freeze_id": 1}):
            notification = notification_of(world, kind, data, key=f"{kind}:{len(data)}")
            rendered = render(world, notification)
            # then they still render, with nothing unfilled
            assert rendered.subject and "None" not in rendered.text + rendered.subject
            assert rendered.attachments == [] or kind == "invoice_issued"


# --- time and money -----------------------------------------------------------------------------


def test_times_are_shown_in_the_gyms_timezone(gym_a: Gym, settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    # given a gym in Johannesburg (UTC+2 all year) and a class at 17:00 UTC
    gym_a.timezone, gym_a.country = "Africa/Johannesburg", "ZA"
    gym_a.save(update_fields=["timezone", "country"])
    with tenant_context(gym_a):
        w = world_build(gym_a)
        assert w.starts_at.astimezone(datetime.UTC).hour == 17
        for kind in ("booking_confirmed", "class_reminder", "session_cancelled"):
            notification = notification_of(w, kind)
            email, sms = render(w, notification), render(w, notification, Channel.SMS)
            # then members read 19:00, the gym's wall clock, never the UTC hour
            assert "19:00" in email.text and "19:00" in email.html and "19:00" in sms.short, kind
            assert "17:00" not in email.text + email.html + sms.short, kind
            local_day = w.starts_at.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
            assert local_day.strftime("%B") in email.text and str(local_day.day) in email.text
        # and the calendar file keeps UTC
        ics = next(
            a
            for a in render(w, notification_of(w, "booking_confirmed", key="tz")).attachments
            if a.filename.endswith(".ics")
        )
        assert f"DTSTART:{w.starts_at.astimezone(datetime.UTC):%Y%m%dT%H%M%S}Z" in ics.content.decode()


def test_money_is_formatted_in_the_invoice_currency(world: World) -> None:
    # gym A bills in GBP; the invoice is 505.00 (English locale, no country)
    rendered = render(world, notification_of(world, "invoice_issued"))
    assert "£505.00" in rendered.text and "£505.00" in rendered.html and "£505.00" in rendered.short
    renewal = render(world, notification_of(world, "renewal_upcoming"))
    assert "£500.00" in renewal.text


# --- attachments --------------------------------------------------------------------------------


def test_booking_confirmed_email_carries_the_calendar_entry_and_check_in_code(world: World) -> None:
    notification = Notification.objects.get(idempotency_key=f"booking_confirmed:booking:{world.booking.pk}")
    # the notification booking_create recorded, rendered for email
    rendered = render(world, notification)
    by_name = {a.filename: a for a in rendered.attachments}
    assert set(by_name) == {"class.ics", "check-in-qr.png"}
    assert by_name["class.ics"].mimetype == "text/calendar" and by_name["check-in-qr.png"].mimetype == "image/png"
    calendar = Calendar.from_ical(by_name["class.ics"].content)
    assert str(calendar["METHOD"]) == "PUBLISH"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == f"booking-{world.booking.pk}@{world.gym.schema_name}.fitflow"
    assert event.decoded("DTSTART") == world.starts_at
    assert event.decoded("DTEND") == world.starts_at + datetime.timedelta(hours=1)
    assert event.decoded("DTSTART").utcoffset() == datetime.timedelta(0)
    assert str(event["SUMMARY"]) == "Yoga Flow" and "Studio 2" in str(event["LOCATION"])
    assert world.gym.name in str(event["LOCATION"])
    image = Image.open(io.BytesIO(by_name["check-in-qr.png"].content))
    assert image.format == "PNG" and image.size[0] == image.size[1] >= 200
    assert "check-in QR code is attached" in rendered.text and "class.ics" in rendered.html
    # the same booking's file again: the same UID, so calendars update one entry
    again = render(world, notification_of(world, "booking_confirmed", key="again"))
    assert next(a for a in again.attachments if a.filename == "class.ics").content.count(b"UID:booking-") == 1
    # once cancelled, no check-in code is offered
    Booking.objects.filter(pk=world.booking.pk).update(status=Booking.Status.CANCELLED)
    assert [a.filename for a in render(world, notification).attachments] == ["class.ics"]


def test_invoice_issued_email_carries_the_stored_pdf(world: World) -> None:
    notification = Notification.objects.get(idempotency_key=f"invoice_issued:invoice:{world.invoice.pk}")
    rendered = render(world, notification)
    [pdf] = rendered.attachments
    assert (pdf.filename, pdf.mimetype) == (f"{world.invoice.number}.pdf", "application/pdf")
    with world.invoice.pdf.storage.open(str(world.invoice.pdf.name), "rb") as handle:
        assert pdf.content == handle.read()
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True).stdout.decode()
    assert str(world.invoice.number) in text
    assert "attached as a PDF" in rendered.text
    # the receipt carries the same PDF; other channels and other kinds attach nothing
    [receipt_pdf] = render(world, notification_of(world, "payment_received")).attachments
    assert receipt_pdf.content == pdf.content
    assert render(world, notification, Channel.SMS).attachments == []
    assert render(world, notification_of(world, "payment_failed")).attachments == []


def test_payment_failed_links_to_the_card_update_page(world: World) -> None:
    data = realistic_data(world)["payment_failed"]
    rendered = render(world, notification_of(world, "payment_failed"))
    assert data["update_card_url"] in rendered.html and data["update_card_url"] in rendered.text
    assert "Update your card" in rendered.html and "Your card was declined." in rendered.text
    assert data["update_card_url"] in render(world, notification_of(world, "payment_failed"), Channel.SMS).short


def test_short_texts_are_cut_to_320_characters(world: World) -> None:
    long_reason = "The studio is closed for maintenance. " * 20
    notification = notification_of(
        world, "session_cancelled", {**realistic_data(world)["session_cancelled"], "reason": long_reason}
    )
    for channel in (Channel.SMS, Channel.PUSH, Channel.WHATSAPP):
        short = render(world, notification, channel).short
        assert len(short) == SHORT_MAX and short.endswith("...")
    reminder = notification_of(
        world, "class_reminder", {**realistic_data(world)["class_reminder"], "class_name": "X" * 400}
    )
    sms = render(world, reminder, Channel.SMS).short
    assert len(sms) == SHORT_MAX and sms.endswith(STOP_HINT)
    # only GSM-7 characters in the times (no CLDR no-break spaces), so SMS stay 160 a segment
    for channel in (Channel.SMS, Channel.WHATSAPP):
        rendered = render(world, notification_of(world, "class_reminder", key="gsm"), channel)
        assert "\u202f" not in rendered.short and "\u00a0" not in rendered.short
        assert "\u202f" not in "".join(rendered.template_variables.values())
