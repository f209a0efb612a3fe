"""Notification emails over real SMTP, and the one-click unsubscribe they link to.

An aiosmtpd server started in the test receives what Django's SMTP backend sends; the
test parses the MIME it got: subject, text and HTML parts, the .ics / QR / PDF
attachments, and the RFC 2369 / RFC 8058 List-Unsubscribe headers, whose URL then
unsubscribes through the gym's host (a CSRF-enforcing client, no cookies, no login).
Tokens from another gym, tampered tokens and the transactional category are refused."""

from __future__ import annotations

import email
import email.policy
import socket
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from django.core import mail
from django.test import Client
from django_tenants.utils import tenant_context
from icalendar import Calendar

from apps.conftest import host_of
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.notifications.emails import notification_email
from apps.notifications.models import Category, Channel, MessagingSettings, Notification, NotificationPreference
from apps.notifications.unsubscribe import (
    UnsubscribeRefused,
    preference_unsubscribe,
    unsubscribe_token,
    unsubscribe_url,
)
from apps.tenants.models import Gym

from .test_rendering import World, notification_of, render, world_build

pytestmark = pytest.mark.django_db
ONE_CLICK = "List-Unsubscribe=One-Click"


class Inbox:
    """aiosmtpd handler keeping every message it accepts (raw bytes, envelope)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # aiosmtpd's hook
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def parsed(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[misc]
            for _, _, raw in self.messages
        ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp(settings) -> Iterator[Inbox]:
    """A real SMTP server on a free local port, with Django's SMTP backend pointed at it."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "FitFlow <no-reply@fitflow.test>"
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def world(gym_a: Gym, settings, tmp_path: Path) -> Iterator[World]:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with tenant_context(gym_a):
        yield world_build(gym_a)


CONFIG = MessagingSettings(sender_name="Gym A Studio", reply_to="desk@gym-a.test")


def send(w: World, notification: Notification) -> None:
    """Render and send `notification` as the pipeline does (render, build, send)."""
    rendered = render(w, notification)
    message = notification_email(notification, member=w.member, gym=w.gym, config=CONFIG, rendered=rendered)
    assert message.send() == 1


def payload(part: EmailMessage) -> bytes:
    """A leaf part's decoded bytes (base64 / quoted-printable undone)."""
    return cast(bytes, part.get_payload(decode=True))


def parts(message: EmailMessage) -> dict[str, EmailMessage]:
    """The message's leaf parts by content type (attachments by filename)."""
    found: dict[str, EmailMessage] = {}
    for part in message.walk():
        if part.is_multipart():
            continue
        found[part.get_filename() or part.get_content_type()] = part  # type: ignore[assignment]
    return found


# --- end to end over SMTP -----------------------------------------------------------------------


def test_booking_confirmed_arrives_with_calendar_entry_and_qr(world: World, smtp: Inbox) -> None:
    notification = Notification.objects.get(idempotency_key=f"booking_confirmed:booking:{world.booking.pk}")
    send(world, notification)
    [(mail_from, rcpt_tos, _raw)] = smtp.messages
    [received] = smtp.parsed()
    # envelope and headers
    assert mail_from == "no-reply@fitflow.test" and rcpt_tos == [world.member.email]
    assert parseaddr(received["From"]) == ("Gym A Studio", "no-reply@fitflow.test")
    assert received["Reply-To"] == "desk@gym-a.test" and received["To"] == world.member.email
    assert received["Subject"].startswith("Booked: Yoga Flow, ")
    assert received["X-FitFlow-Notification"] == str(notification.pk)
    # transactional: no unsubscribe headers
    assert received["List-Unsubscribe"] is None and received["List-Unsubscribe-Post"] is None
    # the text and HTML bodies, and both attachments
    found = parts(received)
    assert "Hi Thandi," in found["text/plain"].get_content() and "Yoga Flow" in found["text/plain"].get_content()
    html = found["text/html"].get_content()
    assert "<table" in html and "Yoga Flow" in html and world.gym.name in html
    assert found["class.ics"].get_content_type() == "text/calendar"
    calendar = Calendar.from_ical(payload(found["class.ics"]))
    [event] = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "PUBLISH" and str(event["SUMMARY"]) == "Yoga Flow"
    assert event.decoded("DTSTART") == world.starts_at
    assert str(event["UID"]) == f"booking-{world.booking.pk}@{world.gym.schema_name}.fitflow"
    png = found["check-in-qr.png"]
    assert png.get_content_type() == "image/png" and payload(png).startswith(b"\x89PNG\r\n\x1a\n")
    assert [p.get_content_type() for p in received.walk()][:4] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]


def test_invoice_issued_arrives_with_its_pdf(world: World, smtp: Inbox, tmp_path: Path) -> None:
    notification = Notification.objects.get(idempotency_key=f"invoice_issued:invoice:{world.invoice.pk}")
    send(world, notification)
    [received] = smtp.parsed()
    assert received["Subject"] == f"Invoice {world.invoice.number} from {world.gym.name}"
    found = parts(received)
    assert "£505.00" in found["text/plain"].get_content() and "£505.00" in found["text/html"].get_content()
    pdf = found[f"{world.invoice.number}.pdf"]
    assert pdf.get_content_type() == "application/pdf"
    data = payload(pdf)
    assert data.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True).stdout
    assert str(world.invoice.number).encode() in text and b"505.00" in text


