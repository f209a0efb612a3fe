"""GDPR / POPIA: the member data export and erasure."""

import datetime
import json
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django_tenants.utils import tenant_context

from apps.accounts.tests.factories import UserFactory
from apps.members.errors import MemberError
from apps.members.models import Member, MemberErasure
from apps.members.privacy import member_data_export, member_erase
from apps.members.tests.factories import MemberFactory
from apps.memberships.models import Freeze, Membership, MembershipEvent
from apps.memberships.tests.factories import MembershipFactory
from apps.plans.tests.factories import PlanFactory


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


@pytest.fixture
def in_gym_a(gym_a):
    with tenant_context(gym_a):
        yield gym_a


@pytest.fixture
def staff(make_staff, gym_a):
    return make_staff(gym_a)


@pytest.fixture
def ann(in_gym_a, staff, media) -> Member:
    login = UserFactory(email="ann.login@example.com")
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
        medical_notes="Asthma",
        staff_notes="VIP",
        tags=["morning"],
        user=login,
        import_fingerprint="f" * 64,
    )
    member.photo.save("ann.jpg", ContentFile(b"not really a jpeg"), save=True)
    membership = MembershipFactory(
        member=member,
        plan=PlanFactory(name="Monthly Unlimited"),
        status=Membership.Status.CANCELLED,
        price=Decimal("499.00"),
        cancelled_on=datetime.date(2026, 6, 30),
        cancel_reason="Moving away",
    )
    Freeze.objects.create(
        membership=membership,
        start_date=datetime.date(2026, 3, 1),
        end_date=datetime.date(2026, 3, 14),
        reason="Holiday",
        created_by=staff,
    )
    MembershipEvent.objects.create(
        membership=membership, kind=MembershipEvent.Kind.FROZEN, actor=staff, reason="Holiday", data={"days": 14}
    )
    return member


def test_data_export_holds_everything_the_gym_has(ann, staff, gym_a):
    data = member_data_export(member=ann)
    json.dumps(data)  # serialisable as it is
    assert data["format"] == "fitflow.member_data_export.v1"
    assert data["gym"] == {"name": gym_a.name, "country": "", "currency": gym_a.currency}
    profile = data["member"]
    assert profile["id"] == ann.pk
    assert (profile["first_name"], profile["last_name"], profile["email"]) == ("Ann", "Lee", "ann@example.com")
    assert (profile["phone"], profile["emergency_contact_phone"]) == ("+27825550101", "+27835550102")
    assert profile["date_of_birth"] == "1990-03-05"
    assert (profile["medical_notes"], profile["staff_notes"], profile["tags"]) == ("Asthma", "VIP", ["morning"])
    assert profile["user"] == {"id": ann.user_id, "email": "ann.login@example.com"}
    assert profile["photo"]["name"] == ann.photo.name
    assert profile["photo"]["name"].startswith(f"{gym_a.schema_name}/members/photos/")
    (membership,) = data["memberships"]
    assert membership["plan"]["name"] == "Monthly Unlimited"
    assert (membership["status"], membership["price"], membership["currency"]) == ("cancelled", "499.00", "GBP")
    assert (membership["cancelled_on"], membership["cancel_reason"]) == ("2026-06-30", "Moving away")
    assert membership["freezes"] == [
        {
            "start_date": "2026-03-01",
            "end_date": "2026-03-14",
            "ended_on": None,
            "reason": "Holiday",
            "created_by_id": staff.pk,
            "created_at": membership["freezes"][0]["created_at"],
        }
    ]
    assert [(e["kind"], e["actor_id"], e["reason"], e["data"]) for e in membership["events"]] == [
        ("frozen", staff.pk, "Holiday", {"days": 14})
    ]
    assert data["erasures"] == []
    assert (data["bookings"], data["check_ins"], data["invoices"]) == ([], [], [])


def test_data_export_query_count_does_not_grow_with_memberships(ann, django_assert_max_num_queries):
    for _ in range(10):
        MembershipFactory(member=ann, status=Membership.Status.EXPIRED)
    with django_assert_max_num_queries(14) as captured:
        data = member_data_export(member=ann)
    assert len(data["memberships"]) == 11
    assert len([q for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]) == 5


