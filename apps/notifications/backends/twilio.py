"""SMS and WhatsApp through Twilio's Programmable Messaging (the official `twilio` library).

Both channels use the Messages API (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`,
https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource):
- SMS: `From` = the gym's `sms_from`, `To`, `Body`;
- WhatsApp: the same with `whatsapp:`-prefixed numbers
  (https://www.twilio.com/docs/whatsapp/api#sending-messages). A template message (needed
  outside the 24-hour session window) sends `ContentSid` and `ContentVariables` (a JSON
  object as a string) instead of `Body` (https://www.twilio.com/docs/content/send-templates-created-with-the-content-editor).

Credentials are the gym's own (`MessagingSettings.twilio_account_sid` / `twilio_auth_token`,
HTTP Basic auth). `settings.TWILIO_API_BASE` (default https://api.twilio.com) replaces the
scheme and host of the library's requests, through the library's documented extension
point, a custom `HttpClient` (https://www.twilio.com/docs/libraries/reference/twilio-python/#custom-http-clients);
tests point it at their fake server.

Errors (https://www.twilio.com/docs/api/errors): network errors, timeouts, HTTP 429 and 5xx
raise `TransientSendError`; any other 4xx (21211 invalid 'To', 21610 the recipient replied
STOP, 63016 outside the WhatsApp session window without a template, 20003 bad credentials)
raises `PermanentSendError` with Twilio's code and message.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import requests
from django.conf import settings
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from .base import PermanentSendError, SendResult, TextMessage, TransientSendError

if TYPE_CHECKING:
    from ..models import MessagingSettings

logger = logging.getLogger(__name__)

TWILIO_DEFAULT_BASE = "https://api.twilio.com"
# Seconds to wait for Twilio to connect and answer; a timeout is a transient error.
TWILIO_TIMEOUT = 10.0
WHATSAPP_PREFIX = "whatsapp:"


class _RebasedHttpClient(TwilioHttpClient):
    """The library's HTTP client (pooled `requests` session), with requests to
    api.twilio.com sent to `settings.TWILIO_API_BASE` instead (read on every request)."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        base = str(settings.TWILIO_API_BASE).rstrip("/")
        if base != TWILIO_DEFAULT_BASE and url.startswith(TWILIO_DEFAULT_BASE + "/"):
            url = base + url[len(TWILIO_DEFAULT_BASE) :]
        return super().request(method, url, *args, **kwargs)


def whatsapp_address(number: str) -> str:
    """`number` (E.164, "+27821234567") as a Twilio WhatsApp address
    ("whatsapp:+27821234567"); an address that has the prefix already is kept."""
    return number if number.startswith(WHATSAPP_PREFIX) else f"{WHATSAPP_PREFIX}{number}"


class TwilioSmsBackend:
    """SMS and WhatsApp through Twilio (implements `base.SmsBackend`). One instance is
    shared by a process (`base.sms_backend()`); its HTTP connections are pooled."""

    def __init__(self) -> None:
        self._http_client = _RebasedHttpClient(timeout=TWILIO_TIMEOUT)

    def configured(self, config: MessagingSettings, channel: str) -> bool:
        """True when the gym has a Twilio account SID, auth token and a sender for
        `channel` ("sms": `sms_from`; "whatsapp": `whatsapp_from`)."""
        sender = {"sms": config.sms_from, "whatsapp": config.whatsapp_from}.get(channel, "")
        return bool(config.twilio_account_sid and config.twilio_auth_token and sender)

    def send_sms(self, message: TextMessage, *, config: MessagingSettings) -> SendResult:
        """Send `message.body` to `message.to` from `config.sms_from`. Returns Twilio's
        message SID ("SM..."). Raises `TransientSendError` / `PermanentSendError`."""
        return self._create(config, from_=config.sms_from, to=message.to, body=message.body)

    def send_whatsapp(self, message: TextMessage, *, config: MessagingSettings) -> SendResult:
        """Send `message` on WhatsApp from `config.whatsapp_from`: the approved template
        (`template_sid` with `template_variables`) when set, else `body` (only delivered
        inside the 24-hour session window, Twilio error 63016 otherwise). Returns Twilio's
        message SID. Raises `TransientSendError` / `PermanentSendError`."""
        fields: dict[str, str] = {}
        if message.template_sid:
            fields["content_sid"] = message.template_sid
            fields["content_variables"] = json.dumps(message.template_variables)
        else:
            fields["body"] = message.body
        return self._create(
            config, from_=whatsapp_address(config.whatsapp_from), to=whatsapp_address(message.to), **fields
        )

    def _create(self, config: MessagingSettings, **fields: str) -> SendResult:
        if not (config.twilio_account_sid and config.twilio_auth_token):
            raise PermanentSendError("Twilio is not configured for this gym (account SID and auth token).")
        client = Client(config.twilio_account_sid, config.twilio_auth_token, http_client=self._http_client)
        try:
            created = client.messages.create(**fields)
        except TwilioRestException as exc:
            raise _send_error(exc.status, exc.code, exc.msg.removeprefix(_LIBRARY_PREFIX)) from exc
        except TwilioServiceException as exc:  # RFC 9457 problem details
            raise _send_error(exc.status, exc.code, exc.detail or exc.title) from exc
        except requests.RequestException as exc:  # connection refused/reset, timeouts
            raise TransientSendError(f"Twilio unreachable: {exc.__class__.__name__}: {exc}") from exc
        except (TwilioException, ValueError) as exc:  # e.g. an answer that is not JSON
            raise TransientSendError(f"Twilio answer not understood: {exc}") from exc
        return SendResult(provider_id=str(created.sid or ""))


# The library prefixes Twilio's error message with this (twilio.base.version).
_LIBRARY_PREFIX = "Unable to create record: "


def _send_error(status: int, code: int | None, message: str) -> TransientSendError | PermanentSendError:
    """The error for a Twilio error answer: 429 and 5xx are transient, other 4xx permanent."""
    text = f"Twilio error {code or status}: {message}"
    if status == 429 or status >= 500:
        return TransientSendError(text)
    return PermanentSendError(text)
