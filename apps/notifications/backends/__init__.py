"""Channel backends: how an SMS, WhatsApp message or push notification leaves FitFlow.

`base` holds the interface and the errors; `console` writes messages to the log
(development, benches); `twilio` (SMS and WhatsApp) and `fcm` (push, FCM HTTP v1) are
the real providers. Settings choose the class: `NOTIFICATIONS_SMS_BACKEND` (SMS and
WhatsApp) and `NOTIFICATIONS_PUSH_BACKEND`. Email goes through Django's email API
(`EMAIL_BACKEND`, django-anymail in production).
"""

from .base import (
    PermanentSendError,
    PushBackend,
    PushMessage,
    SendResult,
    SmsBackend,
    TextMessage,
    TransientSendError,
    push_backend,
    sms_backend,
)

__all__ = [
    "PermanentSendError",
    "PushBackend",
    "PushMessage",
    "SendResult",
    "SmsBackend",
    "TextMessage",
    "TransientSendError",
    "push_backend",
    "sms_backend",
]
