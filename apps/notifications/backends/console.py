"""Backends that write messages to the log instead of sending them (development, benches).

Every message goes to the `apps.notifications.console` logger at INFO and gets a made-up
provider id `console-<uuid4 hex>`. They need no credentials, so `configured()` is always
True. They do no I/O beyond logging: a bench sends tens of thousands of messages
through them.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from .base import PushMessage, SendResult, TextMessage

if TYPE_CHECKING:
    from ..models import MessagingSettings

logger = logging.getLogger("apps.notifications.console")


def _console_id() -> str:
    return f"console-{uuid.uuid4().hex}"


class ConsoleSmsBackend:
    """SMS and WhatsApp to the log (implements `base.SmsBackend`)."""

    def configured(self, config: MessagingSettings, channel: str) -> bool:
        """Always True: the console needs no sender or credentials."""
        return True

    def send_sms(self, message: TextMessage, *, config: MessagingSettings) -> SendResult:
        """Log `message` as an SMS from `config.sms_from`; returns a `console-...` id."""
        return self._send("sms", config.sms_from, message)

    def send_whatsapp(self, message: TextMessage, *, config: MessagingSettings) -> SendResult:
        """Log `message` as a WhatsApp message (its template SID and variables when set)."""
        return self._send("whatsapp", config.whatsapp_from, message)

    def _send(self, channel: str, sender: str, message: TextMessage) -> SendResult:
        provider_id = _console_id()
        if message.template_sid:
            logger.info(
                "%s %s from %r to %s: template %s %s",
                channel, provider_id, sender, message.to, message.template_sid, message.template_variables,
            )  # fmt: skip
        else:
            logger.info("%s %s from %r to %s: %s", channel, provider_id, sender, message.to, message.body)
        return SendResult(provider_id=provider_id)


class ConsolePushBackend:
    """Push notifications to the log (implements `base.PushBackend`)."""

    def configured(self, config: MessagingSettings) -> bool:
        """Always True: the console needs no project or key."""
        return True

    def send_push(self, message: PushMessage, *, config: MessagingSettings) -> SendResult:
        """Log `message` once for all its tokens; returns one `console-...` id per token
        (joined by ","), and no invalid tokens."""
        ids = [_console_id() for _ in message.tokens]
        logger.info(
            "push %s to %d device(s): %s | %s %s",
            ",".join(ids), len(message.tokens), message.title, message.body, message.data,
        )  # fmt: skip
        return SendResult(provider_id=",".join(ids))
