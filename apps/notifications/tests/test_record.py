"""Notifications are recorded once per idempotency key, in the gym's own schema."""

import pytest
from django_tenants.utils import tenant_context

from apps.members.tests.factories import MemberFactory
from apps.notifications.models import Notification
from apps.notifications.services import notification_record
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def test_recorded_once_per_key_and_per_gym(gym_a: Gym, gym_b: Gym) -> None:
    with tenant_context(gym_a):
        member = MemberFactory()
        first = notification_record(member=member, kind="booking_confirmed", idempotency_key="booking_confirmed:1")
        again = notification_record(member=member, kind="booking_confirmed", idempotency_key="booking_confirmed:1")
        assert (first, again) == (True, False)
        assert Notification.objects.filter(idempotency_key="booking_confirmed:1").count() == 1
    with tenant_context(gym_b):
        assert not Notification.objects.exists()
