"""SMS / WhatsApp (Twilio) and push (FCM HTTP v1) backends against the fake providers' real
HTTP server: our requests follow the providers' documented formats, and their errors map
to transient (retry) or permanent (fail now) send errors."""

from __future__ import annotations

import base64
import json
import logging
import socket

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from apps.notifications.backends import PermanentSendError, PushMessage, TextMessage, TransientSendError
from apps.notifications.backends.console import ConsolePushBackend, ConsoleSmsBackend
from apps.notifications.backends.fcm import FCM_SCOPE, FcmPushBackend, UnregisteredTokensError
from apps.notifications.backends.twilio import TwilioSmsBackend
from apps.notifications.models import MessagingSettings

from .conftest import SMS_FROM, WHATSAPP_FROM
from .fake_providers import GOOGLE_TOKEN_AUDIENCE, JWT_BEARER, FakeProviders

pytestmark = pytest.mark.django_db

TO = "+27821234567"


def _closed_port_url() -> str:
    """A local URL nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# --- console ---------------------------------------------------------------------------------
def test_console_backends_log_and_return_console_ids(caplog) -> None:
    config = MessagingSettings(sms_from=SMS_FROM)
    caplog.set_level(logging.INFO, logger="apps.notifications.console")

    sms = ConsoleSmsBackend().send_sms(TextMessage(to=TO, body="See you at 7"), config=config)
    push = ConsolePushBackend().send_push(PushMessage(tokens=["t1", "t2"], title="Hi", body="Yoga"), config=config)

    assert ConsoleSmsBackend().configured(config, "whatsapp") and ConsolePushBackend().configured(config)
    assert sms.provider_id.startswith("console-")
    assert [p.startswith("console-") for p in push.provider_id.split(",")] == [True, True]
    assert push.invalid_tokens == []
    logged = [r.getMessage() for r in caplog.records if r.name == "apps.notifications.console"]
    assert any(TO in m and "See you at 7" in m and sms.provider_id in m for m in logged)
    assert any("Yoga" in m and push.provider_id in m for m in logged)


# --- Twilio ----------------------------------------------------------------------------------
def _twilio_form(fake: FakeProviders, config: MessagingSettings) -> dict[str, str]:
    [request] = fake.requests_to("/Messages.json")
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{config.twilio_account_sid}/Messages.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    basic = base64.b64encode(f"{config.twilio_account_sid}:{config.twilio_auth_token}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {basic}"
    return dict(request.body)


def test_sms_is_a_messages_api_form_with_basic_auth(fake_providers: FakeProviders, twilio_config) -> None:
    # when
    result = TwilioSmsBackend().send_sms(TextMessage(to=TO, body="Your class starts at 18:00"), config=twilio_config)

    # then: Twilio's documented fields, the gym's own credentials, Twilio's message SID back
    assert _twilio_form(fake_providers, twilio_config) == {
        "To": TO,
        "From": SMS_FROM,
        "Body": "Your class starts at 18:00",
    }
    [created] = fake_providers.twilio_messages
    assert result.provider_id == created["sid"] and result.provider_id.startswith("SM")
    assert created["status"] == "queued"


def test_whatsapp_text_uses_whatsapp_addresses(fake_providers: FakeProviders, twilio_config) -> None:
    result = TwilioSmsBackend().send_whatsapp(TextMessage(to=TO, body="Booked: Yoga"), config=twilio_config)

    assert _twilio_form(fake_providers, twilio_config) == {
        "To": f"whatsapp:{TO}",
        "From": f"whatsapp:{WHATSAPP_FROM}",
        "Body": "Booked: Yoga",
    }
    assert result.provider_id == fake_providers.twilio_messages[0]["sid"]


def test_whatsapp_template_sends_content_sid_and_variables_instead_of_body(
    fake_providers: FakeProviders, twilio_config
) -> None:
    # given an approved template (Twilio Content API) with its variables
    template = "HX" + "b" * 32
    message = TextMessage(
        to=TO, body="fallback text", template_sid=template, template_variables={"1": "Anna", "2": "Yoga Flow"}
    )

    # when
    TwilioSmsBackend().send_whatsapp(message, config=twilio_config)

    # then ContentSid + ContentVariables (a JSON object as a string), and no Body
    form = _twilio_form(fake_providers, twilio_config)
    assert set(form) == {"To", "From", "ContentSid", "ContentVariables"}
    assert form["ContentSid"] == template
    assert json.loads(form["ContentVariables"]) == {"1": "Anna", "2": "Yoga Flow"}
    assert form["From"] == f"whatsapp:{WHATSAPP_FROM}"


@pytest.mark.parametrize("code", [21211, 21610])
def test_rejected_recipient_is_permanent_with_twilios_code(fake_providers: FakeProviders, twilio_config, code) -> None:
    fake_providers.set_invalid_number(TO, code)

    with pytest.raises(PermanentSendError) as error:
        TwilioSmsBackend().send_sms(TextMessage(to=TO, body="Hi"), config=twilio_config)

    assert str(code) in str(error.value)
    assert "Unable to create record" not in str(error.value)  # Twilio's own message, not the library's
    assert fake_providers.twilio_messages == []


def test_wrong_credentials_are_permanent(fake_providers: FakeProviders, twilio_config) -> None:
    twilio_config.twilio_auth_token = "not-the-token"

    with pytest.raises(PermanentSendError, match="20003"):
        TwilioSmsBackend().send_sms(TextMessage(to=TO, body="Hi"), config=twilio_config)


@pytest.mark.parametrize("status", [500, 503, 429, 0])
def test_outages_and_rate_limits_are_transient(fake_providers: FakeProviders, twilio_config, status) -> None:
    # given Twilio fails once (0: the connection drops without an answer)
    fake_providers.fail_next(1, status)
    backend = TwilioSmsBackend()

    # when / then: transient, and the retry goes through
    with pytest.raises(TransientSendError):
        backend.send_sms(TextMessage(to=TO, body="Hi"), config=twilio_config)
    assert fake_providers.twilio_messages == []
    result = backend.send_sms(TextMessage(to=TO, body="Hi"), config=twilio_config)
    assert result.provider_id == fake_providers.twilio_messages[0]["sid"]


def test_unreachable_twilio_is_transient(fake_providers: FakeProviders, twilio_config, settings) -> None:
    settings.TWILIO_API_BASE = _closed_port_url()

    with pytest.raises(TransientSendError, match="unreachable"):
        TwilioSmsBackend().send_sms(TextMessage(to=TO, body="Hi"), config=twilio_config)


def test_twilio_configured_needs_account_token_and_the_channels_sender() -> None:
    full = MessagingSettings(twilio_account_sid="AC1", twilio_auth_token="t", sms_from=SMS_FROM, whatsapp_from="")
    backend = TwilioSmsBackend()

    assert backend.configured(full, "sms") is True
    assert backend.configured(full, "whatsapp") is False  # no WhatsApp sender
    assert backend.configured(MessagingSettings(twilio_account_sid="AC1", sms_from=SMS_FROM), "sms") is False
    assert backend.configured(MessagingSettings(twilio_auth_token="t", sms_from=SMS_FROM), "sms") is False


# --- FCM -------------------------------------------------------------------------------------
def _assertion_claims(fake: FakeProviders, token_request, key_json: str) -> dict:
    """Verify our JWT assertion with the key's public half, as Google does."""
    key = json.loads(key_json)
    private = load_pem_private_key(key["private_key"].encode(), password=None)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assertion = token_request.body["assertion"]
    assert jwt.get_unverified_header(assertion)["kid"] == key["private_key_id"]
    return jwt.decode(assertion, public_pem, algorithms=["RS256"], audience=GOOGLE_TOKEN_AUDIENCE)


