"""Fixtures of the notifications tests: the fake Twilio / FCM server and gyms' messaging
settings that point at it. Names are stable; other test modules rely on them.

- `fake_providers` -> `FakeProviders` (apps/notifications/tests/fake_providers.py): the
  process's shared fake server, emptied before and after the test, with
  `settings.TWILIO_API_BASE` and `settings.FCM_API_BASE` pointing at it.
- `messaging_config(gym, *, twilio=True, fcm=True, **fields)` -> `MessagingSettings`: saves
  the gym's one settings row (created or updated, in the gym's schema) with credentials
  the fake accepts: a registered Twilio account (sid "AC...", its own auth token,
  `sms_from` "+15005550006", `whatsapp_from` "+14155238886") and / or a new FCM service
  account key of project "fitflow-<gym slug>" whose `token_uri` is the fake. Extra
  `fields` are saved too (e.g. `whatsapp_templates`). Returns the row, re-read.
- `twilio_config` -> gym A's `MessagingSettings` with Twilio credentials (as above).
- `fcm_config` -> gym A's `MessagingSettings` with FCM credentials (as above). Use both
  fixtures for a row with both; each returns the row as it was after its own save, so
  re-read it (`MessagingSettings.objects.get()` in gym A) when you need both sets.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from apps.notifications.models import MessagingSettings
from apps.tenants.models import Gym

from .fake_providers import FakeProviders, shared_fake_providers

SMS_FROM = "+15005550006"
WHATSAPP_FROM = "+14155238886"


@pytest.fixture
def fake_providers(settings: Any) -> Iterator[FakeProviders]:
    """The shared fake Twilio / Google OAuth / FCM server, emptied, with
    TWILIO_API_BASE and FCM_API_BASE pointing at it."""
    fake = shared_fake_providers()
    fake.reset()
    settings.TWILIO_API_BASE = fake.url
    settings.FCM_API_BASE = fake.url
    yield fake
    fake.reset()


@pytest.fixture
def messaging_config(fake_providers: FakeProviders) -> Callable[..., MessagingSettings]:
    """`messaging_config(gym, *, twilio=True, fcm=True, **fields)` -> the gym's saved
    `MessagingSettings` with credentials the fake accepts (see the module docstring)."""

    def save(gym: Gym, *, twilio: bool = True, fcm: bool = True, **fields: Any) -> MessagingSettings:
        values = dict(fields)
        if twilio:
            sid, token = fake_providers.twilio_account()
            values.update(twilio_account_sid=sid, twilio_auth_token=token, sms_from=SMS_FROM,
                          whatsapp_from=WHATSAPP_FROM)  # fmt: skip
        if fcm:
            project = f"fitflow-{gym.slug}"
            values.update(fcm_project_id=project,
                          fcm_service_account=json.dumps(fake_providers.service_account_info(project)))  # fmt: skip
        with tenant_context(gym):
            config = MessagingSettings.objects.first() or MessagingSettings()
            for name, value in values.items():
                setattr(config, name, value)
            # EncryptedTextField saves "" as NULL, which the NOT NULL columns refuse (see the
            # report of issue 7 part A); until the model allows NULL, an unused credential
            # gets a random value. Nothing is configured by it: Twilio also needs an account
            # SID, FCM a project id, and neither is set then.
            for name in ("twilio_auth_token", "fcm_service_account"):
                if not getattr(config, name):
                    setattr(config, name, f"unset-{secrets.token_hex(16)}")
            config.save()
            return MessagingSettings.objects.get(pk=config.pk)

    return save


@pytest.fixture
def twilio_config(gym_a: Gym, messaging_config: Callable[..., MessagingSettings]) -> MessagingSettings:
    """Gym A's `MessagingSettings` with Twilio credentials registered with the fake."""
    return messaging_config(gym_a, twilio=True, fcm=False)


@pytest.fixture
def fcm_config(gym_a: Gym, messaging_config: Callable[..., MessagingSettings]) -> MessagingSettings:
    """Gym A's `MessagingSettings` with an FCM service account key the fake accepts."""
    return messaging_config(gym_a, twilio=False, fcm=True)