def test_erase_anonymises_keeps_memberships_and_logs(ann, staff, media, django_capture_on_commit_callbacks):
    photo_name = ann.photo.name
    assert default_storage.exists(photo_name)
    membership_ids = list(ann.memberships.values_list("pk", flat=True))

    with django_capture_on_commit_callbacks(execute=True):
        erased = member_erase(member=ann, actor=staff, reason="Member asked (POPIA s24)")

    assert erased is ann
    ann = Member.objects.get(pk=ann.pk)
    assert (ann.first_name, ann.last_name, ann.full_name) == ("Erased", "member", "Erased member")
    for name in ("email", "phone", "address", "emergency_contact_name", "emergency_contact_phone"):
        assert getattr(ann, name) == "", name
    for name in ("medical_notes", "staff_notes", "gender", "import_fingerprint"):
        assert getattr(ann, name) == "", name
    assert (ann.tags, ann.date_of_birth, ann.user_id, ann.photo.name) == ([], None, None, "")
    assert ann.status == Member.Status.ERASED
    assert not default_storage.exists(photo_name)
    # The financial records stay, with their owner.
    assert list(Membership.objects.filter(member=ann).values_list("pk", flat=True)) == membership_ids
    assert Membership.objects.get(pk=membership_ids[0]).price == Decimal("499.00")
    (log,) = MemberErasure.objects.filter(member=ann)
    assert (log.erased_by_id, log.reason) == (staff.pk, "Member asked (POPIA s24)")
    data = member_data_export(member=ann)
    assert [(e["erased_by_id"], e["reason"]) for e in data["erasures"]] == [(staff.pk, "Member asked (POPIA s24)")]
    assert data["member"]["email"] == ""


def test_second_erasure_is_refused(ann, staff):
    member_erase(member=ann, actor=staff, reason="asked")
    with pytest.raises(MemberError) as caught:
        member_erase(member=Member.objects.get(pk=ann.pk), actor=staff, reason="again")
    assert caught.value.code == "member_erased"
    assert MemberErasure.objects.filter(member=ann).count() == 1


def test_erasure_is_refused_while_a_membership_is_current(ann, staff):
    MembershipFactory(member=ann, status=Membership.Status.ACTIVE)
    with pytest.raises(MemberError) as caught:
        member_erase(member=ann, actor=staff, reason="asked")
    assert caught.value.code == "membership_current"
    ann.refresh_from_db()
    assert (ann.first_name, ann.status) == ("Ann", Member.Status.ACTIVE)
    assert not MemberErasure.objects.exists()


def test_erase_without_photo_or_actor(in_gym_a):
    member = MemberFactory(first_name="Bo")
    member_erase(member=member, actor=None, reason="")
    assert MemberErasure.objects.get(member=member).erased_by_id is None


def test_erasing_in_gym_a_cannot_reach_gym_b(gym_a, gym_b, staff):
    with tenant_context(gym_b):
        only_in_b = MemberFactory(pk=900_001, first_name="Bee", email="bee@example.com")
        same_pk_in_b = MemberFactory(pk=900_002, first_name="Twin B", email="twin@example.com")
    with tenant_context(gym_a):
        assert not Member.objects.filter(pk=only_in_b.pk).exists()  # B's id does not exist in A
        with pytest.raises(Member.DoesNotExist):
            member_erase(member=only_in_b, actor=staff, reason="wrong gym")
        twin_a = MemberFactory(pk=900_002, first_name="Twin A", email="twin@example.com")
        member_erase(member=twin_a, actor=staff, reason="asked")
        assert Member.objects.get(pk=900_002).status == Member.Status.ERASED
    with tenant_context(gym_b):
        assert Member.objects.get(pk=only_in_b.pk).first_name == "Bee"
        twin_b = Member.objects.get(pk=same_pk_in_b.pk)
        assert (twin_b.first_name, twin_b.email, twin_b.status) == ("Twin B", "twin@example.com", "active")
        assert not MemberErasure.objects.exists()
