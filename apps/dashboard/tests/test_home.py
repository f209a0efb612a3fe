"""The dashboard home shows this gym's own counts."""

import datetime
import zoneinfo
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.bookings.models import Booking
from apps.checkins.services import checkin_check_out, checkin_create
from apps.checkins.tests.factories import active_member
from apps.classes.models import ClassSession
from apps.classes.tests.factories import ClassSessionFactory, GymClassFactory
from apps.memberships.models import Membership
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.models import Plan
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db


def test_home_counts_members_and_memberships_of_this_gym_only(
    gym_a: Gym, gym_b: Gym, make_staff, client_a: Client
) -> None:
    with tenant_context(gym_a):
        MembershipFactory.create_batch(3)
        MembershipFactory(status=Membership.Status.FROZEN)
    with tenant_context(gym_b):
        MembershipFactory.create_batch(5)
    client_a.force_login(make_staff(gym_a, Role.RECEPTIONIST))

    response = client_a.get("/")

    assert response.status_code == 200
    assert response.context["members_count"] == 4
    assert response.context["membership_counts"]["active"] == 3
    assert response.context["membership_counts"]["frozen"] == 1
    assert b"3 active memberships" in response.content


def test_home_shows_who_is_in_the_gym_now_with_a_link_to_the_desk(
    gym_a: Gym, gym_b: Gym, make_staff, client_a: Client, django_assert_max_num_queries
) -> None:
    # given three members in gym A now (one of them checked out) and five in gym B
    with tenant_context(gym_a):
        in_now = [checkin_create(member=active_member().member, now=timezone.now()) for _ in range(3)]
        checkin_check_out(check_in=in_now[0].check_in)
    with tenant_context(gym_b):
        for _ in range(5):
            checkin_create(member=active_member().member, now=timezone.now())
    Gym.objects.filter(pk=gym_a.pk).update(occupancy_capacity=40)
    client_a.force_login(make_staff(gym_a, Role.RECEPTIONIST))
    client_a.get("/")

    # when the desk opens the dashboard
    with django_assert_max_num_queries(20):
        response = client_a.get("/")

    # then gym A's own count, against its capacity, linking to the check-in desk
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["occupancy"].count == 2 and response.context["occupancy"].capacity == 40
    assert "2 in the gym now" in html and "5% of 40" in html
    assert f'href="{reverse("checkins:desk")}"' in html


def test_home_warns_when_the_gym_is_nearly_full(gym_a: Gym, make_staff, client_a: Client) -> None:
    with tenant_context(gym_a):
        for _ in range(3):
            checkin_create(member=active_member().member, now=timezone.now())
    Gym.objects.filter(pk=gym_a.pk).update(occupancy_capacity=3)
    client_a.force_login(make_staff(gym_a, Role.OWNER))

    html = client_a.get("/").content.decode()

    assert "3 in the gym now" in html and "100% of 3" in html and "Full" in html


def test_home_shows_mrr_of_recurring_active_and_past_due_memberships_of_this_gym(
    gym_a: Gym, gym_b: Gym, make_staff, client_a: Client
) -> None:
    # given, in gym A: 600/month active, 600/month past due, 1,200/quarter, 5,200 every
    # 2 years, 150/week; a frozen one, a cancelled one and a pass (none counted); gym B's
    with tenant_context(gym_a):
        MembershipFactory(price=Decimal("600.00"))
        MembershipFactory(price=Decimal("600.00"), status=Membership.Status.PAST_DUE)
        MembershipFactory(plan=PlanFactory(billing_period=Plan.BillingPeriod.QUARTERLY, price=Decimal("1200.00")))
        MembershipFactory(
            plan=PlanFactory(billing_period=Plan.BillingPeriod.YEARLY, billing_interval=2, price=Decimal("5200.00"))
        )
        MembershipFactory(plan=PlanFactory(billing_period=Plan.BillingPeriod.WEEKLY, price=Decimal("150.00")))
        MembershipFactory(status=Membership.Status.FROZEN)
        MembershipFactory(status=Membership.Status.CANCELLED)
        MembershipFactory(plan=PlanFactory(kind=Plan.Kind.ONE_OFF, billing_period="", price=Decimal("900.00")))
    with tenant_context(gym_b):
        MembershipFactory(price=Decimal("9999.00"))
    client_a.force_login(make_staff(gym_a, Role.MANAGER))

    response = client_a.get("/")

    # then 600 + 600 + 400 + 216.67 + 650 = 2,466.67 in gym A's currency (GBP)
    expected = Decimal("600") * 2 + Decimal("1200") / 3 + Decimal("5200") / 24 + Decimal("150") * 52 / 12
    assert str(expected.quantize(Decimal("0.01"))) == "2466.67"
    assert response.context["mrr"] == "£2,466.67"
    assert 'id="mrr"' in response.content.decode() and "£2,466.67" in response.content.decode()


def test_home_hides_mrr_from_the_front_desk(gym_a: Gym, make_staff, client_a: Client) -> None:
    with tenant_context(gym_a):
        MembershipFactory(price=Decimal("600.00"))
    client_a.force_login(make_staff(gym_a, Role.RECEPTIONIST))

    html = client_a.get("/").content.decode()

    assert 'id="mrr"' not in html and "£600.00" not in html


def test_home_shows_todays_classes_with_bookings_against_capacity(
    gym_a: Gym, gym_b: Gym, make_staff, client_a: Client
) -> None:
    # given gym A, in a zone where it is now about noon (so "later today" is today
    # whenever the test runs), has two classes later today, one cancelled, one
    # tomorrow; gym B one today
    now = timezone.now()
    offset = (12 - now.hour + 12) % 24 - 12  # UTC+offset puts local noon near now
    zone = f"Etc/GMT{-offset:+d}" if offset else "UTC"  # POSIX sign: Etc/GMT-2 is UTC+2
    Gym.objects.filter(pk=gym_a.pk).update(timezone=zone)
    assert 11 <= now.astimezone(zoneinfo.ZoneInfo(zone)).hour <= 13
    later = [now + datetime.timedelta(minutes=m) for m in (2, 3, 4)]
    with tenant_context(gym_a):
        first = ClassSessionFactory(starts_at=later[0], gym_class=GymClassFactory(name="Sunrise Flow", capacity=10))
        ClassSessionFactory(starts_at=later[1], gym_class=GymClassFactory(capacity=12))
        ClassSessionFactory(starts_at=later[2], status=ClassSession.Status.CANCELLED)
        ClassSessionFactory(starts_at=now + datetime.timedelta(days=1, hours=1))
        for _ in range(3):
            Booking.objects.create(
                member=MembershipFactory().member, session=first, status=Booking.Status.CONFIRMED, confirmed_at=now
            )
    with tenant_context(gym_b):
        ClassSessionFactory(starts_at=later[0])
    client_a.force_login(make_staff(gym_a, Role.RECEPTIONIST))

    response = client_a.get("/")

    # then two classes, 3 booked of 22 spots, the next one named
    today = response.context["classes_today"]
    assert today["count"] == 2 and today["booked"] == 3 and today["capacity"] == 22
    assert today["next"].pk == first.pk
    html = response.content.decode()
    assert "3 booked of 22 spots" in html and "Next: Sunrise Flow" in html