def test_class_reminder_has_one_click_unsubscribe_that_works(world: World, smtp: Inbox, gym_a: Gym) -> None:
    notification = notification_of(world, "class_reminder")
    send(world, notification)
    [received] = smtp.parsed()
    assert received["Subject"].startswith("Reminder: Yoga Flow")
    # RFC 2369 + RFC 8058 headers
    header = str(received["List-Unsubscribe"]).strip()  # folded onto its own line: it is long
    assert header.startswith("<") and header.endswith(">")
    url = urlsplit(header[1:-1])
    assert url.hostname == host_of(gym_a) and url.path.startswith("/notifications/unsubscribe/")
    assert received["List-Unsubscribe-Post"] == ONE_CLICK
    # the same link is in the footer of both bodies
    found = parts(received)
    assert header[1:-1] in found["text/plain"].get_content()
    assert header[1:-1] in found["text/html"].get_content().replace("&amp;", "&")
    # when the mail client makes the one-click POST (no cookies, CSRF enforced)
    client = Client(HTTP_HOST=host_of(gym_a), enforce_csrf_checks=True)
    response = client.post(url.path, data=ONE_CLICK, content_type="application/x-www-form-urlencoded")
    # then reminders are off for this member, transactional stays on email
    assert response.status_code == 200 and b"unsubscribed" in response.content
    with tenant_context(gym_a):
        preference = NotificationPreference.objects.get(member=world.member)
    assert (preference.reminders, preference.transactional) == (Channel.NONE, Channel.EMAIL)


def test_email_headers_follow_the_category(world: World) -> None:
    # locmem: the message as the backend gets it
    for kind, unsubscribes in [("invoice_overdue_reminder", False), ("birthday", True), ("re_engagement", True)]:
        notification = notification_of(world, kind)
        rendered = render(world, notification)
        message = notification_email(notification, member=world.member, gym=world.gym, config=CONFIG, rendered=rendered)
        message.send()
        sent = mail.outbox[-1]
        assert ("List-Unsubscribe" in sent.extra_headers) is unsubscribes, kind
        assert ("List-Unsubscribe-Post" in sent.extra_headers) is unsubscribes, kind
        assert sent.extra_headers["X-FitFlow-Notification"] == str(notification.pk)
    # no sender name or reply-to set: the gym's name, no Reply-To
    bare = MessagingSettings()
    notification = notification_of(world, "welcome")
    message = notification_email(
        notification, member=world.member, gym=world.gym, config=bare, rendered=render(world, notification)
    )
    assert parseaddr(message.from_email)[0] == world.gym.name and message.reply_to == []


# --- the unsubscribe page -----------------------------------------------------------------------


def test_get_asks_first_and_changes_nothing(world: World, client_a: Client) -> None:
    path = urlsplit(unsubscribe_url(member=world.member, gym=world.gym, category=Category.MARKETING)).path
    response = client_a.get(path)
    assert response.status_code == 200 and b"<form" in response.content and b'method="post"' in response.content
    assert not NotificationPreference.objects.filter(member=world.member).exists()
    # the button POSTs; repeating it is harmless
    assert client_a.post(path).status_code == 200
    assert client_a.post(path).status_code == 200
    preference = NotificationPreference.objects.get(member=world.member)
    assert (preference.marketing, preference.reminders) == (Channel.NONE, Channel.EMAIL)


def test_a_token_from_another_gym_is_refused(gym_a: Gym, gym_b: Gym, client_a: Client, client_b: Client) -> None:
    # given a member of gym A, and a member of gym B with the same id and their token
    with tenant_context(gym_a):
        ours = cast(Member, MemberFactory())
    with tenant_context(gym_b):
        theirs = Member.objects.filter(pk=ours.pk).first() or cast(Member, MemberFactory(pk=ours.pk))
        token = unsubscribe_token(member=theirs, category=Category.REMINDERS)
    path = f"/notifications/unsubscribe/{token}/"
    # when it is used on gym A's host: refused, for GET and POST
    assert client_a.get(path).status_code == 404
    assert client_a.post(path, data=ONE_CLICK, content_type="application/x-www-form-urlencoded").status_code == 404
    with tenant_context(gym_a):
        assert not NotificationPreference.objects.filter(member=ours).exists()
    # on its own gym's host it works
    assert client_b.post(path).status_code == 200
    with tenant_context(gym_b):
        assert NotificationPreference.objects.get(member=theirs).reminders == Channel.NONE


def test_tampered_tokens_are_refused(world: World, client_a: Client) -> None:
    token = unsubscribe_token(member=world.member, category=Category.REMINDERS)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    payload, rest = token.split(":", 1)
    for bad in [flipped, "x" + token, f"{payload[:-2]}:{rest}", "not-a-token", token.replace(":", "")]:
        assert client_a.post(f"/notifications/unsubscribe/{bad}/").status_code == 404, bad
    assert not NotificationPreference.objects.filter(member=world.member).exists()


def test_transactional_messages_cannot_be_unsubscribed(world: World, client_a: Client) -> None:
    token = unsubscribe_token(member=world.member, category=Category.TRANSACTIONAL)
    response = client_a.post(f"/notifications/unsubscribe/{token}/")
    assert response.status_code == 400 and b"switched off" in response.content
    assert not NotificationPreference.objects.filter(member=world.member).exists()
    with pytest.raises(UnsubscribeRefused, match="transactional"):
        preference_unsubscribe(member=world.member, category=Category.TRANSACTIONAL)
