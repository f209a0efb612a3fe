"""The demo gym's notification log: what the other demo seeds recorded is history
(delivered when recorded, never sent again), plus SMS, push, opted-out and failed rows;
idempotent, and gym B untouched."""

from __future__ import annotations

from collections import Counter

import pytest
from django.core import mail
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.classes.demo import demo_timetable_seed
from apps.members.demo import demo_members_seed
from apps.members.models import Member
from apps.staff.roles import Role
from apps.tenants.dispatch import gym_tzinfo
from apps.tenants.models import Gym

from ..demo import demo_notifications_seed
from ..models import Channel, Device, MessagingSettings, Notification, NotificationPreference
from ..services import notification_record, notifications_due, notifications_send

pytestmark = pytest.mark.django_db


def test_demo_log_is_history_with_every_outcome_and_sends_nothing(gym_a: Gym, gym_b: Gym, make_staff) -> None:
    trainer = make_staff(gym_a, Role.TRAINER)
    with tenant_context(gym_b):
        before_b = Notification.objects.count()
    with tenant_context(gym_a), timezone.override(gym_tzinfo(gym_a)):
        demo_members_seed(count=120)
        demo_timetable_seed(instructors=[trainer])
        # as the billing replay and services record them while seeding
        for m in Member.objects.order_by("pk")[:25]:
            notification_record(member=m, kind="payment_received", idempotency_key=f"payment_received:demo:{m.pk}")
        recorded = Notification.objects.filter(status="pending").count()
        assert recorded >= 25

        made = demo_notifications_seed()

        assert made >= recorded
        assert not Notification.objects.filter(status__in=["pending", "sending"]).exists()
        statuses = Counter(Notification.objects.values_list("status", flat=True))
        assert statuses["sent"] >= recorded - statuses["suppressed"] and statuses["failed"] == 1
        channels = set(Notification.objects.filter(status="sent").values_list("channel", flat=True))
        assert {Channel.EMAIL, Channel.SMS, Channel.PUSH} <= channels
        emailed = Notification.objects.filter(channel="email", status="sent").first()
        assert emailed.sent_at == emailed.created_at and emailed.recipient == emailed.member.email
        assert NotificationPreference.objects.filter(sms_opted_out_at__isnull=False).count() == 1
        assert Device.objects.count() >= 1
        assert MessagingSettings.objects.get().sender_name == "Demo Fitness Studio"
        # nothing is due to go out, so a worker starting now sends nothing old
        assert notifications_send(notifications_due()).sent == 0 and not mail.outbox
        # a second run changes nothing
        assert demo_notifications_seed() == 0
    with tenant_context(gym_b):
        assert Notification.objects.count() == before_b
