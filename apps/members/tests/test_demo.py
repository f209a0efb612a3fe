"""The demo gym's data: realistic members, the six usual plans, memberships in every status."""

import pytest
from django_tenants.utils import tenant_context

from apps.members.demo import demo_members_seed
from apps.members.models import Member
from apps.memberships.models import Freeze, Membership
from apps.plans.models import Plan
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def test_demo_seed_has_members_plans_and_every_membership_status(gym_a: Gym, gym_b: Gym) -> None:
    with tenant_context(gym_a):
        created = demo_members_seed(count=300)
        again = demo_members_seed(count=300)

        assert created == 300 and again == 0  # idempotent
        assert Member.objects.count() == 300
        assert len(set(Member.objects.values_list("email", flat=True))) == 300
        assert set(Plan.objects.values_list("kind", flat=True)) == {"class_pack", "one_off", "recurring"}
        assert Plan.objects.count() == 6
        statuses = set(Membership.objects.values_list("status", flat=True))
        assert statuses == {s.value for s in Membership.Status}
        assert Freeze.objects.count() == Membership.objects.filter(status="frozen").count() > 0
        assert Member.objects.filter(status="inactive").exists()
        assert all(m.phone.is_valid() for m in Member.objects.all()[:50])
    with tenant_context(gym_b):
        assert Member.objects.count() == 0
