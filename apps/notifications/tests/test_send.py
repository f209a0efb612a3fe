"""The send pipeline (`services.notifications_send`): the channel a member chose, the
transactional fallback to email, opt-outs, quiet hours, exactly-once sending under a
double dispatch, retries with backoff then failure, and gyms kept apart. Email goes
through Django's email API (locmem, or real SMTP where a failure is wanted); SMS,
WhatsApp and push through the fake Twilio / FCM server (`fake_providers`)."""

from __future__ import annotations

import datetime
import socket
import uuid
from typing import Any

import pytest
from django.core import mail
from django_tenants.utils import tenant_context

from apps.bookings.tests.test_concurrency import committed, provision_with_retry, run_in_threads
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.tenants.models import Gym

from ..models import Channel, Device, Notification, NotificationPreference
from ..services import (
    NotificationInput,
    notifications_due,
    notifications_record,
    notifications_send,
    notifications_stuck_fail,
    quiet_hours_end,
)
from ..tasks import notifications_sweep_task

pytestmark = pytest.mark.django_db
UTC = datetime.UTC
TWILIO = "apps.notifications.backends.twilio.TwilioSmsBackend"
FCM = "apps.notifications.backends.fcm.FcmPushBackend"


@pytest.fixture
def gym(gym_a: Gym):
    Gym.objects.filter(pk=gym_a.pk).update(timezone="Africa/Johannesburg")
    gym_a.refresh_from_db()
    with tenant_context(gym_a):
        yield gym_a


def member(**fields: Any) -> Member:
    return MemberFactory(email=fields.pop("email", f"m{uuid.uuid4().hex[:6]}@example.com"), **fields)


def record(m: Member, kind: str, **data: Any) -> Notification:
    key = f"{kind}:test:{uuid.uuid4().hex}"
    notifications_record([NotificationInput(m.pk, kind, key, data)], send=False)
    return Notification.objects.get(idempotency_key=key)


def prefer(m: Member, **channels: Any) -> None:
    NotificationPreference.objects.update_or_create(member=m, defaults=channels)


def at(hour: int, minute: int = 0, day: int = 10) -> datetime.datetime:
    """A UTC instant at `hour:minute` Johannesburg time (UTC+2) on 10 March 2026."""
    return datetime.datetime(2026, 3, day, hour, minute, tzinfo=UTC) - datetime.timedelta(hours=2)


def test_a_booking_confirmation_is_emailed_on_the_default_channel(gym: Gym) -> None:
    m = member()
    n = record(m, "booking_confirmed", class_name="Yoga Flow", starts_at="2026-03-11T06:00:00+00:00")

    counts = notifications_send([n.pk], now=at(12))

    assert counts.sent == 1
    n.refresh_from_db()
    assert (n.status, n.channel, n.recipient, n.attempts) == ("sent", "email", m.email, 1)
    assert n.sent_at is not None and n.subject
    [email] = mail.outbox
    assert email.to == [m.email] and email.subject == n.subject


def test_sms_channel_goes_through_twilio_and_transactional_falls_back_to_email(
    gym: Gym, settings, fake_providers, twilio_config
) -> None:
    settings.NOTIFICATIONS_SMS_BACKEND = TWILIO
    m = member(phone="+27821234567")
    prefer(m, transactional=Channel.SMS, reminders=Channel.SMS)
    receipt = record(m, "payment_received", number="INV-2026-000001", total="450.00")

    notifications_send([receipt.pk], now=at(12))

    receipt.refresh_from_db()
    assert (receipt.status, receipt.channel, receipt.recipient) == ("sent", "sms", "+27821234567")
    sent = fake_providers.requests_to("/Messages.json")
    assert len(sent) == 1 and sent[0].body["To"] == "+27821234567" and sent[0].body["From"] == twilio_config.sms_from
    assert receipt.provider_id.startswith("SM")

    # when the member has replied STOP: receipts fall back to email, reminders are suppressed
    NotificationPreference.objects.filter(member=m).update(sms_opted_out_at=at(12))
    receipt_2 = record(m, "payment_received", number="INV-2026-000002", total="450.00")
    reminder = record(m, "renewal_upcoming", amount="450.00")
    notifications_send([receipt_2.pk, reminder.pk], now=at(12))
    receipt_2.refresh_from_db()
    reminder.refresh_from_db()
    assert (receipt_2.status, receipt_2.channel, receipt_2.recipient) == ("sent", "email", m.email)
    assert (reminder.status, reminder.reason) == ("suppressed", "opted_out")
    assert len(fake_providers.requests_to("/Messages.json")) == 1