def test_push_is_an_fcm_v1_message_with_a_bearer_token_from_the_signed_jwt_grant(
    fake_providers: FakeProviders, fcm_config
) -> None:
    # given
    message = PushMessage(
        tokens=["device-1"], title="Booked", body="Yoga Flow, Mon 18:00", data={"kind": "x", "id": "7"}
    )

    # when
    result = FcmPushBackend().send_push(message, config=fcm_config)

    # then: an OAuth 2.0 JWT-bearer grant at the key's token_uri, signed with the key
    [token_request] = fake_providers.requests_to("/token")
    assert token_request.body["grant_type"] == JWT_BEARER
    claims = _assertion_claims(fake_providers, token_request, fcm_config.fcm_service_account)
    assert claims["iss"] == json.loads(fcm_config.fcm_service_account)["client_email"]
    assert FCM_SCOPE in claims["scope"].split()
    # and one v1 send with the documented message JSON and the issued access token
    [send] = fake_providers.requests_to(":send")
    assert send.path == "/v1/projects/fitflow-gym-a/messages:send"
    assert send.headers["content-type"] == "application/json"
    assert send.body == {
        "message": {
            "token": "device-1",
            "notification": {"title": "Booked", "body": "Yoga Flow, Mon 18:00"},
            "data": {"kind": "x", "id": "7"},
        }
    }
    bearer = send.headers["authorization"].removeprefix("Bearer ")
    assert fake_providers.issued(bearer) == claims["iss"]
    assert result.provider_id == fake_providers.pushes[0]["name"]
    assert result.provider_id.startswith("projects/fitflow-gym-a/messages/")
    assert result.invalid_tokens == []


def test_access_token_is_reused_for_the_next_send(fake_providers: FakeProviders, fcm_config) -> None:
    # given a first send fetched a token
    FcmPushBackend().send_push(PushMessage(tokens=["d1"], title="a", body="b"), config=fcm_config)

    # when another send happens (another backend instance in the same process)
    FcmPushBackend().send_push(PushMessage(tokens=["d1", "d2"], title="c", body="d"), config=fcm_config)

    # then no new token was requested, and every send carried the same one
    assert len(fake_providers.requests_to("/token")) == 1
    bearers = {r.headers["authorization"] for r in fake_providers.requests_to(":send")}
    assert len(bearers) == 1 and len(fake_providers.pushes) == 3


