"""What a notification says: email subject, text and HTML bodies, a short text for SMS,
WhatsApp and push, WhatsApp template variables, and email attachments.

`notification_render(notification, member=, gym=, config=, channel=)` returns a
`Rendered`. Templates live in `templates/notifications/`:
- `email/<kind>.subject.txt`, `email/<kind>.txt` and `email/<kind>.html` (every HTML
  body extends `email/_base.html`: the gym's name, logo, address and a footer, with
  inline CSS and a table layout for Gmail and Outlook; text bodies extend
  `email/_base.txt`);
- `short/<kind>.txt`: the SMS / WhatsApp / push body (whitespace collapsed, at most
  `SHORT_MAX` characters).
A kind without templates (unknown, or newer than this module) renders `generic`: "You
have a new message from <gym>", using `data["title"]` and `data["message"]` when given.

Times are shown in the gym's timezone (`apps.tenants.dispatch.gym_tzinfo`), money with
Babel in the invoice's or the gym's currency, both in the active language's locale
with the gym's country as territory when Babel knows it (`en` + GB -> `en_GB`, so
"18:00" and "£505.00"). The data keys below are read with `.get`; a missing key
renders without that detail, and the named objects are looked up in the gym's schema
for what the data leaves out (a deleted object is no error).

Data keys read per kind (ISO 8601 datetimes in UTC, ISO dates gym-local, money as
str Decimal):
- booking kinds (`booking_confirmed`, `booking_cancelled`, `waitlist_joined`,
  `waitlist_promoted`, `waitlist_removed`, `session_cancelled`, `class_reminder`):
  booking_id, session_id, class_name, starts_at, location, instructor,
  waitlist_position (waitlist_joined), late and credits_refunded (booking_cancelled),
  reason (waitlist_removed, session_cancelled); the booking / session for the end time,
  class and location when missing;
- invoice kinds (`invoice_issued`, `payment_received`, `payment_failed`,
  `invoice_overdue`, `invoice_overdue_reminder`): invoice_id, number, total, amount
  (payment_failed), amount_due, currency, due_date, reason, next_attempt and
  update_card_url (payment_failed), days_overdue and pay_url (overdue reminder); the
  invoice for the rest, and its pay link when the gym takes card payments online;
- membership kinds (`membership_frozen`, `membership_unfrozen`, `membership_expiring`,
  `renewal_upcoming`): membership_id, freeze_id, plan_name, end_date,
  cancel_at_period_end, amount, currency, next_billing_date; the membership and
  freeze for the rest;
- `welcome`: nothing; `birthday`: nothing; `re_engagement`: last_check_in_at;
- `app_invite`: user_id (the member's login); the link to choose a password (allauth's
  password-reset-from-key page on the gym's host, a token made at render time, so none
  is stored) while the login has no usable password, else the gym's login page.

Attachments (channel "email" only): `booking_confirmed` gets `class.ics` (RFC 5545,
METHOD:PUBLISH, UID `booking-<id>@<schema>.fitflow`, times in UTC) and, while the
booking is confirmed, `check-in-qr.png`: the booking's check-in code
(`apps.bookings.qr.booking_qr_token`, which `apps.checkins.qr.qr_identify` accepts at
the desk until the class ends + 2 h; the member's rotating code lives 60 s, useless in
an email). `invoice_issued` and `payment_received` get the invoice PDF
(`apps.invoices.delivery.invoice_pdf_bytes`).

WhatsApp template variables ({"1": ..., "2": ..., "3": ...}, Twilio Content API): 1 is
always the member's first name; 2 and 3 per kind as `WHATSAPP_VARIABLES` lists (e.g.
booking kinds: class name, then the short start time). A gym's approved template per
kind must use them in that order.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton, format_time
from babel.numbers import format_currency
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone, translation
from icalendar import Calendar, Event

from apps.members.models import Member
from apps.tenants.dispatch import gym_tzinfo
from apps.tenants.models import Gym
from apps.tenants.selectors import gym_base_url

from .kinds import KINDS, kind_category
from .models import Category, Channel, MessagingSettings, Notification

SHORT_MAX = 320
"""The longest short text: two SMS segments of 160 GSM-7 characters (Twilio docs,
"What the heck is a segment?"); push bodies and WhatsApp texts are cut the same."""
STOP_HINT = "Reply STOP to opt out."
"""Appended to reminder and marketing SMS (CTIA Messaging Principles: recurring
messages say how to opt out; Twilio handles STOP)."""
DEFAULT_CLASS_MINUTES = 60
BOOKING_KINDS = frozenset(
    {
        "booking_confirmed",
        "booking_cancelled",
        "waitlist_joined",
        "waitlist_promoted",
        "waitlist_removed",
        "session_cancelled",
        "class_reminder",
    }
)
INVOICE_KINDS = frozenset(
    {"invoice_issued", "payment_received", "payment_failed", "invoice_overdue", "invoice_overdue_reminder"}
)
MEMBERSHIP_KINDS = frozenset({"membership_frozen", "membership_unfrozen", "membership_expiring", "renewal_upcoming"})
WHATSAPP_VARIABLES: dict[str, tuple[str, ...]] = {
    **{kind: ("class_name", "when_short") for kind in BOOKING_KINDS},
    "invoice_issued": ("number", "total"),
    "payment_received": ("number", "total"),
    "payment_failed": ("number", "amount"),
    "invoice_overdue": ("number", "amount_due"),
    "invoice_overdue_reminder": ("number", "amount_due"),
    "membership_frozen": ("plan_name", "freeze_end"),
    "membership_unfrozen": ("plan_name", "gym_name"),
    "membership_expiring": ("plan_name", "end_date"),
    "renewal_upcoming": ("plan_name", "next_billing_date"),
    "welcome": ("gym_name",),
    "birthday": ("gym_name",),
    "re_engagement": ("gym_name",),
}
"""Context keys of WhatsApp template variables "2", "3", ... per kind ("1" is the
member's first name); other kinds send ("gym_name", "subject")."""
_SAFE_KIND = re.compile(r"^[a-z0-9_]{1,40}$")


@dataclass(frozen=True)
class Attachment:
    """An email attachment: `filename`, raw `content` bytes and its MIME `mimetype`."""

    filename: str
    content: bytes
    mimetype: str


@dataclass(frozen=True)
class Rendered:
    """A rendered notification. `subject`: the email subject and push title; `text` and
    `html`: the email bodies; `short`: the SMS / WhatsApp / push body (at most 320
    characters); `attachments`: email only; `template_variables`: WhatsApp template
    variables {"1": first name, "2": ..., ...}."""

    subject: str
    text: str
    html: str
    short: str
    attachments: list[Attachment] = field(default_factory=list)
    template_variables: dict[str, str] = field(default_factory=dict)


def notification_render(
    notification: Notification, *, member: Member, gym: Gym, config: MessagingSettings, channel: str
) -> Rendered:
    """Render `notification` for `member` of `gym` (run in the gym's schema) to go on
    `channel` (a `Channel` value; attachments and the text and HTML bodies only for
    "email"). `config` is the gym's
    messaging settings (templates get its `sender_name`). Never raises for an unknown
    kind or a missing data key; raises what storage raises when the invoice PDF of an
    `invoice_issued` email cannot be read or rendered (the send is retried)."""
    kind = notification.kind if _SAFE_KIND.match(notification.kind or "") else "generic"
    data = notification.data if isinstance(notification.data, dict) else {}
    fmt = Formats(gym)
    category = notification_category(notification)
    context = _base_context(member=member, gym=gym, config=config, kind=kind, category=category, channel=channel)
    objects: dict[str, Any] = {}
    if kind in BOOKING_KINDS:
        objects["kind"] = kind
        context |= _booking_context(data, fmt, objects)
    elif kind in INVOICE_KINDS:
        context |= _invoice_context(data, fmt, gym, objects)
    elif kind in MEMBERSHIP_KINDS:
        context |= _membership_context(data, fmt, objects)
    elif kind == "app_invite":
        context |= _app_invite_context(data, member, gym)
    elif kind == "re_engagement":
        last = _datetime(data.get("last_check_in_at"))
        context |= {"last_visit": fmt.date(fmt.local(last).date()) if last else ""}
    else:
        context |= {"title": str(data.get("title") or ""), "message": str(data.get("message") or "")}
    attachments = _attachments(kind, notification, gym, context, objects) if channel == Channel.EMAIL else []
    mimetypes = {a.mimetype for a in attachments}
    context |= {"has_ics": "text/calendar" in mimetypes, "has_qr": "image/png" in mimetypes}
    context["has_pdf"] = "application/pdf" in mimetypes
    short = _short(
        _templates("short", kind, ".txt"), context, sms_stop=channel == Channel.SMS and not context["transactional"]
    )
    context["preheader"] = short
    subject = " ".join(render_to_string(_templates("email", kind, ".subject.txt"), context).split())
    context["subject"] = subject
    email = channel == Channel.EMAIL  # the bodies only for email: SMS and push use `short`
    return Rendered(
        subject=subject,
        text=_tidy(render_to_string(_templates("email", kind, ".txt"), context)) if email else "",
        html=render_to_string(_templates("email", kind, ".html"), context) if email else "",
        short=short,
        attachments=attachments,
        template_variables=_whatsapp_variables(kind, context),
    )


def notification_category(notification: Notification) -> str:
    """The notification's category (a `Category` value): its kind's (`kinds.KINDS`),
    else the stored one (an unknown kind is recorded as transactional)."""
    if notification.kind in KINDS:
        return kind_category(notification.kind)
    return notification.category or Category.TRANSACTIONAL


# --- formatting --------------------------------------------------------------------------------


class Formats:
    """Dates, times and money for one gym: its timezone, its currency and the Babel
    locale of the active language with the gym's country as territory."""

    def __init__(self, gym: Gym) -> None:
        self.tz = gym_tzinfo(gym)
        self.currency = gym.currency or "USD"
        self.locale = _locale(gym)

    def local(self, moment: datetime.datetime) -> datetime.datetime:
        """`moment` (aware) in the gym's timezone."""
        return moment.astimezone(self.tz)

    def date(self, day: datetime.date | None) -> str:
        """A date in full, e.g. `Tuesday, 14 July 2026` (en_GB); "" for None."""
        return _plain(format_date(day, "full", locale=self.locale)) if day else ""

    def time(self, moment: datetime.datetime) -> str:
        """The gym-local time of day, e.g. `18:00` (en_GB) or `6:00 PM` (en)."""
        return _plain(format_time(moment, "short", tzinfo=self.tz, locale=self.locale))

    def when(self, moment: datetime.datetime) -> str:
        """Date and time in the gym's timezone, e.g. `Tuesday, 14 July 2026, 18:00`."""
        return f"{self.date(self.local(moment).date())}, {self.time(moment)}"

    def when_short(self, moment: datetime.datetime) -> str:
        """A compact date and time for SMS, e.g. `Tue 14 Jul, 18:00`."""
        return f"{_plain(format_skeleton('MMMEd', self.local(moment), locale=self.locale))}, {self.time(moment)}"

    def money(self, amount: Any, currency: str | None = None) -> str:
        """`amount` (Decimal or its string) in `currency` (default the gym's), e.g.
        `£505.00`; "" when it is missing or not a number."""
        value = _decimal(amount)
        if value is None:
            return ""
        return _plain(format_currency(value, currency or self.currency, locale=self.locale))


def _plain(text: object) -> str:
    """Babel's text with CLDR's no-break spaces (U+00A0, U+202F before "PM") as plain
    spaces: one such character makes a whole SMS UCS-2, halving its 160-character
    segments (3GPP TS 23.038's GSM-7 alphabet has no such space)."""
    return str(text).replace("\u202f", " ").replace("\u00a0", " ")


def _locale(gym: Gym) -> Locale:
    language = translation.get_language() or settings.LANGUAGE_CODE or "en"
    try:
        base = Locale.parse(translation.to_locale(language))
    except (UnknownLocaleError, ValueError):
        base = Locale("en")
    country = str(getattr(getattr(gym, "country", None), "code", "") or "")
    if country and not base.territory:
        try:
            return Locale.parse(f"{base.language}_{country}")
        except (UnknownLocaleError, ValueError):
            pass
    return base


def _datetime(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=datetime.UTC)


def _date(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- context per kind --------------------------------------------------------------------------


def _base_context(
    *, member: Member, gym: Gym, config: MessagingSettings, kind: str, category: str, channel: str
) -> dict[str, Any]:
    from .unsubscribe import unsubscribe_url

    base_url = gym_base_url(gym=gym)
    logo = ""
    if gym.logo:
        logo = gym.logo.url
        logo = logo if logo.startswith(("http://", "https://")) else base_url + logo
    transactional = category == Category.TRANSACTIONAL
    return {
        "kind": kind,
        "category": category,
        "category_label": str(Category(category).label) if category in Category.values else "",
        "transactional": transactional,
        "gym_name": gym.name,
        "sender_name": config.sender_name or gym.name,
        "gym_logo_url": logo,
        "gym_address_lines": [line.strip() for line in (gym.address or "").splitlines() if line.strip()],
        "first_name": member.first_name or "",
        "member_name": member.full_name,
        "unsubscribe_url": ""
        if transactional or channel != Channel.EMAIL
        else unsubscribe_url(member=member, gym=gym, category=category),
    }


def _booking_context(data: dict[str, Any], fmt: Formats, objects: dict[str, Any]) -> dict[str, Any]:
    from apps.bookings.models import Booking
    from apps.classes.models import ClassSession

    booking = session = None
    booking_id = _int(data.get("booking_id"))
    # Scheduled reminders carry what they print; only a confirmation (its .ics and QR)
    # or a payload without the class and time reads the booking (one query a message).
    complete = data.get("class_name") and data.get("starts_at") and data.get("ends_at")
    if booking_id is not None and (objects.get("kind") == "booking_confirmed" or not complete):
        booking = Booking.objects.select_related("session__gym_class").filter(pk=booking_id).first()
        session = booking.session if booking else None
    if session is None and not complete and (session_id := _int(data.get("session_id"))) is not None:
        session = ClassSession.objects.select_related("gym_class").filter(pk=session_id).first()
    objects |= {"booking": booking, "session": session, "booking_id": booking_id}
    starts = _datetime(data.get("starts_at")) or (session.starts_at if session else None)
    length = session.ends_at - session.starts_at if session else datetime.timedelta(minutes=DEFAULT_CLASS_MINUTES)
    ends = _datetime(data.get("ends_at")) or (starts + length if starts else None)
    objects |= {"starts": starts, "ends": ends}
    gym_class = session.gym_class if session else None
    credits_refunded = _int(data.get("credits_refunded")) or 0
    return {
        "class_name": str(data.get("class_name") or (gym_class.name if gym_class else "") or "your class"),
        "location": str(data.get("location") or (gym_class.location if gym_class else "") or ""),
        "instructor": str(data.get("instructor") or ""),
        "when": fmt.when(starts) if starts else "",
        "when_short": fmt.when_short(starts) if starts else "",
        "date": fmt.date(fmt.local(starts).date()) if starts else "",
        "start_time": fmt.time(starts) if starts else "",
        "end_time": fmt.time(ends) if ends else "",
        "waitlist_position": _int(data.get("waitlist_position")),
        "late": bool(data.get("late")),
        "credits_refunded": credits_refunded,
        "reason": str(data.get("reason") or ""),
    }


def _invoice_context(data: dict[str, Any], fmt: Formats, gym: Gym, objects: dict[str, Any]) -> dict[str, Any]:
    from apps.invoices.models import Invoice

    invoice = None
    if (invoice_id := _int(data.get("invoice_id"))) is not None:
        invoice = Invoice.objects.filter(pk=invoice_id).first()
    objects["invoice"] = invoice
    currency = str(data.get("currency") or (invoice.currency if invoice else "") or fmt.currency)
    paid = invoice is not None and invoice.status == Invoice.Status.PAID
    pay_url = str(data.get("pay_url") or "")
    if not pay_url and invoice is not None:
        from apps.invoices.pdf import invoice_pay_link, invoice_pay_link_shown

        pay_url = invoice_pay_link(invoice, gym=gym) if invoice_pay_link_shown(invoice, gym=gym) else ""
    period = ""
    if invoice is not None and invoice.period_start:
        period = f"{fmt.date(invoice.period_start)} to {fmt.date(invoice.period_end)}" if invoice.period_end else ""

    def money(key: str, fallback: Any) -> str:
        return fmt.money(data.get(key) if data.get(key) not in (None, "") else fallback, currency)

    next_attempt = _date(data.get("next_attempt"))
    return {
        "number": str(data.get("number") or (invoice.number if invoice else "") or ""),
        "total": money("total", invoice.total if invoice else None),
        "amount": money("amount", invoice.amount_due if invoice else None),
        "amount_due": money("amount_due", invoice.amount_due if invoice else None),
        "issue_date": fmt.date(invoice.issue_date) if invoice else "",
        "due_date": fmt.date(_date(data.get("due_date")) or (invoice.due_date if invoice else None)),
        "period": period,
        "paid": paid,
        "pay_url": pay_url,
        "update_card_url": str(data.get("update_card_url") or ""),
        "reason": str(data.get("reason") or ""),
        "next_attempt": fmt.date(next_attempt) if next_attempt else "",
        "days_overdue": _int(data.get("days_overdue")),
    }


def _membership_context(data: dict[str, Any], fmt: Formats, objects: dict[str, Any]) -> dict[str, Any]:
    from apps.memberships.models import Freeze, Membership

    membership = freeze = None
    if (membership_id := _int(data.get("membership_id"))) is not None:
        membership = Membership.objects.select_related("plan").filter(pk=membership_id).first()
    if (freeze_id := _int(data.get("freeze_id"))) is not None:
        freeze = Freeze.objects.filter(pk=freeze_id).first()
    objects |= {"membership": membership, "freeze": freeze}
    end_date = _date(data.get("end_date")) or (membership.end_date if membership else None)
    next_billing = _date(data.get("next_billing_date")) or (membership.next_billing_date if membership else None)
    freeze_end = (freeze.ended_on or freeze.end_date) if freeze else None
    amount = data.get("amount") if data.get("amount") not in (None, "") else (membership.price if membership else None)
    return {
        "plan_name": str(data.get("plan_name") or (membership.plan.name if membership else "") or "membership"),
        "end_date": fmt.date(end_date),
        "next_billing_date": fmt.date(next_billing),
        "amount": fmt.money(amount, str(data.get("currency") or "") or None),
        "cancel_at_period_end": bool(
            data.get("cancel_at_period_end", membership.cancel_at_period_end if membership else False)
        ),
        "freeze_start": fmt.date(freeze.start_date) if freeze else "",
        "freeze_end": fmt.date(freeze_end),
        "freeze_reason": freeze.reason if freeze else "",
    }


def _app_invite_context(data: dict[str, Any], member: Member, gym: Gym) -> dict[str, Any]:
    from django.urls import reverse

    from apps.accounts.models import User
    from apps.accounts.services import account_password_setup_url

    base_url = gym_base_url(gym=gym)
    login_url = base_url + reverse("account_login", urlconf=settings.ROOT_URLCONF)
    user_id = _int(data.get("user_id")) or member.user_id
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id else None
    return {
        "login_email": user.email if user is not None else member.email,
        "login_url": login_url,
        "set_password_url": account_password_setup_url(user=user, base_url=base_url) if user is not None else "",
    }


# --- templates ----------------------------------------------------------------------------------


def _templates(folder: str, kind: str, suffix: str) -> list[str]:
    """The kind's template, then the generic one (`select_template` takes the first found)."""
    return [f"notifications/{folder}/{kind}{suffix}", f"notifications/{folder}/generic{suffix}"]


def _tidy(text: str) -> str:
    """Template text without trailing spaces and with at most one blank line in a row."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def _short(names: list[str], context: dict[str, Any], *, sms_stop: bool) -> str:
    """The short text: whitespace collapsed, cut to `SHORT_MAX` with "...", the
    STOP hint kept at the end for reminder and marketing SMS."""
    text = " ".join(render_to_string(names, context).split())
    suffix = f" {STOP_HINT}" if sms_stop else ""
    room = SHORT_MAX - len(suffix)
    if len(text) > room:
        text = text[: room - 3].rstrip() + "..."  # GSM-7 has no "…"
    return text + suffix


def _whatsapp_variables(kind: str, context: dict[str, Any]) -> dict[str, str]:
    keys = ("first_name", *WHATSAPP_VARIABLES.get(kind, ("gym_name", "subject")))
    return {str(i): str(context.get(key) or "") for i, key in enumerate(keys, start=1)}


# --- attachments --------------------------------------------------------------------------------


def _attachments(
    kind: str, notification: Notification, gym: Gym, context: dict[str, Any], objects: dict[str, Any]
) -> list[Attachment]:
    makers: dict[str, Callable[[], list[Attachment]]] = {
        "booking_confirmed": lambda: _booking_attachments(notification, gym, context, objects),
        "invoice_issued": lambda: _invoice_attachments(objects),
        "payment_received": lambda: _invoice_attachments(objects),  # the receipt carries the invoice
    }
    maker = makers.get(kind)
    return maker() if maker else []


def _booking_attachments(
    notification: Notification, gym: Gym, context: dict[str, Any], objects: dict[str, Any]
) -> list[Attachment]:
    from apps.bookings.models import Booking
    from apps.bookings.qr import QrTokenInvalid, booking_qr_check, booking_qr_token
    from apps.core.qrcodes import qr_png_bytes

    attachments = []
    booking_id, starts, ends = objects.get("booking_id"), objects.get("starts"), objects.get("ends")
    if booking_id is not None and starts is not None and ends is not None:
        ics = booking_ics(
            booking_id=booking_id,
            gym=gym,
            starts_at=starts,
            ends_at=ends,
            summary=context["class_name"],
            location=", ".join(part for part in (context["location"], gym.name, *context["gym_address_lines"]) if part),
            stamp=notification.created_at or timezone.now(),
        )
        attachments.append(Attachment("class.ics", ics, "text/calendar"))
    booking: Booking | None = objects.get("booking")
    if booking is not None:
        try:
            booking_qr_check(booking=booking)
        except QrTokenInvalid:
            return attachments  # cancelled, waitlisted or over: no code to show
        attachments.append(Attachment("check-in-qr.png", qr_png_bytes(booking_qr_token(booking=booking)), "image/png"))
    return attachments


def booking_ics(
    *,
    booking_id: int,
    gym: Gym,
    starts_at: datetime.datetime,
    ends_at: datetime.datetime,
    summary: str,
    location: str,
    stamp: datetime.datetime,
) -> bytes:
    """An iCalendar file (RFC 5545) with one event for a booked class: METHOD:PUBLISH
    (a calendar entry to add, not a meeting invitation, RFC 5546 section 3.2.1), UID
    `booking-<id>@<schema>.fitflow` (stable, so a re-sent file updates the same entry),
    DTSTART / DTEND / DTSTAMP in UTC (`...Z`), SUMMARY the class name, LOCATION the room
    and gym. `starts_at`, `ends_at` and `stamp` are aware datetimes."""
    calendar = Calendar()
    calendar.add("prodid", "-//FitFlow//Class bookings//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"booking-{booking_id}@{gym.schema_name}.fitflow")
    event.add("dtstamp", stamp.astimezone(datetime.UTC))
    event.add("dtstart", starts_at.astimezone(datetime.UTC))
    event.add("dtend", ends_at.astimezone(datetime.UTC))
    event.add("summary", summary)
    if location:
        event.add("location", location)
    event.add("status", "CONFIRMED")
    calendar.add_component(event)
    return bytes(calendar.to_ical())


def _invoice_attachments(objects: dict[str, Any]) -> list[Attachment]:
    from apps.invoices.delivery import PDF_CONTENT_TYPE, invoice_pdf_bytes
    from apps.invoices.models import Invoice

    invoice = objects.get("invoice")
    if invoice is None or invoice.status == Invoice.Status.DRAFT:
        return []
    return [Attachment(f"{invoice.number or invoice.pk}.pdf", invoice_pdf_bytes(invoice.pk), PDF_CONTENT_TYPE)]
