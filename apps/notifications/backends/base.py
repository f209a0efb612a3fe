"""The interface every SMS / WhatsApp and push backend implements, and its errors.

A backend sends one message and returns a `SendResult`, or raises:
- `TransientSendError` when trying again later may work (network errors, timeouts,
  HTTP 429 and 5xx): the notification is retried with exponential backoff, 3 attempts
  in all;
- `PermanentSendError` when it never will (an invalid number, an unapproved template,
  bad credentials): the notification fails at once with the message as its error.
Backends never touch the database; the caller passes the gym's `MessagingSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from ..models import MessagingSettings


class TransientSendError(Exception):
    """Sending failed, but may work later (network, timeout, 429, 5xx)."""


class PermanentSendError(Exception):
    """Sending failed and will keep failing (invalid recipient, template or credentials)."""


@dataclass(frozen=True)
class TextMessage:
    """An SMS or WhatsApp message to `to` (E.164, e.g. "+27821234567").

    `body` is the plain text. For WhatsApp outside the 24-hour session window Meta
    requires an approved template: `template_sid` (Twilio Content SID, "HX...") with
    `template_variables` ({"1": "Anna", "2": "Yoga Flow"}); when set, the backend sends
    the template instead of `body`."""

    to: str
    body: str
    template_sid: str = ""
    template_variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PushMessage:
    """A push notification to the member's devices (`tokens`, FCM registration
    tokens): `title`, `body` and string `data` for the app (e.g. {"kind": ..., "id": ...})."""

    tokens: list[str]
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    """What the provider said: its message id(s) (`provider_id`, joined by "," for
    several devices) and, for push, the tokens it reported as no longer registered
    (`invalid_tokens`, to be removed)."""

    provider_id: str = ""
    invalid_tokens: list[str] = field(default_factory=list)


class SmsBackend(Protocol):
    """Sends SMS and WhatsApp messages."""

    def configured(self, config: MessagingSettings, channel: str) -> bool:
        """True when `channel` ("sms" or "whatsapp") can be sent with `config` (the
        console backend always can; Twilio needs the gym's account, token and sender)."""
        ...

    def send_sms(self, message: TextMessage, *, config: MessagingSettings) -> SendResult:
        """Send `message` as an SMS from `config.sms_from`."""
        ...

    def send_whatsapp(self, message: TextMessage, *, config: MessagingSettings) -> SendResult:
        """Send `message` on WhatsApp from `config.whatsapp_from`."""
        ...


class PushBackend(Protocol):
    """Sends push notifications."""

    def configured(self, config: MessagingSettings) -> bool:
        """True when push can be sent with `config` (console: always; FCM: project and key)."""
        ...

    def send_push(self, message: PushMessage, *, config: MessagingSettings) -> SendResult:
        """Send `message` to each of its tokens."""
        ...


@lru_cache(maxsize=4)
def _backend(path: str) -> object:
    return import_string(path)()


def sms_backend() -> SmsBackend:
    """The configured SMS / WhatsApp backend (`settings.NOTIFICATIONS_SMS_BACKEND`)."""
    return _backend(settings.NOTIFICATIONS_SMS_BACKEND)  # type: ignore[return-value]


def push_backend() -> PushBackend:
    """The configured push backend (`settings.NOTIFICATIONS_PUSH_BACKEND`)."""
    return _backend(settings.NOTIFICATIONS_PUSH_BACKEND)  # type: ignore[return-value]
