"""CSV export of members: columns, medical notes only when allowed, constant queries, round trip."""

import csv
import datetime
import io

import pytest
from django_tenants.utils import tenant_context

from apps.members.exports import HEADERS, MEDICAL_HEADER, member_export_csv
from apps.members.imports import member_import_commit, member_import_preview
from apps.members.models import Member
from apps.members.selectors import member_list
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Membership
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.tests.factories import PlanFactory


def parse(lines) -> list[dict[str, str]]:
    text = "".join(lines)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def statements(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]


@pytest.fixture
def in_gym_a(gym_a):
    with tenant_context(gym_a):
        yield gym_a


@pytest.fixture
def ann(in_gym_a) -> Member:
    member = MemberFactory(
        first_name="Ann",
        last_name="Lee",
        email="ann@example.com",
        phone="+27825550101",
        date_of_birth=datetime.date(1990, 3, 5),
        gender=Member.Gender.FEMALE,
        address="1 Long St, Cape Town",
        emergency_contact_name="Bo Lee",
        emergency_contact_phone="+27835550102",
        tags=["morning", "yoga"],
        joined_on=datetime.date(2024, 2, 1),
        medical_notes="Asthma",
        staff_notes="VIP",
    )
    MembershipFactory(member=member, plan=PlanFactory(name="Monthly Unlimited"), status=Membership.Status.FROZEN)
    MembershipFactory(member=member, plan=PlanFactory(name="Old plan"), status=Membership.Status.EXPIRED)
    return member


def test_columns_and_values(ann):
    rows = parse(member_export_csv(members=member_list(), include_medical=True))
    assert list(rows[0]) == [*HEADERS, MEDICAL_HEADER]
    assert rows == [
        {
            "Member ID": str(ann.pk),
            "First Name": "Ann",
            "Last Name": "Lee",
            "Email": "ann@example.com",
            "Phone": "+27825550101",
            "Date of Birth": "1990-03-05",
            "Gender": "Female",
            "Address": "1 Long St, Cape Town",
            "Emergency Contact": "Bo Lee",
            "Emergency Phone": "+27835550102",
            "Tags": "morning;yoga",
            "Source": "Walk-in",
            "Status": "Active",
            "Join Date": "2024-02-01",
            "Current Plan": "Monthly Unlimited",
            "Membership Status": "Frozen",
            "Staff Notes": "VIP",
            "Medical Notes": "Asthma",
        }
    ]


def test_no_medical_notes_without_permission(ann):
    lines = list(member_export_csv(members=member_list(), include_medical=False))
    rows = parse(lines)
    assert MEDICAL_HEADER not in rows[0]
    assert list(rows[0]) == HEADERS
    assert "Asthma" not in "".join(lines)


def test_member_without_membership_or_optional_fields(in_gym_a):
    MemberFactory(first_name="Bo", last_name="", email="", phone="")
    (row,) = parse(member_export_csv(members=member_list(), include_medical=False))
    assert (row["Email"], row["Phone"], row["Date of Birth"], row["Current Plan"], row["Membership Status"]) == (
        "",
        "",
        "",
        "",
        "",
    )


def test_formula_cells_are_escaped(in_gym_a):
    MemberFactory(first_name='=HYPERLINK("http://evil")', last_name="+1", staff_notes="@sum")
    (row,) = parse(member_export_csv(members=member_list(), include_medical=False))
    assert (row["First Name"], row["Last Name"], row["Staff Notes"]) == ('\'=HYPERLINK("http://evil")', "'+1", "'@sum")


def test_selection_keeps_the_callers_filter_and_order(in_gym_a):
    a, _, c = (MemberFactory(last_name=name) for name in ("Alpha", "Bravo", "Charlie"))
    members = member_list(sort="-name").filter(pk__in=[a.pk, c.pk])
    rows = parse(member_export_csv(members=members, include_medical=False))
    assert [r["Last Name"] for r in rows] == ["Charlie", "Alpha"]


def test_queryset_without_the_prefetch_still_makes_no_per_row_queries(in_gym_a, django_assert_max_num_queries):
    plan = PlanFactory()
    for _ in range(20):
        MembershipFactory(plan=plan)
    with django_assert_max_num_queries(6) as captured:
        rows = parse(member_export_csv(members=Member.objects.order_by("pk"), include_medical=False))
    assert len(rows) == 20
    assert all(r["Current Plan"] == plan.name for r in rows)
    assert len(statements(captured)) == 2


def test_query_count_is_constant_for_200_members(in_gym_a, django_assert_max_num_queries):
    plans = [PlanFactory() for _ in range(3)]
    for i in range(200):
        MembershipFactory(member=MemberFactory(tags=["a", "b"]), plan=plans[i % 3])
    with django_assert_max_num_queries(6) as captured:
        rows = parse(member_export_csv(members=member_list(), include_medical=True))
    assert len(rows) == 200
    assert len(statements(captured)) == 2  # members, their current memberships with plans


def test_streams_in_the_gym_it_was_called_in(gym_a, gym_b):
    with tenant_context(gym_a):
        MemberFactory(first_name="OnlyInA")
        lines = member_export_csv(members=member_list(), include_medical=False)
    with tenant_context(gym_b):
        MemberFactory(first_name="OnlyInB")
        text = "".join(lines)  # consumed while gym B is current
    assert "OnlyInA" in text
    assert "OnlyInB" not in text


def test_export_of_one_gym_imports_into_another(ann, gym_b):
    MemberFactory(first_name="Bo", last_name="Ray", email="", phone="", tags=[])
    data = "".join(member_export_csv(members=member_list(), include_medical=True))
    with tenant_context(gym_b):
        preview = member_import_preview(data=data, region="ZA")
        assert preview.errors == []
        assert preview.ignored_headers == ["Member ID", "Source", "Current Plan", "Membership Status"]
        member_import_commit(data=data, region="ZA")
        copy = Member.objects.get(email="ann@example.com")
        assert Member.objects.count() == 2
    fields = ["first_name", "last_name", "phone", "date_of_birth", "gender", "address", "emergency_contact_name"]
    fields += ["emergency_contact_phone", "tags", "status", "joined_on", "staff_notes", "medical_notes"]
    assert {f: getattr(copy, f) for f in fields} == {f: getattr(ann, f) for f in fields}