def test_refused_access_token_is_replaced_once(fake_providers: FakeProviders, fcm_config) -> None:
    backend = FcmPushBackend()
    backend.send_push(PushMessage(tokens=["d1"], title="a", body="b"), config=fcm_config)
    fake_providers.revoke_access_tokens()

    result = backend.send_push(PushMessage(tokens=["d1"], title="a", body="b"), config=fcm_config)

    assert len(fake_providers.requests_to("/token")) == 2
    assert result.provider_id == fake_providers.pushes[-1]["name"]


def test_unregistered_and_invalid_tokens_are_reported_not_errors(fake_providers: FakeProviders, fcm_config) -> None:
    # given one uninstalled app and one malformed token among three devices
    fake_providers.unregister_token("gone")
    fake_providers.invalidate_token("garbage")

    result = FcmPushBackend().send_push(
        PushMessage(tokens=["gone", "live", "garbage"], title="a", body="b"), config=fcm_config
    )

    assert result.invalid_tokens == ["gone", "garbage"]
    assert result.provider_id == fake_providers.pushes[0]["name"]
    assert [p["message"]["token"] for p in fake_providers.pushes] == ["live"]


def test_all_tokens_invalid_is_permanent_and_lists_them(fake_providers: FakeProviders, fcm_config) -> None:
    fake_providers.unregister_token("a")
    fake_providers.unregister_token("b")

    with pytest.raises(UnregisteredTokensError) as error:
        FcmPushBackend().send_push(PushMessage(tokens=["a", "b"], title="t", body="b"), config=fcm_config)

    assert isinstance(error.value, PermanentSendError)
    assert error.value.invalid_tokens == ["a", "b"]


@pytest.mark.parametrize("status", [503, 500, 429, 0])
def test_fcm_outages_and_quota_are_transient(fake_providers: FakeProviders, fcm_config, status) -> None:
    fake_providers.fail_next(1, status, provider="fcm")

    with pytest.raises(TransientSendError):
        FcmPushBackend().send_push(PushMessage(tokens=["d1"], title="a", body="b"), config=fcm_config)

    assert fake_providers.pushes == []


def test_a_push_that_reached_one_device_is_sent(fake_providers: FakeProviders, fcm_config) -> None:
    # given FCM is briefly unavailable for the first of two devices
    fake_providers.fail_next(1, 503, provider="fcm")

    # when
    result = FcmPushBackend().send_push(PushMessage(tokens=["d1", "d2"], title="a", body="b"), config=fcm_config)

    # then it counts as sent (a retry would notify the second device twice)
    assert result.provider_id == fake_providers.pushes[0]["name"]
    assert [p["message"]["token"] for p in fake_providers.pushes] == ["d2"]


def test_unreachable_fcm_is_transient(fake_providers: FakeProviders, fcm_config, settings) -> None:
    settings.FCM_API_BASE = _closed_port_url()

    with pytest.raises(TransientSendError, match="unreachable"):
        FcmPushBackend().send_push(PushMessage(tokens=["d1"], title="a", body="b"), config=fcm_config)


def test_key_of_another_project_is_permanent(fake_providers: FakeProviders) -> None:
    # given gym A's project id with a key of another Firebase project
    other_key = fake_providers.service_account_info("someone-elses-project")
    config = MessagingSettings(fcm_project_id="fitflow-gym-a", fcm_service_account=json.dumps(other_key))

    with pytest.raises(PermanentSendError, match="403"):
        FcmPushBackend().send_push(PushMessage(tokens=["d1"], title="a", body="b"), config=config)

    assert fake_providers.pushes == []


def test_refused_grant_and_broken_key_are_permanent(fake_providers: FakeProviders) -> None:
    # given a key the token endpoint does not know (deleted in the console)
    key = fake_providers.service_account_info("fitflow-gym-a")
    key["private_key_id"] = "deleted-key"
    unknown = MessagingSettings(fcm_project_id="fitflow-gym-a", fcm_service_account=json.dumps(key))
    broken = MessagingSettings(fcm_project_id="fitflow-gym-a", fcm_service_account="{not json")

    with pytest.raises(PermanentSendError, match="refused"):
        FcmPushBackend().send_push(PushMessage(tokens=["d1"], title="a", body="b"), config=unknown)
    with pytest.raises(PermanentSendError, match="not valid"):
        FcmPushBackend().send_push(PushMessage(tokens=["d1"], title="a", body="b"), config=broken)
    assert fake_providers.requests_to(":send") == []


def test_fcm_configured_needs_project_and_key() -> None:
    backend = FcmPushBackend()

    assert backend.configured(MessagingSettings(fcm_project_id="p", fcm_service_account="{}")) is True
    assert backend.configured(MessagingSettings(fcm_project_id="p")) is False
    assert backend.configured(MessagingSettings(fcm_service_account="{}")) is False
