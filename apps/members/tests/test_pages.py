"""The members pages: list, detail with tabs, create and edit forms, bulk actions.
Roles, bad input, the medical-notes rule, cross-gym isolation and the list's query count."""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable

import pytest
from django.test import Client
from django_tenants.utils import tenant_context

from apps.accounts.tests.factories import UserFactory
from apps.conftest import host_of
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.tests.factories import PlanFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

STAFF = [Role.OWNER, Role.MANAGER, Role.TRAINER, Role.RECEPTIONIST]
MEDICAL = "Asthma: inhaler in locker 12"
# Ids far beyond any sequence value the test gyms reach: a gym B row with this id has
# no namesake in gym A, so a 404 there can only come from the schema boundary.
FOREIGN_ID = itertools.count(900_000_001)


@pytest.fixture
def login(gym_a: Gym, make_staff) -> Callable[..., Client]:
    """`login(role)` -> a client on gym A's host, logged in as a new user with `role`."""

    def make(role: Role = Role.OWNER, gym: Gym | None = None) -> Client:
        gym = gym or gym_a
        client = Client(HTTP_HOST=host_of(gym))
        client.force_login(make_staff(gym, role))
        return client

    return make


@pytest.fixture
def member(gym_a: Gym) -> Member:
    with tenant_context(gym_a):
        return MemberFactory(first_name="Thandi", last_name="Nkosi", medical_notes=MEDICAL, tags=["student"])


# --- access -----------------------------------------------------------------------------


def _member_pages(member_id: int) -> list[str]:
    return ["/members/", "/members/new/", f"/members/{member_id}/", f"/members/{member_id}/edit/"]


def test_anonymous_visitors_are_sent_to_login(client_a: Client, member: Member) -> None:
    for url in [
        *_member_pages(member.pk),
        "/members/import/",
        "/members/export/",
        f"/members/{member.pk}/data/",
        f"/members/{member.pk}/erase/",
    ]:
        response = client_a.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


@pytest.mark.parametrize("role", STAFF)
def test_every_staff_role_opens_the_member_pages(login, member: Member, role: Role) -> None:
    client = login(role)
    for url in _member_pages(member.pk):
        assert client.get(url).status_code == 200, (role, url)
    for tab in ["profile", "memberships", "bookings", "checkins", "invoices", "notifications"]:
        assert client.get(f"/members/{member.pk}/?tab={tab}").status_code == 200, (role, tab)


def test_a_member_login_and_other_gyms_staff_are_refused(gym_a: Gym, gym_b: Gym, make_staff, member: Member) -> None:
    member_user = UserFactory()
    with tenant_context(gym_a):
        MemberFactory(user=member_user)
    as_member = Client(HTTP_HOST=host_of(gym_a))
    as_member.force_login(member_user)
    outsider = Client(HTTP_HOST=host_of(gym_a))
    outsider.force_login(make_staff(gym_b, Role.OWNER))

    for client in (as_member, outsider):
        for url in [*_member_pages(member.pk), "/members/import/", f"/members/{member.pk}/erase/"]:
            assert client.get(url).status_code == 403, url
        assert client.post("/members/bulk-tag/", {"ids": [member.pk], "tag": "x"}).status_code == 403


@pytest.mark.parametrize("role", [Role.TRAINER, Role.RECEPTIONIST])
def test_import_and_gdpr_pages_are_for_managers_and_owners(login, member: Member, role: Role) -> None:
    client = login(role)
    for url in ["/members/import/", f"/members/{member.pk}/data/", f"/members/{member.pk}/erase/"]:
        assert client.get(url).status_code == 403, (role, url)
    assert client.post(f"/members/{member.pk}/erase/", {"reason": "x", "confirm": "Thandi Nkosi"}).status_code == 403
    for allowed in (Role.OWNER, Role.MANAGER):
        assert login(allowed).get("/members/import/").status_code == 200


def test_sidebar_links_to_members_and_plans(login) -> None:
    page = login(Role.RECEPTIONIST).get("/members/").content.decode()
    assert 'href="/members/" aria-current="page">Members</a>' in page
    assert 'href="/plans/"' in page


# --- the list -----------------------------------------------------------------------


def _names(response) -> list[str]:
    import re

    return re.findall(r'<a href="/members/\d+/">([^<]+)</a>', response.content.decode())


