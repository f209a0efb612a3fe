"""The email a notification becomes: `notification_email(...)` builds a Django
`EmailMultiAlternatives` from a `rendering.Rendered`; the send pipeline calls `.send()`.

It uses Django's email API only, so any `EMAIL_BACKEND` works: SMTP, django-anymail's
providers in production (custom headers and attachments pass through anymail), locmem
in tests.

Headers:
- `From: "<sender name or gym name>" <DEFAULT_FROM_EMAIL's address>`: the platform's
  verified sending address with the gym's name, so SPF / DKIM / DMARC stay aligned;
  `Reply-To`: the gym's `MessagingSettings.reply_to` when set.
- `X-FitFlow-Notification: <id>`: ties a bounce or complaint back to the notification.
- `Auto-Submitted: auto-generated` (RFC 3834 section 5): out-of-office robots do not
  answer it.
- Reminders and marketing (not transactional) carry one-click unsubscribe:
  `List-Unsubscribe: <https://<gym host>/notifications/unsubscribe/<token>/>` (RFC 2369
  section 3.2) and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058
  section 3.1), which Gmail and Yahoo require of bulk senders since February 2024.
  Transactional emails carry neither: they cannot be switched off.
"""

from __future__ import annotations

from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from apps.members.models import Member
from apps.tenants.models import Gym

from .models import Category, MessagingSettings, Notification
from .rendering import Rendered, notification_category
from .unsubscribe import unsubscribe_url

ONE_CLICK = "List-Unsubscribe=One-Click"  # RFC 8058 section 3.1: the header's only allowed value


def notification_email(
    notification: Notification, *, member: Member, gym: Gym, config: MessagingSettings, rendered: Rendered
) -> EmailMultiAlternatives:
    """The email for `notification` to `member.email`: `rendered.subject`, the text
    body with `rendered.html` as its HTML alternative and `rendered.attachments`, with
    the headers described in the module docstring. Must run in `gym`'s schema (the
    unsubscribe token names it). Sends nothing; the caller calls `.send()`, which
    raises the backend's errors (e.g. `smtplib.SMTPException`)."""
    from_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    headers = {"X-FitFlow-Notification": str(notification.pk), "Auto-Submitted": "auto-generated"}
    category = notification_category(notification)
    if category != Category.TRANSACTIONAL:
        headers["List-Unsubscribe"] = f"<{unsubscribe_url(member=member, gym=gym, category=category)}>"
        headers["List-Unsubscribe-Post"] = ONE_CLICK
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=formataddr((config.sender_name or gym.name, from_address)),
        to=[member.email],
        reply_to=[config.reply_to] if config.reply_to else None,
        headers=headers,
    )
    message.attach_alternative(rendered.html, "text/html")
    for attachment in rendered.attachments:
        message.attach(attachment.filename, attachment.content, attachment.mimetype)
    return message