def test_categories_switched_off_are_suppressed_but_transactional_never_is(gym: Gym) -> None:
    m = member()
    prefer(m, transactional=Channel.NONE, reminders=Channel.NONE, marketing=Channel.NONE)
    receipt = record(m, "payment_received")
    reminder = record(m, "class_reminder")
    offer = record(m, "re_engagement")

    notifications_send([receipt.pk, reminder.pk, offer.pk], now=at(12))

    statuses = dict(Notification.objects.filter(member=m).values_list("kind", "status"))
    assert statuses == {"payment_received": "sent", "class_reminder": "suppressed", "re_engagement": "suppressed"}
    assert [e.to for e in mail.outbox] == [[m.email]]
    # marketing is opt-in: with no preference row it is off
    other = member()
    offer_2 = record(other, "re_engagement")
    notifications_send([offer_2.pk], now=at(12))
    offer_2.refresh_from_db()
    assert (offer_2.status, offer_2.reason) == ("suppressed", "opted_out")


def test_no_contact_details_suppress_with_the_reason(gym: Gym) -> None:
    m = member(email="")
    n = record(m, "booking_confirmed")
    assert notifications_send([n.pk], now=at(12)).suppressed == 1
    n.refresh_from_db()
    assert (n.status, n.reason, n.channel) == ("suppressed", "no_contact", "")
    assert not mail.outbox


def test_quiet_hours_hold_sms_until_8_and_drop_what_would_be_stale(
    gym: Gym, settings, fake_providers, twilio_config
) -> None:
    settings.NOTIFICATIONS_SMS_BACKEND = TWILIO
    m = member(phone="+27821234567")
    prefer(m, transactional=Channel.SMS, reminders=Channel.SMS)
    late = at(22, 30)
    # a renewal reminder at 22:30 gym time waits for 08:00; a receipt does not wait
    renewal = record(m, "renewal_upcoming", amount="450.00")
    receipt = record(m, "payment_received", number="INV-2026-000003", total="450.00")
    # a reminder of a class that starts at 07:00 would be stale by 08:00
    early_class = record(m, "class_reminder", starts_at=at(7, day=11).isoformat(), class_name="Dawn Spin")

    counts = notifications_send([renewal.pk, receipt.pk, early_class.pk], now=late)

    assert (counts.sent, counts.held, counts.suppressed) == (1, 1, 1)
    renewal.refresh_from_db()
    early_class.refresh_from_db()
    eight = at(8, day=11)
    assert quiet_hours_end(late, tz=datetime.timezone(datetime.timedelta(hours=2))) == eight
    assert (renewal.status, renewal.scheduled_for, renewal.attempts) == ("pending", eight, 0)
    assert (early_class.status, early_class.reason) == ("suppressed", "quiet_hours")
    # nothing goes before 08:00; at 08:00 the sweep sends it
    assert renewal.pk not in notifications_due(now=eight - datetime.timedelta(minutes=1))
    assert notifications_send([renewal.pk], now=eight - datetime.timedelta(minutes=1)).skipped == 1
    assert notifications_send(notifications_due(now=eight), now=eight).sent == 1
    renewal.refresh_from_db()
    assert renewal.status == "sent"
    assert len(fake_providers.requests_to("/Messages.json")) == 2