def test_search_over_name_email_and_phone(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        MemberFactory(first_name="Ayanda", last_name="Zulu", email="ayanda@example.test", phone="+27821110000")
        MemberFactory(first_name="Ben", last_name="Smith", email="bsmith@example.test", phone="+27829990000")
    client = login(Role.RECEPTIONIST)

    assert _names(client.get("/members/", {"q": "ayan"})) == ["Ayanda Zulu"]
    assert _names(client.get("/members/", {"q": "BSMITH@"})) == ["Ben Smith"]
    assert _names(client.get("/members/", {"q": "999"})) == ["Ben Smith"]
    assert _names(client.get("/members/", {"q": "nobody-like-this"})) == []
    assert "No members match" in client.get("/members/", {"q": "nobody-like-this"}).content.decode()


def test_search_with_htmx_returns_only_the_results(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        MemberFactory(first_name="Ayanda", last_name="Zulu")
    response = login().get("/members/", {"q": "Ayanda"}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and 'id="member-filters"' not in body
    assert _names(response) == ["Ayanda Zulu"]
    assert "HX-Request" in response["Vary"]
    # htmx's history restore asks for the full page.
    restore = login().get("/members/", {"q": "Ayanda"}, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in restore.content.decode()


def test_filters_by_status_plan_and_tag(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        gold = PlanFactory(name="Gold")
        silver = PlanFactory(name="Silver")
        a = MemberFactory(first_name="Amy", last_name="A", tags=["morning"])
        b = MemberFactory(first_name="Bob", last_name="B", status=Member.Status.INACTIVE)
        c = MemberFactory(first_name="Cat", last_name="C", tags=["morning", "student"])
        MembershipFactory(member=a, plan=gold)
        MembershipFactory(member=b, plan=gold, status=Membership.Status.CANCELLED)
        MembershipFactory(member=c, plan=silver, status=Membership.Status.FROZEN)
    client = login()

    assert _names(client.get("/members/", {"status": "inactive"})) == ["Bob B"]
    assert _names(client.get("/members/", {"plan": gold.pk})) == ["Amy A"]
    assert _names(client.get("/members/", {"plan": silver.pk})) == ["Cat C"]
    assert _names(client.get("/members/", {"tag": "Morning"})) == ["Amy A", "Cat C"]
    assert _names(client.get("/members/", {"tag": "morning", "q": "cat"})) == ["Cat C"]
    # Junk filter values are ignored rather than failing the page.
    assert client.get("/members/", {"plan": "abc", "status": "nope", "sort": "evil"}).status_code == 200


def test_sorting_by_column(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        MemberFactory(first_name="Old", last_name="Zed", joined_on=datetime.date(2020, 1, 1))
        MemberFactory(first_name="New", last_name="Abe", joined_on=datetime.date(2026, 1, 1))
    client = login()

    assert _names(client.get("/members/")) == ["New Abe", "Old Zed"]
    assert _names(client.get("/members/", {"sort": "-name"})) == ["Old Zed", "New Abe"]
    assert _names(client.get("/members/", {"sort": "joined"})) == ["Old Zed", "New Abe"]
    page = client.get("/members/", {"sort": "name"}).content.decode()
    assert 'aria-sort="ascending"' in page and "sort=-name" in page


def test_pages_of_fifty_with_links_that_keep_the_filters(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        Member.objects.bulk_create(
            [Member(first_name=f"Member{i:03d}", last_name="Page", tags=["bulk"]) for i in range(120)]
        )
    client = login()

    first = client.get("/members/", {"tag": "bulk", "sort": "name"})
    assert len(_names(first)) == 50
    assert "Page 1 of 3" in first.content.decode()
    assert "tag=bulk&amp;sort=name&amp;page=2" in first.content.decode()
    last = client.get("/members/", {"tag": "bulk", "sort": "name", "page": 3})
    assert len(_names(last)) == 20
    assert client.get("/members/", {"page": 99}).status_code == 200  # clamps to the last page


def test_list_runs_a_constant_number_of_queries_with_1000_members(
    login, gym_a: Gym, django_assert_max_num_queries
) -> None:
    with tenant_context(gym_a):
        plans = [PlanFactory(name=f"Plan {i}") for i in range(3)]
        members = Member.objects.bulk_create(
            [
                Member(first_name=f"First{i}", last_name=f"Last{i:04d}", email=f"m{i}@example.test", tags=["t"])
                for i in range(1000)
            ]
        )
        Membership.objects.bulk_create(
            [
                Membership(
                    member=m,
                    plan=plans[i % 3],
                    start_date=datetime.date(2026, 1, 1),
                    price=plans[i % 3].price,
                    billing_period="monthly",
                )
                for i, m in enumerate(members)
            ]
        )
    client = login(Role.RECEPTIONIST)
    client.get("/members/")  # warm up the session and content types

    # At most 9 queries (the gym's domain, session, user, staff role, count, page,
    # prefetched current memberships with plans, the plan filter's options, the chosen
    # plan) plus django-tenants' `SET search_path`s, whatever the number of members.
    for params in [{}, {"page": 7}, {"plan": plans[0].pk, "sort": "-joined"}, {"q": "last00", "tag": "t"}]:
        with django_assert_max_num_queries(18) as captured:
            response = client.get("/members/", params)
        assert response.status_code == 200
        real = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]
        assert len(real) <= 9, real
    assert len(_names(client.get("/members/", {"page": 7}))) == 50


def test_bulk_tag_adds_a_tag_to_the_checked_members(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        a, b, c = MemberFactory(tags=["x"]), MemberFactory(), MemberFactory()
    client = login(Role.RECEPTIONIST)

    response = client.post("/members/bulk-tag/", {"ids": [a.pk, b.pk], "tag": " VIP ", "query": "q=&status=active"})

    assert response.status_code == 302
    assert response["Location"] == "/members/?status=active"
    with tenant_context(gym_a):
        assert Member.objects.get(pk=a.pk).tags == ["x", "vip"]
        assert Member.objects.get(pk=b.pk).tags == ["vip"]
        assert Member.objects.get(pk=c.pk).tags == []
    assert "Tagged 2 members" in client.get("/members/").content.decode()


def test_bulk_tag_without_a_selection_or_tag_changes_nothing(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        a = MemberFactory()
    client = login()

    client.post("/members/bulk-tag/", {"tag": "vip"})
    assert "Select at least one member" in client.get("/members/").content.decode()
    client.post("/members/bulk-tag/", {"ids": [a.pk], "tag": "  "})
    client.post("/members/bulk-tag/", {"ids": ["abc"], "tag": "vip"})
    with tenant_context(gym_a):
        assert Member.objects.get(pk=a.pk).tags == []


# --- create and edit ----------------------------------------------------------------------


def _profile(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "first_name": "Lerato",
        "last_name": "Mokoena",
        "email": "Lerato@Example.test",
        "phone": "+27 82 555 0101",
        "date_of_birth": "1994-05-17",
        "gender": "female",
        "address": "12 Long Street",
        "emergency_contact_name": "Sipho",
        "emergency_contact_phone": "+27825550102",
        "tags": "student, Morning ,student",
        "source": "referral",
        "status": "active",
        "joined_on": "2026-02-01",
        "staff_notes": "Prefers evenings",
    }
    data.update(overrides)
    return data


def test_create_a_member(login, gym_a: Gym) -> None:
    response = login(Role.RECEPTIONIST).post("/members/new/", _profile())

    with tenant_context(gym_a):
        created = Member.objects.get(email="lerato@example.test")
    assert response.status_code == 302
    assert response["Location"] == f"/members/{created.pk}/"
    assert created.full_name == "Lerato Mokoena"
    assert str(created.phone) == "+27825550101"
    assert created.tags == ["student", "morning"]
    assert created.date_of_birth == datetime.date(1994, 5, 17)
    assert created.source == "referral"


def test_local_phone_numbers_are_read_in_the_gyms_country(login, gym_a: Gym) -> None:
    Gym.objects.filter(pk=gym_a.pk).update(country="ZA")

    response = login().post("/members/new/", _profile(phone="082 555 0199", emergency_contact_phone="0825550198"))

    assert response.status_code == 302
    with tenant_context(gym_a):
        created = Member.objects.get(email="lerato@example.test")
    assert (str(created.phone), str(created.emergency_contact_phone)) == ("+27825550199", "+27825550198")


def test_bad_input_shows_field_errors_with_400_and_saves_nothing(login, gym_a: Gym) -> None:
    bad = _profile(first_name="", email="not-an-email", phone="12", date_of_birth="17/05/1994x", joined_on="")

    response = login().post("/members/new/", bad)

    body = response.content.decode()
    assert response.status_code == 400
    form = response.context["form"]
    assert set(form.errors) == {"first_name", "email", "phone", "date_of_birth", "joined_on"}
    assert 'id="id_email_errors"' in body
    assert 'value="not-an-email"' in body and "12 Long Street" in body  # what was typed is kept
    with tenant_context(gym_a):
        assert not Member.objects.exists()


def test_a_taken_email_is_a_field_error(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        MemberFactory(email="lerato@example.test")

    response = login().post("/members/new/", _profile(email="LERATO@example.test"))

    assert response.status_code == 400
    assert "already uses this email" in response.context["form"].errors["email"][0]
    with tenant_context(gym_a):
        assert Member.objects.count() == 1


def test_the_forms_work_without_javascript(login, member: Member) -> None:
    page = login().get(f"/members/{member.pk}/edit/").content.decode()
    assert '<form method="post"' in page and "hx-post" not in page
    assert 'value="Thandi"' in page and 'value="student"' in page


def test_edit_a_member(login, gym_a: Gym, member: Member) -> None:
    client = login(Role.TRAINER)

    response = client.post(f"/members/{member.pk}/edit/", _profile(first_name="Thandiwe", medical_notes="None"))

    assert response.status_code == 302
    with tenant_context(gym_a):
        member.refresh_from_db()
    assert (member.first_name, member.email, member.medical_notes) == ("Thandiwe", "lerato@example.test", "None")
    assert "Profile saved." in client.get(f"/members/{member.pk}/").content.decode()


def test_edit_with_bad_input_changes_nothing(login, gym_a: Gym, member: Member) -> None:
    response = login().post(f"/members/{member.pk}/edit/", _profile(email="bad@", first_name=""))

    assert response.status_code == 400
    with tenant_context(gym_a):
        member.refresh_from_db()
    assert member.first_name == "Thandi"


def test_an_erased_member_cannot_be_edited(login, gym_a: Gym, member: Member) -> None:
    with tenant_context(gym_a):
        Member.objects.filter(pk=member.pk).update(status=Member.Status.ERASED)
    client = login()

    assert client.get(f"/members/{member.pk}/edit/").status_code == 302
    client.post(f"/members/{member.pk}/edit/", _profile())
    with tenant_context(gym_a):
        assert Member.objects.get(pk=member.pk).first_name == "Thandi"


# --- medical notes --------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.MANAGER, Role.TRAINER])
def test_owner_manager_and_trainer_see_and_edit_medical_notes(login, member: Member, role: Role) -> None:
    client = login(role)
    assert MEDICAL in client.get(f"/members/{member.pk}/").content.decode()
    edit = client.get(f"/members/{member.pk}/edit/").content.decode()
    assert 'name="medical_notes"' in edit and MEDICAL in edit
    assert 'name="medical_notes"' in client.get("/members/new/").content.decode()


def test_a_receptionist_never_sees_medical_notes(login, member: Member) -> None:
    client = login(Role.RECEPTIONIST)
    for url in [f"/members/{member.pk}/", f"/members/{member.pk}/?tab=profile", f"/members/{member.pk}/edit/"]:
        page = client.get(url).content.decode()
        assert MEDICAL not in page, url
        assert "Medical notes" not in page and "medical_notes" not in page, url
    assert "medical_notes" not in client.get("/members/new/").content.decode()
    partial = client.get(f"/members/{member.pk}/", {"tab": "profile"}, HTTP_HX_REQUEST="true").content.decode()
    assert MEDICAL not in partial


def test_a_receptionist_cannot_set_medical_notes_by_posting_them(login, gym_a: Gym, member: Member) -> None:
    client = login(Role.RECEPTIONIST)

    client.post(f"/members/{member.pk}/edit/", _profile(medical_notes="overwritten"))
    created = client.post("/members/new/", _profile(email="new@example.test", medical_notes="smuggled"))

    assert created.status_code == 302
    with tenant_context(gym_a):
        member.refresh_from_db()
        assert member.medical_notes == MEDICAL  # kept, not cleared or overwritten
        assert member.first_name == "Lerato"  # the rest of the edit was saved
        assert Member.objects.get(email="new@example.test").medical_notes == ""


# --- detail page ------------------------------------------------------------------------------


def test_detail_tabs_swap_with_htmx_and_keep_hrefs(login, member: Member) -> None:
    client = login()
    full = client.get(f"/members/{member.pk}/").content.decode()
    assert 'href="?tab=memberships" hx-get="?tab=memberships"' in full
    assert "Thandi Nkosi" in full and "<html" in full

    partial = client.get(f"/members/{member.pk}/", {"tab": "bookings"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial
    assert "credit ledger" in partial.lower()
    assert (
        'href="?tab=bookings" hx-get="?tab=bookings" hx-target="#member-tabs" hx-push-url="true" aria-current="page"'
        in partial
    )
    checkins = client.get(f"/members/{member.pk}/", {"tab": "checkins"}).content.decode()
    assert "no check-ins yet" in checkins.lower()
    invoices = client.get(f"/members/{member.pk}/", {"tab": "invoices"}).content.decode()
    assert "no invoices yet" in invoices.lower()
    assert client.get(f"/members/{member.pk}/", {"tab": "nonsense"}).status_code == 200


def test_membership_history_tab_lists_memberships_with_freezes_and_events(login, gym_a: Gym, member: Member) -> None:
    from apps.memberships.models import Freeze, MembershipEvent

    owner_client = login()
    with tenant_context(gym_a):
        plan = PlanFactory(name="Monthly Gold")
        ms = MembershipFactory(member=member, plan=plan, end_date=datetime.date(2026, 6, 30))
        Freeze.objects.create(
            membership=ms, start_date=datetime.date(2026, 3, 1), end_date=datetime.date(2026, 3, 10), reason="Knee"
        )
        MembershipEvent.objects.create(membership=ms, kind=MembershipEvent.Kind.FROZEN, reason="Knee surgery")
        MembershipFactory(member=member, plan=PlanFactory(name="Old plan"), status=Membership.Status.EXPIRED)

    page = owner_client.get(f"/members/{member.pk}/", {"tab": "memberships"}).content.decode()

    assert "Monthly Gold" in page and "Old plan" in page
    assert "30 Jun 2026" in page and "1 Mar 2026" in page and "Knee surgery" in page
    assert f"/memberships/{ms.pk}/freeze/" in page and f"/memberships/{ms.pk}/cancel/" in page
    # A receptionist gets the actions front desks do, not the money-changing ones.
    desk = login(Role.RECEPTIONIST).get(f"/members/{member.pk}/", {"tab": "memberships"}).content.decode()
    assert f"/memberships/{ms.pk}/freeze/" in desk
    assert f"/memberships/{ms.pk}/cancel/" not in desk and f"/memberships/{ms.pk}/change-plan/" not in desk


# --- cross-gym isolation -----------------------------------------------------------------------


def test_gym_a_staff_get_404_for_gym_b_members_on_every_page(login, gym_a: Gym, gym_b: Gym) -> None:
    with tenant_context(gym_b):
        foreign = MemberFactory(id=next(FOREIGN_ID), first_name="Bongani", medical_notes="secret", tags=[])
    client = login(Role.OWNER)

    for url in [
        f"/members/{foreign.pk}/",
        f"/members/{foreign.pk}/?tab=memberships",
        f"/members/{foreign.pk}/?tab=checkins",
        f"/members/{foreign.pk}/edit/",
        f"/members/{foreign.pk}/data/",
        f"/members/{foreign.pk}/erase/",
        f"/memberships/assign/{foreign.pk}/",
    ]:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/members/{foreign.pk}/edit/", _profile()).status_code == 404
    assert client.post(f"/members/{foreign.pk}/erase/", {"reason": "x", "confirm": "Bongani"}).status_code == 404
    client.post("/members/bulk-tag/", {"ids": [foreign.pk], "tag": "hacked"})
    assert _names(client.get("/members/", {"q": "Bongani"})) == []
    with tenant_context(gym_b):
        foreign.refresh_from_db()
    assert (foreign.first_name, foreign.tags, foreign.status) == ("Bongani", [], Member.Status.ACTIVE)


def test_checkins_tab_lists_visits_newest_first_in_few_queries(
    login, gym_a: Gym, django_assert_max_num_queries
) -> None:
    # given a member with 30 past visits (some for a class) and one open now
    from django.utils import timezone as tz

    from apps.checkins.services import checkin_check_out, checkin_create
    from apps.checkins.tests.factories import active_member

    with tenant_context(gym_a):
        member = active_member().member
        start = tz.now() - datetime.timedelta(days=40)
        for day in range(30):
            at = start + datetime.timedelta(days=day, hours=1)
            visit = checkin_create(member=member, now=at).check_in
            checkin_check_out(check_in=visit, now=at + datetime.timedelta(minutes=70))
        open_now = checkin_create(member=member).check_in
    client = login(Role.RECEPTIONIST)
    # when the desk opens the Check-ins tab
    with django_assert_max_num_queries(16):
        response = client.get(f"/members/{member.pk}/", {"tab": "checkins"}, HTTP_HX_REQUEST="true")
    # then every visit is listed, the open one first, and the last-30-days count is right
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('id="check-in-') == 31
    assert page.index('id="check-in-') == page.index(f'id="check-in-{open_now.pk}"')
    assert "In the gym now" in page
    with tenant_context(gym_a):
        expected = member.check_ins.filter(checked_in_at__gte=tz.now() - datetime.timedelta(days=30)).count()
    assert f"<strong>{expected}</strong> visit" in page
