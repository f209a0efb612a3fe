"""Check-ins and member cards in the gym admin: owners and managers read them (a
changelist costs the same few queries however many rows), nobody edits or deletes
them, cards are revoked through the service, desk staff and other gyms are kept out."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.checkins.demo import demo_checkins_seed
from apps.checkins.models import CheckIn, MemberCard
from apps.classes.demo import demo_timetable_seed
from apps.members.demo import demo_members_seed
from apps.members.tests.factories import MemberFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

CHECK_INS = "/admin/checkins/checkin/"
CARDS = "/admin/checkins/membercard/"


@pytest.fixture
def history(gym_a: Gym, make_staff) -> Gym:
    """Gym A with the demo's members, timetable and six weeks of check-ins and cards."""
    instructors = [make_staff(gym_a, Role.TRAINER) for _ in range(2)]
    desk = make_staff(gym_a, Role.RECEPTIONIST)
    with tenant_context(gym_a):
        demo_members_seed(count=150)
        demo_timetable_seed(instructors=instructors)
        # Seeded up to 18:00 yesterday, so members are "in the gym now" whatever the
        # hour the suite runs (just after midnight nobody would be).
        evening = (timezone.now() - datetime.timedelta(days=1)).replace(hour=18, minute=0)
        demo_checkins_seed(gym=gym_a, desk=desk, now=evening)
    return gym_a


@pytest.fixture
def owner_client(gym_a: Gym, make_staff, client_a: Client) -> Client:
    client_a.force_login(make_staff(gym_a, Role.OWNER))
    return client_a


@pytest.mark.parametrize(
    "url",
    [
        CHECK_INS,
        f"{CHECK_INS}?checked_out_at__isempty=1",
        f"{CHECK_INS}?booking__isempty=0&method__exact=booking_qr",
        f"{CHECK_INS}?q=a",
        CARDS,
        f"{CARDS}?revoked_at__isempty=0",
    ],
)
def test_owner_opens_the_changelists_in_a_fixed_number_of_queries(
    history: Gym, owner_client: Client, url: str, django_assert_max_num_queries
) -> None:
    with tenant_context(history):
        assert CheckIn.objects.count() > 1000 and CheckIn.objects.filter(booking__isnull=False).exists()
        assert MemberCard.objects.count() > 10
    owner_client.get(url)

    # session, user, role, the page's rows with member, plan, class and staff joined,
    # the date hierarchy and filters; each after a SET search_path. Independent of rows.
    with django_assert_max_num_queries(20):
        response = owner_client.get(url)

    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert len(rows) > 0


def test_check_in_list_shows_member_plan_class_and_time_in(history: Gym, owner_client: Client) -> None:
    with tenant_context(history):
        booked = CheckIn.objects.filter(booking__isnull=False, checked_out_at__isnull=False).select_related(
            "member", "membership__plan", "booking__session__gym_class"
        )[0]
    assert booked.membership is not None and booked.booking is not None

    response = owner_client.get(CHECK_INS, {"q": booked.member.email})

    html = response.content.decode()
    assert booked.member.full_name in html and booked.membership.plan.name in html
    assert booked.booking.session.gym_class.name in html


def test_check_ins_and_cards_are_read_only(history: Gym, owner_client: Client) -> None:
    with tenant_context(history):
        check_in = CheckIn.objects.filter(checked_out_at__isnull=True).first()
        card = MemberCard.objects.first()
        assert check_in is not None and card is not None
        before = CheckIn.objects.values().get(pk=check_in.pk)

    page = owner_client.get(f"{CHECK_INS}{check_in.pk}/change/")
    assert page.status_code == 200 and 'name="checked_out_at"' not in page.content.decode()
    assert owner_client.post(f"{CHECK_INS}{check_in.pk}/change/", {"check_out_kind": "manual"}).status_code == 403
    assert owner_client.get(f"{CHECK_INS}add/").status_code == 403
    assert owner_client.get(f"{CHECK_INS}{check_in.pk}/delete/").status_code == 403
    assert owner_client.get(f"{CARDS}add/").status_code == 403
    assert owner_client.get(f"{CARDS}{card.pk}/delete/").status_code == 403
    bulk_delete = owner_client.post(CHECK_INS, {"action": "delete_selected", "_selected_action": [check_in.pk]})
    assert bulk_delete.status_code == 200  # "no action selected": there is no delete action
    with tenant_context(history):
        assert CheckIn.objects.values().get(pk=check_in.pk) == before


def test_revoke_action_goes_through_the_service(gym_a: Gym, make_staff, owner_client: Client) -> None:
    owner = owner_client.session["_auth_user_id"]
    with tenant_context(gym_a):
        live = MemberCard.objects.create(member=MemberFactory())
        other = MemberCard.objects.create(member=MemberFactory())

    response = owner_client.post(CARDS, {"action": "revoke", "_selected_action": [live.pk]})

    assert response.status_code == 302
    with tenant_context(gym_a):
        live.refresh_from_db()
        other.refresh_from_db()
    assert live.revoked_at is not None and str(live.revoked_by_id) == owner
    assert other.revoked_at is None


@pytest.mark.parametrize("role", [Role.RECEPTIONIST, Role.TRAINER])
def test_desk_staff_cannot_open_them(gym_a: Gym, make_staff, role: Role) -> None:
    client = Client(HTTP_HOST="gym-a.localhost")
    client.force_login(make_staff(gym_a, role))

    for url in (CHECK_INS, CARDS):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_gym_a_admin_cannot_see_gym_b_check_ins(gym_a: Gym, gym_b: Gym, owner_client: Client) -> None:
    with tenant_context(gym_b):
        theirs = CheckIn.objects.create(
            member=MemberFactory(first_name="Bongani"), method="search", checked_in_at="2026-03-02T09:00Z"
        )
        card = MemberCard.objects.create(member=theirs.member)

    assert owner_client.get(f"{CHECK_INS}{theirs.pk}/change/").status_code == 302
    assert b"Bongani" not in owner_client.get(CHECK_INS).content
    assert b"Bongani" not in owner_client.get(CARDS).content
    owner_client.post(CARDS, {"action": "revoke", "_selected_action": [card.pk]})
    with tenant_context(gym_b):
        assert MemberCard.objects.get(pk=card.pk).revoked_at is None