def test_push_goes_to_every_device_and_unregistered_tokens_are_removed(
    gym: Gym, settings, fake_providers, fcm_config
) -> None:
    settings.NOTIFICATIONS_PUSH_BACKEND = FCM
    m = member()
    prefer(m, transactional=Channel.PUSH)
    Device.objects.create(member=m, token="tok-phone", platform="android")
    Device.objects.create(member=m, token="tok-old", platform="ios")
    fake_providers.unregister_token("tok-old")
    n = record(m, "waitlist_promoted", class_name="Yoga Flow")

    notifications_send([n.pk], now=at(12))

    n.refresh_from_db()
    assert (n.status, n.channel, n.recipient) == ("sent", "push", "2 devices")
    assert list(Device.objects.filter(member=m).values_list("token", flat=True)) == ["tok-phone"]
    pushed = fake_providers.requests_to("messages:send")
    assert {r.body["message"]["token"] for r in pushed} == {"tok-phone", "tok-old"}
    assert all(r.body["message"]["data"]["kind"] == "waitlist_promoted" for r in pushed)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_transient_errors_retry_with_backoff_then_fail_after_3_attempts(gym: Gym, settings) -> None:
    # given an SMTP server that refuses connections (nothing listens on the port)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    n = record(member(), "payment_failed", number="INV-2026-000004", amount="450.00")
    t0 = at(12)

    first = notifications_send([n.pk], now=t0)
    n.refresh_from_db()
    assert first.held == 1 and (n.status, n.attempts) == ("pending", 1)
    assert n.scheduled_for == t0 + datetime.timedelta(seconds=30) and "ConnectionRefused" in n.error

    t1 = t0 + datetime.timedelta(seconds=31)
    notifications_send([n.pk], now=t1)
    n.refresh_from_db()
    assert (n.status, n.attempts, n.scheduled_for) == ("pending", 2, t1 + datetime.timedelta(minutes=2))

    t2 = t1 + datetime.timedelta(minutes=3)
    assert notifications_send([n.pk], now=t2).failed == 1
    n.refresh_from_db()
    assert (n.status, n.attempts) == ("failed", 3) and n.failed_at is not None and "ConnectionRefused" in n.error
    assert notifications_send(notifications_due(now=t2 + datetime.timedelta(hours=1))).sent == 0


def test_a_transient_provider_error_then_success_sends_once(gym: Gym, settings, fake_providers, twilio_config) -> None:
    settings.NOTIFICATIONS_SMS_BACKEND = TWILIO
    m = member(phone="+27821234567")
    prefer(m, transactional=Channel.SMS)
    fake_providers.fail_next(1, status=503)
    n = record(m, "booking_cancelled", class_name="Yoga Flow")

    assert notifications_send([n.pk], now=at(12)).held == 1
    assert notifications_send([n.pk], now=at(12, 1)).sent == 1

    n.refresh_from_db()
    assert (n.status, n.attempts, n.error) == ("sent", 2, "")
    # the failed request did not act (503 before sending); one message went out
    assert [r.body["To"] for r in fake_providers.requests_to("/Messages.json")] == ["+27821234567"] * 2


def test_a_permanent_provider_error_fails_at_once(gym: Gym, settings, fake_providers, twilio_config) -> None:
    settings.NOTIFICATIONS_SMS_BACKEND = TWILIO
    m = member(phone="+27821234567")
    prefer(m, transactional=Channel.SMS)
    fake_providers.set_invalid_number("+27821234567")
    n = record(m, "booking_cancelled", class_name="Yoga Flow")

    assert notifications_send([n.pk], now=at(12)).failed == 1
    n.refresh_from_db()
    assert (n.status, n.attempts) == ("failed", 1) and "21211" in n.error


