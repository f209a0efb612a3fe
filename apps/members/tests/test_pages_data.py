"""The members pages that move data: CSV export (all, filtered, selected), CSV import
(upload, preview with per-row errors, confirm, re-upload), GDPR export and erasure."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django_tenants.utils import tenant_context

from apps.conftest import host_of
from apps.members.models import Member, MemberErasure
from apps.members.tests.factories import MemberFactory
from apps.memberships.tests.factories import MembershipFactory
from apps.staff.roles import Role
from apps.tenants.models import Gym

pytestmark = pytest.mark.django_db

FOREIGN_ID = itertools.count(930_000_001)
MEDICAL = "Asthma: inhaler in locker 12"

GOOD_CSV = (
    "First Name,Last Name,Email,Mobile,DOB,Member Since\n"
    "Ayanda,Zulu,ayanda@example.test,+27825550111,1990-03-05,2024-01-12\n"
    "Ben,Smith,ben@example.test,+27825550112,1985-11-23,2023-06-01\n"
)
BAD_CSV = (
    "First Name,Last Name,Email,Phone,Birth Date\n"
    "Ayanda,Zulu,not-an-email,+27825550111,1990-03-05\n"
    ",,nobody@example.test,,\n"
    "Ben,Smith,ben@example.test,12,31/31/1985\n"
)


@pytest.fixture
def login(gym_a: Gym, make_staff) -> Callable[..., Client]:
    def make(role: Role = Role.OWNER) -> Client:
        client = Client(HTTP_HOST=host_of(gym_a))
        client.force_login(make_staff(gym_a, role))
        return client

    return make


def _csv(response) -> list[dict[str, str]]:
    text = response.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def _upload(client: Client, text: str, name: str = "members.csv"):
    return client.post("/members/import/", {"file": SimpleUploadedFile(name, text.encode(), "text/csv")})


# --- export ----------------------------------------------------------------------------------


def test_export_all_members_as_csv(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        MemberFactory(first_name="Ayanda", medical_notes=MEDICAL)
        MemberFactory(first_name="Ben")
    owner = login()

    response = owner.get("/members/export/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert re.match(r'attachment; filename="members-gym-a-\d{4}-\d{2}-\d{2}\.csv"', response["Content-Disposition"])
    rows = _csv(response)
    assert sorted(r["First Name"] for r in rows) == ["Ayanda", "Ben"]
    assert any(r["Medical Notes"] == MEDICAL for r in rows)


def test_a_receptionists_export_has_no_medical_notes(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        MemberFactory(first_name="Ayanda", medical_notes=MEDICAL)

    response = login(Role.RECEPTIONIST).get("/members/export/")

    assert response.status_code == 200
    assert MEDICAL not in response.content.decode() and "Medical Notes" not in response.content.decode()


def test_export_follows_the_list_filters(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        MemberFactory(first_name="Ayanda", tags=["student"])
        MemberFactory(first_name="Ben")
    client = login()

    assert [r["First Name"] for r in _csv(client.get("/members/export/", {"tag": "student"}))] == ["Ayanda"]
    page = client.get("/members/", {"tag": "student"}).content.decode()
    assert 'href="/members/export/?tag=student"' in page


def test_export_the_selected_members(login, gym_a: Gym, gym_b: Gym) -> None:
    with tenant_context(gym_a):
        a, _b, c = MemberFactory(first_name="A"), MemberFactory(first_name="B"), MemberFactory(first_name="C")
    with tenant_context(gym_b):
        foreign = MemberFactory(id=next(FOREIGN_ID), first_name="Foreign")
    client = login(Role.RECEPTIONIST)

    response = client.post("/members/export/", {"ids": [a.pk, c.pk, foreign.pk]})

    assert response.status_code == 200
    assert sorted(r["First Name"] for r in _csv(response)) == ["A", "C"]
    nothing = client.post("/members/export/", {"query": "tag=x"})
    assert nothing.status_code == 302 and nothing["Location"] == "/members/?tag=x"


# --- import --------------------------------------------------------------------------------------


def test_import_preview_then_confirm(login, gym_a: Gym) -> None:
    client = login(Role.MANAGER)

    preview = _upload(client, GOOD_CSV)

    body = preview.content.decode()
    assert preview.status_code == 200
    assert 'id="count-total">2<' in body and 'id="count-new">2<' in body and 'id="count-errors">0<' in body
    assert "Ayanda" in body and "ben@example.test" in body
    with tenant_context(gym_a):
        assert not Member.objects.exists()  # the preview writes nothing
    token = re.search(r'name="token" value="([^"]+)"', body).group(1)

    confirmed = client.post("/members/import/", {"token": token})

    assert confirmed.status_code == 302
    with tenant_context(gym_a):
        imported = Member.objects.order_by("first_name")
        assert [(m.first_name, m.email, str(m.phone), m.source) for m in imported] == [
            ("Ayanda", "ayanda@example.test", "+27825550111", "import"),
            ("Ben", "ben@example.test", "+27825550112", "import"),
        ]
    assert "Imported 2 members." in client.get(confirmed["Location"]).content.decode()

    # The same file again: "already imported", nothing to confirm, nothing created.
    again = _upload(client, GOOD_CSV)
    again_body = again.content.decode()
    assert "Already imported." in again_body and 'id="count-already">2<' in again_body
    assert 'name="token"' not in again_body
    replay = client.post("/members/import/", {"token": token})  # the old token is used up
    assert replay.status_code == 400 and "expired" in replay.content.decode()
    with tenant_context(gym_a):
        assert Member.objects.count() == 2


def test_import_preview_lists_errors_by_row_and_column_and_imports_nothing(login, gym_a: Gym) -> None:
    client = login()

    preview = _upload(client, BAD_CSV)

    body = preview.content.decode()
    assert preview.status_code == 200
    assert 'id="count-errors">3<' in body and 'id="count-new">0<' in body
    errors = re.findall(r'<tr class="row-error"><td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>', body)
    by_row = {(int(row), column) for row, column, _ in errors}
    assert (2, "Email") in by_row and (4, "Phone") in by_row and (4, "Birth Date") in by_row
    assert any(row == "3" for row, _, _ in errors)  # the row without a name
    assert "Nothing can be imported" in body and 'name="token"' not in body
    with tenant_context(gym_a):
        assert not Member.objects.exists()


def test_import_confirm_refuses_a_file_that_became_invalid(login, gym_a: Gym) -> None:
    client = login()
    token = re.search(r'name="token" value="([^"]+)"', _upload(client, GOOD_CSV).content.decode()).group(1)
    with tenant_context(gym_a):
        MemberFactory(email="ben@example.test")  # added at the desk meanwhile

    response = client.post("/members/import/", {"token": token})

    assert response.status_code == 400
    body = response.content.decode()
    assert "Nothing can be imported" in body and 'name="token"' not in body
    assert re.search(r'<tr class="row-error"><td class="num">3</td><td>Email</td>', body)
    with tenant_context(gym_a):
        assert Member.objects.count() == 1  # all or nothing


def test_import_bad_uploads(login) -> None:
    client = login()
    assert client.post("/members/import/", {}).status_code == 400
    assert client.post("/members/import/", {"token": "not a token!"}).status_code == 400
    empty = _upload(client, "")
    assert empty.status_code in (200, 400) and "Import 0" not in empty.content.decode()


# --- GDPR ----------------------------------------------------------------------------------------


def test_gdpr_data_export_is_a_json_download(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(first_name="Thandi", medical_notes=MEDICAL)
        MembershipFactory(member=member)
    client = login(Role.MANAGER)
    assert f'href="/members/{member.pk}/data/"' in client.get(f"/members/{member.pk}/").content.decode()

    response = client.get(f"/members/{member.pk}/data/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"] == f'attachment; filename="member-{member.pk}-data.json"'
    data = json.loads(response.content)
    assert data["member"]["first_name"] == "Thandi" and len(data["memberships"]) == 1


def test_erase_asks_for_a_reason_and_the_name_then_anonymises(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(first_name="Thandi", last_name="Nkosi", medical_notes=MEDICAL)
    client = login(Role.MANAGER)
    assert "This cannot be undone" in client.get(f"/members/{member.pk}/erase/").content.decode()

    wrong = client.post(f"/members/{member.pk}/erase/", {"reason": "", "confirm": "Someone Else"})
    assert wrong.status_code == 400 and set(wrong.context["form"].errors) == {"reason", "confirm"}
    with tenant_context(gym_a):
        assert Member.objects.get(pk=member.pk).first_name == "Thandi"

    done = client.post(f"/members/{member.pk}/erase/", {"reason": "Asked by email", "confirm": " thandi  nkosi "})

    assert done.status_code == 302
    with tenant_context(gym_a):
        erased = Member.objects.get(pk=member.pk)
        log = MemberErasure.objects.get(member=erased)
    assert erased.status == Member.Status.ERASED and erased.medical_notes == "" and erased.email == ""
    assert log.reason == "Asked by email"
    page = client.get(f"/members/{member.pk}/").content.decode()
    assert "personal data was erased" in page and "Edit profile" not in page


def test_erase_is_refused_while_a_membership_is_current(login, gym_a: Gym) -> None:
    with tenant_context(gym_a):
        member = MemberFactory(first_name="Thandi", last_name="Nkosi")
        MembershipFactory(member=member)

    response = login().post(f"/members/{member.pk}/erase/", {"reason": "Asked", "confirm": "Thandi Nkosi"})

    assert response.status_code == 400 and "Cancel it before erasing" in response.content.decode()
    with tenant_context(gym_a):
        assert Member.objects.get(pk=member.pk).status == Member.Status.ACTIVE
        assert not MemberErasure.objects.exists()
