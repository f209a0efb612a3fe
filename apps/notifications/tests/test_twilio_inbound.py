"""Twilio's inbound message webhook on the gym host: only requests signed with the gym's own
auth token count, and STOP / START replies change only that gym's members."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.conftest import host_of
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.notifications.models import MessagingSettings, NotificationPreference
from apps.notifications.webhooks import sms_opt_out_apply
from apps.tenants.models import Gym

from .fake_providers import twilio_webhook_signature

pytestmark = pytest.mark.django_db

PHONE = "+27825550101"
PATH = "/notifications/twilio/inbound/"


def _params(config: MessagingSettings, body: str, sender: str = PHONE) -> dict[str, str]:
    """The form Twilio posts for an incoming SMS (https://www.twilio.com/docs/messaging/guides/webhook-request)."""
    return {
        "MessageSid": "SM" + "1" * 32,
        "SmsSid": "SM" + "1" * 32,
        "AccountSid": config.twilio_account_sid,
        "From": sender,
        "To": config.sms_from,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }


def _post(client: Client, gym: Gym, params: dict[str, str], *, token: str, scheme: str = "http", **extra: str):
    """POST `params` as Twilio would, signed with `token` for `scheme`://<gym host>/..."""
    signature = twilio_webhook_signature(token, f"{scheme}://{host_of(gym)}{PATH}", params)
    return client.post(PATH, params, HTTP_X_TWILIO_SIGNATURE=signature, **extra)


def _opted_out(gym: Gym, member: Member) -> tuple[dt.datetime | None, dt.datetime | None]:
    with tenant_context(gym):
        pref = NotificationPreference.objects.filter(member=member).first()
        return (pref.sms_opted_out_at, pref.whatsapp_opted_out_at) if pref else (None, None)


def test_route_is_the_notifications_namespace(gym_a: Gym) -> None:
    assert reverse("notifications:twilio-inbound") == PATH


@pytest.mark.parametrize("body", ["STOP", "stop", "  Unsubscribe ", "STOPALL", "cancel", "End", "QUIT"])
def test_signed_stop_opts_the_members_sms_out(client_a: Client, gym_a: Gym, twilio_config, body: str) -> None:
    # given a member with the sender's phone, one with another phone
    with tenant_context(gym_a):
        member, other = MemberFactory(phone=PHONE), MemberFactory(phone="+27825550199")
    before = timezone.now()

    # when Twilio posts their STOP, signed with the gym's token
    response = _post(client_a, gym_a, _params(twilio_config, body), token=twilio_config.twilio_auth_token)

    # then empty TwiML, and the member's SMS is opted out (preference row created)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.decode().endswith("<Response/>")
    sms, whatsapp = _opted_out(gym_a, member)
    assert sms is not None and sms >= before and whatsapp is None
    assert _opted_out(gym_a, other) == (None, None)


@pytest.mark.parametrize("body", ["Stop please", "hello", "STOP STOP", ""])
def test_other_messages_change_nothing(client_a: Client, gym_a: Gym, twilio_config, body: str) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(phone=PHONE)

    response = _post(client_a, gym_a, _params(twilio_config, body), token=twilio_config.twilio_auth_token)

    assert response.status_code == 200
    assert _opted_out(gym_a, member) == (None, None)


@pytest.mark.parametrize("keyword", ["START", "unstop", "Yes"])
def test_start_clears_the_opt_out(client_a: Client, gym_a: Gym, twilio_config, keyword: str) -> None:
    # given a member who replied STOP
    with tenant_context(gym_a):
        member = MemberFactory(phone=PHONE)
        NotificationPreference.objects.create(member=member, sms_opted_out_at=timezone.now(), reminders="sms")

    response = _post(client_a, gym_a, _params(twilio_config, keyword), token=twilio_config.twilio_auth_token)

    assert response.status_code == 200
    assert _opted_out(gym_a, member) == (None, None)
    with tenant_context(gym_a):
        assert NotificationPreference.objects.get(member=member).reminders == "sms"  # choices kept


def test_whatsapp_stop_opts_out_of_whatsapp_only(client_a: Client, gym_a: Gym, twilio_config) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(phone=PHONE)
    params = _params(twilio_config, "STOP", sender=f"whatsapp:{PHONE}")
    params["To"] = f"whatsapp:{twilio_config.whatsapp_from}"

    response = _post(client_a, gym_a, params, token=twilio_config.twilio_auth_token)

    assert response.status_code == 200
    sms, whatsapp = _opted_out(gym_a, member)
    assert sms is None and whatsapp is not None


def test_advanced_opt_out_type_is_honoured(client_a: Client, gym_a: Gym, twilio_config) -> None:
    # given the gym's Messaging Service has a custom opt-out keyword, classified by Twilio
    with tenant_context(gym_a):
        member = MemberFactory(phone=PHONE)
    params = {**_params(twilio_config, "NO MORE"), "OptOutType": "STOP"}

    response = _post(client_a, gym_a, params, token=twilio_config.twilio_auth_token)

    assert response.status_code == 200
    assert _opted_out(gym_a, member)[0] is not None


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl"])
def test_missing_or_bad_signature_is_forbidden(client_a: Client, gym_a: Gym, twilio_config, signature) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(phone=PHONE)
    extra = {} if signature is None else {"HTTP_X_TWILIO_SIGNATURE": signature}

    response = client_a.post(PATH, _params(twilio_config, "STOP"), **extra)

    assert response.status_code == 403
    assert _opted_out(gym_a, member) == (None, None)


def test_tampered_body_is_forbidden(client_a: Client, gym_a: Gym, twilio_config) -> None:
    # given a genuine signature of a message from another number
    with tenant_context(gym_a):
        member = MemberFactory(phone=PHONE)
    signed = _params(twilio_config, "STOP", sender="+27825550177")
    signature = twilio_webhook_signature(twilio_config.twilio_auth_token, f"http://{host_of(gym_a)}{PATH}", signed)

    # when the From is swapped for the member's number
    response = client_a.post(PATH, {**signed, "From": PHONE}, HTTP_X_TWILIO_SIGNATURE=signature)

    assert response.status_code == 403
    assert _opted_out(gym_a, member) == (None, None)


def test_signature_covers_the_https_url_behind_the_proxy(client_a: Client, gym_a: Gym, twilio_config) -> None:
    # given Twilio called https://<host>/... and the proxy forwards it as http with X-Forwarded-Proto
    with tenant_context(gym_a):
        member = MemberFactory(phone=PHONE)
    params = _params(twilio_config, "STOP")
    token = twilio_config.twilio_auth_token

    # a signature of the http URL does not match what Twilio called
    assert _post(client_a, gym_a, params, token=token, HTTP_X_FORWARDED_PROTO="https").status_code == 403
    assert _opted_out(gym_a, member) == (None, None)
    # the https one does
    response = _post(client_a, gym_a, params, token=token, scheme="https", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert _opted_out(gym_a, member)[0] is not None


def test_gym_without_twilio_settings_is_forbidden(client_a: Client, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        assert not MessagingSettings.objects.exists()
    params = {"From": PHONE, "Body": "STOP", "AccountSid": "AC" + "0" * 32}

    assert _post(client_a, gym_a, params, token="").status_code == 403


def test_only_post(client_a: Client, twilio_config) -> None:
    assert client_a.get(PATH).status_code == 405


def test_stop_on_gym_a_never_touches_gym_b(
    client_a: Client, gym_a: Gym, gym_b: Gym, twilio_config, messaging_config
) -> None:
    # given the same person is a member of both gyms, each gym with its own Twilio account
    config_b = messaging_config(gym_b, fcm=False)
    with tenant_context(gym_a):
        member_a = MemberFactory(phone=PHONE)
    with tenant_context(gym_b):
        member_b = MemberFactory(phone=PHONE)

    # when they reply STOP to gym A's number
    response = _post(client_a, gym_a, _params(twilio_config, "STOP"), token=twilio_config.twilio_auth_token)

    # then only gym A's member is opted out
    assert response.status_code == 200
    assert _opted_out(gym_a, member_a)[0] is not None
    assert _opted_out(gym_b, member_b) == (None, None)
    assert config_b.twilio_auth_token != twilio_config.twilio_auth_token


def test_gym_bs_token_cannot_sign_for_gym_a(
    client_a: Client, gym_a: Gym, gym_b: Gym, twilio_config, messaging_config
) -> None:
    # given gym B's own Twilio account and token
    config_b = messaging_config(gym_b, fcm=False)
    with tenant_context(gym_a):
        member_a = MemberFactory(phone=PHONE)

    # when a request to gym A's host is signed with gym B's token (and names B's account)
    response = _post(client_a, gym_a, _params(config_b, "STOP"), token=config_b.twilio_auth_token)

    # then gym A refuses it
    assert response.status_code == 403
    assert _opted_out(gym_a, member_a) == (None, None)


def test_opt_out_service_counts_changed_members_and_keeps_the_first_time(gym_a: Gym) -> None:
    # given two members sharing a phone (a parent and child), one with preferences already
    first = timezone.now() - dt.timedelta(days=3)
    with tenant_context(gym_a):
        parent, child = MemberFactory(phone=PHONE), MemberFactory(phone=PHONE)
        NotificationPreference.objects.create(member=parent)

        # when / then
        assert sms_opt_out_apply(sender=PHONE, keyword="STOP", now=first) == 2
        assert sms_opt_out_apply(sender=PHONE, keyword="stop", now=timezone.now()) == 0
        assert set(NotificationPreference.objects.values_list("sms_opted_out_at", flat=True)) == {first}
        assert sms_opt_out_apply(sender="+27825550000", keyword="STOP", now=first) == 0
        assert sms_opt_out_apply(sender=PHONE, keyword="START", now=timezone.now()) == 2
        assert sms_opt_out_apply(sender=PHONE, keyword="START", now=timezone.now()) == 0
        assert NotificationPreference.objects.filter(sms_opted_out_at__isnull=False).count() == 0
        assert set(NotificationPreference.objects.values_list("member_id", flat=True)) == {parent.pk, child.pk}