def test_stuck_sends_are_failed_not_sent_again(gym: Gym) -> None:
    n = record(member(), "booking_confirmed")
    Notification.objects.filter(pk=n.pk).update(status="sending", claimed_at=at(11))

    assert notifications_stuck_fail(now=at(11, 10)) == 0
    assert notifications_stuck_fail(now=at(11, 20)) == 1

    n.refresh_from_db()
    assert n.status == "failed" and "not retried" in n.error
    assert notifications_send([n.pk], now=at(12)).skipped == 1 and not mail.outbox


@pytest.fixture
def race_gym():
    gym = committed(
        lambda: provision_with_retry(
            name="Notify Race", slug=f"notify-{uuid.uuid4().hex[:8]}", status="active", timezone="Africa/Johannesburg"
        )
    )
    try:
        yield gym
    finally:
        committed(lambda: gym.delete(force_drop=True))


def test_sent_exactly_once_when_two_workers_send_the_same_batch_at_once(race_gym: Gym) -> None:
    def arrange() -> list[int]:
        with tenant_context(race_gym):
            members = [member() for _ in range(6)]
            keys = [f"class_reminder:booking:{i}:2026-03-11T06:00" for i in range(6)]
            notifications_record(
                [NotificationInput(m.pk, "class_reminder", k, {"class_name": "Yoga"}) for m, k in zip(members, keys)],
                send=False,
            )
            # beat fired twice: recording the same reminders again adds nothing
            again = notifications_record(
                [NotificationInput(m.pk, "class_reminder", k, {}) for m, k in zip(members, keys)], send=False
            )
            assert again == set()
            return list(Notification.objects.order_by("pk").values_list("pk", flat=True))

    ids = committed(arrange)

    def send() -> dict[str, int]:
        with tenant_context(Gym.objects.get(pk=race_gym.pk)):
            return notifications_send(ids, now=at(12)).as_dict()

    outcomes = run_in_threads([send, send])
    assert all("error" not in o for o in outcomes), outcomes
    assert sum(o["value"]["sent"] for o in outcomes) == 6
    assert sum(o["value"]["skipped"] for o in outcomes) == 6
    assert len(mail.outbox) == 6 and len({e.to[0] for e in mail.outbox}) == 6


def test_one_gyms_sweep_never_sends_anothers_notifications(gym: Gym, gym_b: Gym) -> None:
    with tenant_context(gym_b):
        theirs = record(member(), "booking_confirmed")
        Notification.objects.filter(pk=theirs.pk).update(created_at=at(9))
    mine = record(member(), "booking_confirmed")
    Notification.objects.filter(pk=mine.pk).update(created_at=at(9))

    result = notifications_sweep_task.apply(args=[gym.pk]).get()

    assert result["sent"] == 1
    assert Notification.objects.get(pk=mine.pk).status == "sent"
    with tenant_context(gym_b):
        assert Notification.objects.get(pk=theirs.pk).status == "pending"
    assert [e.to for e in mail.outbox] == [[mine.member.email]]


def test_sending_a_batch_takes_the_same_statements_for_5_or_20_reminders(gym: Gym) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def batch(n: int) -> list[int]:
        ids = []
        for _ in range(n):
            starts = at(15)
            data = {"class_name": "Yoga", "starts_at": starts.isoformat(), "ends_at": at(16).isoformat()}
            ids.append(record(member(), "class_reminder", booking_id=1, **data).pk)
        return ids

    notifications_send(batch(1), now=at(12))  # the gym's settings row is made on first use
    few, many = batch(5), batch(20)
    with CaptureQueriesContext(connection) as small:
        assert notifications_send(few, now=at(12)).sent == 5
    with CaptureQueriesContext(connection) as large:
        assert notifications_send(many, now=at(12)).sent == 20
    # the claim, the notifications with members and preferences, devices, the gym's
    # domains and settings, and the outcomes: no statement per message
    assert len(large.captured_queries) == len(small.captured_queries) <= 8, [q["sql"][:60] for q in large]
    assert len(mail.outbox) == 26
