"""CSV import of members: header mapping, per-row errors, all-or-nothing, idempotency, isolation."""

import datetime
from pathlib import Path

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.members import imports
from apps.members.errors import MemberError
from apps.members.imports import (
    MemberImportError,
    RowStatus,
    member_import_commit,
    member_import_preview,
    parse_date,
    split_full_name,
)
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = datetime.date(2026, 11, 21)


def csv_bytes(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def statements(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not q["sql"].startswith("SET search_path")]


def errors_of(preview) -> list[tuple[int | None, str | None, str]]:
    return [(e.row, e.column, e.code) for e in preview.errors]


@pytest.fixture
def in_gym_a(gym_a):
    with tenant_context(gym_a):
        yield gym_a


# --- header mapping ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("First Name", "first_name"),
        ("Last Name", "last_name"),
        ("Email", "email"),
        ("Phone", "phone"),
        ("Mobile", "phone"),
        ("Birth Date", "date_of_birth"),
        ("DOB", "date_of_birth"),
        ("Join Date", "joined_on"),
        ("Member Since", "joined_on"),
        ("FIRST_NAME", "first_name"),
        ("e-mail address", "email"),
        ("  date of birth (dd/mm/yyyy) ", "date_of_birth"),
        ("Notes", "staff_notes"),
        ("Emergency Contact", "emergency_contact_name"),
        ("Emergency Phone", "emergency_contact_phone"),
        ("Tags", "tags"),
        ("Gender", "gender"),
        ("Address", "address_line1"),
    ],
)
def test_headers_map_case_and_punctuation_insensitively(in_gym_a, header, field):
    data = csv_bytes(f"Name,{header}", "Ann Lee,")
    preview = member_import_preview(data=data, region="ZA")
    assert preview.mapped_headers[header.strip()] == field


def test_unknown_columns_are_listed_as_ignored_not_errors(in_gym_a):
    data = csv_bytes("First Name,Locker Number,Email,Shoe Size", "Ann,12,ann@example.com,6")
    preview = member_import_preview(data=data, region="ZA")
    assert preview.ignored_headers == ["Locker Number", "Shoe Size"]
    assert preview.errors == []
    assert preview.valid_count == 1


def test_full_name_is_split_into_first_and_last(in_gym_a):
    data = csv_bytes(
        "Full Name,Email",
        "Mary Ann Smith,mary@example.com",
        '"Dlamini, Nomsa",nomsa@example.com',
        "Jan van der Merwe,jan@example.com",
        "Dr. Cher,cher@example.com",
    )
    preview = member_import_preview(data=data, region="ZA")
    names = [(r.values["first_name"], r.values["last_name"]) for r in preview.rows]
    assert names == [("Mary Ann", "Smith"), ("Nomsa", "Dlamini"), ("Jan", "van der Merwe"), ("Cher", "")]


def test_name_plus_surname_means_name_is_the_first_name(in_gym_a):
    preview = member_import_preview(data=csv_bytes("Name,Surname", "Lerato,Mokoena"), region="ZA")
    assert preview.mapped_headers == {"Name": "first_name", "Surname": "last_name"}
    assert (preview.rows[0].values["first_name"], preview.rows[0].values["last_name"]) == ("Lerato", "Mokoena")


def test_mobile_is_preferred_and_home_phone_is_the_fallback(in_gym_a):
    data = csv_bytes("First Name,Home Phone,Mobile", "Ann,011 555 0100,082 555 0101", "Bo,011 555 0100,")
    preview = member_import_preview(data=data, region="ZA")
    assert [r.values["phone"] for r in preview.rows] == ["+27825550101", "+27115550100"]


def test_title_line_above_the_header_is_skipped(in_gym_a):
    data = csv_bytes("Client list,,", "Exported 2026-11-01,,", "First Name,Last Name,Email", "Ann,Lee,ann@example.com")
    preview = member_import_preview(data=data, region="ZA")
    assert preview.errors == []
    assert preview.rows[0].number == 4


# --- files from other gym software -----------------------------------------------------------------


def test_mindbody_style_export(in_gym_a):
    data = (FIXTURES / "mindbody_clients.csv").read_bytes()
    preview = member_import_preview(data=data, region="US")
    assert preview.errors == []
    assert preview.mapped_headers == {
        "Last Name": "last_name",
        "First Name": "first_name",
        "Email": "email",
        "Mobile Phone": "phone",
        "Home Phone": "phone",
        "Address Line 1": "address_line1",
        "Address Line 2": "address_line2",
        "City": "city",
        "State": "state",
        "Postal Code": "postcode",
        "Birth Date": "date_of_birth",
        "Gender": "gender",
        "Creation Date": "joined_on",
        "Status": "status",
        "Notes": "staff_notes",
    }
    assert preview.ignored_headers == ["Client ID", "Liability Release", "Referred By"]
    maria, sean, linh = preview.rows
    assert maria.values == {
        "first_name": "Maria",
        "last_name": "Garcia",
        "email": "maria.garcia@example.com",
        "phone": "+14155552671",
        "emergency_contact_phone": "",
        "date_of_birth": datetime.date(1988, 3, 14),
        "joined_on": datetime.date(2021, 1, 5),
        "gender": "female",
        "status": "active",
        "tags": [],
        "address": "742 Evergreen Terrace, Apt 3, San Francisco, CA, 94110",
        "emergency_contact_name": "",
        "staff_notes": "Prefers mornings",
        "medical_notes": "",
    }
    assert (sean.values["phone"], sean.values["status"]) == ("+14155552672", "inactive")
    assert sean.values["date_of_birth"] == datetime.date(1979, 11, 2)  # month first in the US
    assert linh.values["joined_on"] == datetime.date(2022, 7, 30)
    assert linh.values["staff_notes"] == "Knee surgery 2021,\ncleared by physio"


def test_glofox_style_export_semicolons_bom_and_day_first_dates_for_za(in_gym_a):
    data = (FIXTURES / "glofox_members.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    preview = member_import_preview(data=data, region="ZA")
    assert preview.errors == []
    assert (preview.delimiter, preview.encoding, preview.dayfirst) == (";", "utf-8", True)
    assert preview.ignored_headers == ["Membership", "Membership Status"]
    thandi, pieter, zoe = preview.rows
    assert thandi.values["first_name"] == "Thandi"  # no BOM glued to the first header
    assert thandi.values["date_of_birth"] == datetime.date(1990, 3, 5)
    assert thandi.values["joined_on"] == datetime.date(2023, 1, 12)
    assert thandi.values["phone"] == "+27825550101"
    assert thandi.values["emergency_contact_name"] == "Sipho Nkosi"
    assert thandi.values["emergency_contact_phone"] == "+27835550102"
    assert thandi.values["tags"] == ["morning", "yoga"]
    assert thandi.values["medical_notes"] == "Asthma"
    assert pieter.values["last_name"] == "van der Merwe"
    assert pieter.values["date_of_birth"] == datetime.date(1985, 11, 23)
    assert zoe.values["first_name"] == "Zoë"
    assert zoe.values["date_of_birth"] == datetime.date(1992, 7, 14)  # ISO works whatever the region
    assert zoe.values["phone"] == "+4915123456789"


def test_windows_1252_file_is_read(in_gym_a):
    data = csv_bytes("First Name,Last Name", "José,Müller", encoding="cp1252")
    preview = member_import_preview(data=data, region="ZA")
    assert preview.encoding == "cp1252"
    assert preview.rows[0].values["first_name"] == "José"


def test_tab_delimited_utf16_file_is_read(in_gym_a):
    data = "First Name\tEmail\r\nAnn\tann@example.com\r\n".encode("utf-16")
    preview = member_import_preview(data=data, region="ZA")
    assert (preview.delimiter, preview.encoding) == ("\t", "utf-16")
    assert preview.rows[0].values["email"] == "ann@example.com"


# --- per-row errors ----------------------------------------------------------------------------------


def test_every_bad_row_is_reported_with_its_spreadsheet_row_and_column(in_gym_a):
    MemberFactory(email="taken@example.com")
    data = csv_bytes(
        "First Name,Last Name,Email,Mobile,DOB,Member Since",  # row 1
        "Ann,Lee,ann@example.com,082 555 0101,05/03/1990,01/02/2024",  # 2: fine
        ",,nobody@example.com,,,",  # 3: no name
        "Bo,Ray,not-an-email,,,",  # 4: bad email
        "",  # 5: blank, skipped but counted
        "Cy,Dee,ANN@example.com,,,",  # 6: same email as row 2
        "Di,Eve,taken@example.com,,,",  # 7: email of another member
        "Ed,Fox,ed@example.com,,31/02/1990,",  # 8: no such date
        "Flo,Gee,flo@example.com,12345,,",  # 9: bad phone
        "Gus,Hay,gus@example.com,,,someday",  # 10: not a date
        ",Ivy,ivy@example.com,,,",  # 11: surname only
    )
    preview = member_import_preview(data=data, region="ZA")
    assert errors_of(preview) == [
        (3, "First Name", "name_missing"),
        (4, "Email", "email_invalid"),
        (6, "Email", "email_duplicate_in_file"),
        (7, "Email", "email_taken"),
        (8, "DOB", "date_invalid"),
        (9, "Mobile", "phone_invalid"),
        (10, "Member Since", "date_invalid"),
        (11, "First Name", "first_name_missing"),
    ]
    messages = {e.row: e.message for e in preview.errors}
    assert messages[6] == "“ann@example.com” is also in row 2."
    assert messages[7] == "“taken@example.com” already belongs to another member of this gym."
    assert messages[8] == "“31/02/1990” is not a valid date (read as day/month/year)."
    counts = (preview.total_rows, preview.valid_count, preview.error_count, preview.already_imported_count)
    assert counts == (9, 1, 8, 0)  # the blank row 5 is not a member
    assert [r.status for r in preview.rows[:2]] == [RowStatus.NEW, RowStatus.ERROR]
    assert not preview.is_valid


def test_more_row_errors(in_gym_a):
    data = csv_bytes(
        "Name,Email,Gender,Birth Date,Phone,Emergency Phone",
        f"{'A' * 81} B,a@example.com,,,,",
        "Cy Dee,c@example.com,robot,,,",
        "Di Eve,d@example.com,,01/01/2099,,",
        "Ed Fox,e@example.com,,,0825550101,0825550101",
        "Ed Fox,,,,,",
        "Ed Fox,,,,,",
    )
    preview = member_import_preview(data=data, region="ZA")
    assert errors_of(preview) == [
        (2, "Name", "too_long"),
        (3, "Gender", "gender_invalid"),
        (4, "Birth Date", "date_in_future"),
        (7, None, "row_duplicate"),
    ]
    assert preview.rows[3].values["emergency_contact_phone"] == "+27825550101"


def test_phone_without_a_gym_country_needs_a_country_code(in_gym_a):
    data = csv_bytes("First Name,Phone", "Ann,082 555 0101", "Bo,+27 82 555 0102")
    preview = member_import_preview(data=data, region=None)
    assert errors_of(preview) == [(2, "Phone", "phone_invalid")]
    assert "needs a country code" in preview.errors[0].message
    assert preview.rows[1].values["phone"] == "+27825550102"


def test_blank_lines_and_multiline_cells_keep_spreadsheet_row_numbers(in_gym_a):
    data = csv_bytes("First Name,Notes,Email", 'Ann,"line one', 'line two",ann@example.com', "", ",,x@example.com")
    preview = member_import_preview(data=data, region="ZA")
    assert errors_of(preview) == [(4, "First Name", "name_missing")]


# --- file-level errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "file_empty"),
        (b"\xef\xbb\xbf\r\n\r\n", "file_empty"),
        (b"First Name,Email\r\n", "no_rows"),
        (b"Email,Phone\r\nann@example.com,0825550101\r\n", "no_name_column"),
        (b"PK\x03\x04rest-of-a-zip", "file_not_csv"),
        (b"First Name\r\nAnn\x00\r\n", "file_unreadable"),
    ],
)
def test_file_level_errors(in_gym_a, data, code):
    preview = member_import_preview(data=data, region="ZA")
    assert [(e.row, e.column, e.code) for e in preview.errors] == [(None, None, code)]
    assert preview.file_errors == preview.errors
    with pytest.raises(MemberImportError):
        member_import_commit(data=data, region="ZA")


def test_too_large(in_gym_a, monkeypatch):
    monkeypatch.setattr(imports.preview, "MAX_IMPORT_BYTES", 20)
    preview = member_import_preview(data=csv_bytes("First Name", "Ann", "Bo", "Cy", "Di"), region="ZA")
    assert errors_of(preview) == [(None, None, "too_large")]


def test_too_many_rows(in_gym_a, monkeypatch):
    monkeypatch.setattr(imports.preview, "MAX_IMPORT_ROWS", 3)
    ok = csv_bytes("First Name", "A", "B", "", "C")
    assert member_import_preview(data=ok, region="ZA").errors == []
    too_many = csv_bytes("First Name", "A", "B", "C", "D")
    preview = member_import_preview(data=too_many, region="ZA")
    assert errors_of(preview) == [(None, None, "too_many_rows")]
    assert "more than 3 members" in preview.errors[0].message


# --- dates ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "dayfirst", "expected"),
    [
        ("05/03/1990", True, datetime.date(1990, 3, 5)),
        ("05/03/1990", False, datetime.date(1990, 5, 3)),
        ("5.3.1990", True, datetime.date(1990, 3, 5)),
        ("1990-03-05", True, datetime.date(1990, 3, 5)),
        ("1990-03-05", False, datetime.date(1990, 3, 5)),
        ("1990/03/05", True, datetime.date(1990, 3, 5)),
        ("1990-03-05T08:00:00Z", True, datetime.date(1990, 3, 5)),
        ("05/03/85", True, datetime.date(1985, 3, 5)),
        ("05/03/26", True, datetime.date(2026, 3, 5)),
        ("5 March 1990", True, datetime.date(1990, 3, 5)),
        ("March 5, 1990", True, datetime.date(1990, 3, 5)),
        ("0000-00-00", True, None),
    ],
)
def test_parse_date(raw, dayfirst, expected):
    assert parse_date(raw, dayfirst=dayfirst, today=TODAY) == expected


@pytest.mark.parametrize("raw", ["13/13/1990", "March 1990", "yesterday", "05/03/1890", "1990"])
def test_parse_date_refuses_what_is_not_a_whole_date(raw):
    with pytest.raises(ValueError):
        parse_date(raw, dayfirst=True, today=TODAY)


def test_us_gym_reads_month_first_and_a_za_gym_day_first(in_gym_a):
    data = csv_bytes("First Name,DOB", "Ann,03/05/1990")
    assert member_import_preview(data=data, region="US").rows[0].values["date_of_birth"] == datetime.date(1990, 3, 5)
    assert member_import_preview(data=data, region="ZA").rows[0].values["date_of_birth"] == datetime.date(1990, 5, 3)
    assert member_import_preview(data=data, region="ZA", dayfirst=False).rows[0].values[
        "date_of_birth"
    ] == datetime.date(1990, 3, 5)


def test_split_full_name_is_not_fooled_by_a_suffix_after_a_comma():
    assert split_full_name("John Smith, Jr.") == ("John", "Smith Jr.")


# --- commit --------------------------------------------------------------------------------------------------


GOOD = csv_bytes(
    "First Name,Last Name,Email,Mobile,DOB,Join Date,Tags,Notes,Medical Notes",
    "Ann,Lee,Ann@Example.com,082 555 0101,05/03/1990,01/02/2024,Morning;Yoga,VIP,Asthma",
    "Bo,Ray,,,,,,,",
    "Cy,Dee,cy@example.com,+44 20 7946 0018,1980-12-31,,,,",
)


def test_commit_creates_every_member_with_source_import(in_gym_a):
    result = member_import_commit(data=GOOD, region="ZA")
    assert (result.total_rows, result.created_count, result.already_imported_count) == (3, 3, 0)
    ann = Member.objects.get(email="ann@example.com")
    assert set(result.member_ids) == set(Member.objects.values_list("pk", flat=True))
    assert (ann.first_name, ann.last_name, str(ann.phone)) == ("Ann", "Lee", "+27825550101")
    assert (ann.date_of_birth, ann.joined_on) == (datetime.date(1990, 3, 5), datetime.date(2024, 2, 1))
    assert (ann.tags, ann.staff_notes, ann.medical_notes) == (["morning", "yoga"], "VIP", "Asthma")
    assert ann.source == Member.Source.IMPORT
    assert ann.status == Member.Status.ACTIVE
    assert len(ann.import_fingerprint) == 64
    bo = Member.objects.get(first_name="Bo")
    assert (bo.email, bo.phone, bo.joined_on) == ("", "", timezone.localdate())
    assert str(Member.objects.get(first_name="Cy").phone) == "+442079460018"


def test_commit_is_all_or_nothing(in_gym_a):
    bad = GOOD + b"Di,Eve,bad-email,,,,,,\r\n"
    with pytest.raises(MemberImportError) as caught:
        member_import_commit(data=bad, region="ZA")
    assert caught.value.code == "import_invalid"
    assert isinstance(caught.value, MemberError)
    assert [(e.row, e.column, e.code) for e in caught.value.errors] == [(5, "Email", "email_invalid")]
    assert Member.objects.count() == 0


def test_reupload_creates_no_duplicates(in_gym_a):
    member_import_commit(data=GOOD, region="ZA")
    preview = member_import_preview(data=GOOD, region="ZA")
    assert preview.errors == []  # emails that exist because this file created them are not errors
    assert (preview.valid_count, preview.already_imported_count) == (0, 3)
    assert {r.status for r in preview.rows} == {RowStatus.ALREADY_IMPORTED}

    again = member_import_commit(data=GOOD, region="ZA")
    assert (again.created_count, again.already_imported_count) == (0, 3)
    assert Member.objects.count() == 3


def test_reupload_with_other_formatting_and_a_new_row_adds_only_the_new_row(in_gym_a):
    member_import_commit(data=GOOD, region="ZA")
    # The same people, re-exported: columns reordered, a semicolon file, phones and
    # dates written differently, an extra column, and one new member.
    data = csv_bytes(
        "Email;First Name;Last Name;Mobile;DOB;Join Date;Tags;Notes;Medical Notes;Locker",
        "ann@example.com;Ann;Lee;+27825550101;1990-03-05;2024-02-01;Yoga,morning;VIP;Asthma;7",
        ";Bo;Ray;;;;;;;",
        "cy@example.com;Cy;Dee;+442079460018;31/12/1980;;;;;",
        "new@example.com;Nia;New;;;;;;;",
    )
    preview = member_import_preview(data=data, region="ZA")
    assert preview.errors == []
    assert [(r.values["first_name"], r.status) for r in preview.rows] == [
        ("Ann", RowStatus.ALREADY_IMPORTED),
        ("Bo", RowStatus.ALREADY_IMPORTED),
        ("Cy", RowStatus.ALREADY_IMPORTED),
        ("Nia", RowStatus.NEW),
    ]
    result = member_import_commit(data=data, region="ZA")
    assert (result.created_count, result.already_imported_count) == (1, 3)
    assert Member.objects.count() == 4


def test_changed_row_whose_email_exists_is_an_error_not_a_silent_skip(in_gym_a):
    member_import_commit(data=GOOD, region="ZA")
    changed = GOOD.replace(b"082 555 0101", b"082 555 0199")
    preview = member_import_preview(data=changed, region="ZA")
    assert errors_of(preview) == [(2, "Email", "email_taken")]
    assert preview.already_imported_count == 2


def test_email_of_a_member_created_by_hand_is_an_error(in_gym_a):
    MemberFactory(email="cy@example.com", first_name="Cy")
    with pytest.raises(MemberImportError) as caught:
        member_import_commit(data=GOOD, region="ZA")
    assert [(e.row, e.column, e.code) for e in caught.value.errors] == [(4, "Email", "email_taken")]
    assert Member.objects.count() == 1


def test_email_in_a_different_case_in_the_gym_is_taken(in_gym_a):
    Member.objects.create(first_name="Legacy", email="CY@EXAMPLE.COM")  # written around the service
    preview = member_import_preview(data=GOOD, region="ZA")
    assert errors_of(preview) == [(4, "Email", "email_taken")]


def test_export_characters_escaped_against_formulas_are_unescaped(in_gym_a):
    preview = member_import_preview(data=csv_bytes("First Name,Notes", "'=Ann,'-5 kg"), region="ZA")
    assert (preview.rows[0].values["first_name"], preview.rows[0].values["staff_notes"]) == ("=Ann", "-5 kg")


def test_commit_makes_no_per_row_queries(in_gym_a, django_assert_max_num_queries):
    lines = ["First Name,Last Name,Email,Mobile,DOB"]
    lines += [f"Member{i},Test,m{i}@example.com,082 555 {i:04d},01/01/1990" for i in range(2500)]
    data = csv_bytes(*lines)
    # django-tenants sends "SET search_path" before each statement (TENANT_LIMIT_SET_CALLS
    # is off); those are not counted. The rest: savepoint, lock, existing members,
    # 3 INSERT batches of 1,000, release.
    with django_assert_max_num_queries(14) as captured:
        result = member_import_commit(data=data, region="ZA")
    assert result.created_count == 2500
    assert len(statements(captured)) == 7
    with django_assert_max_num_queries(2) as captured:
        preview = member_import_preview(data=data, region="ZA")
    assert len(statements(captured)) == 1
    assert preview.already_imported_count == 2500
    assert len(preview.rows) == imports.PREVIEW_ROWS


def test_preview_as_dict_is_json_serialisable(in_gym_a):
    import json

    preview = member_import_preview(data=GOOD, region="ZA")
    encoded = json.loads(json.dumps(preview.as_dict()))
    assert encoded["valid_count"] == 3
    assert encoded["rows"][0]["values"]["date_of_birth"] == "1990-03-05"


# --- isolation ------------------------------------------------------------------------------------------------


def test_import_into_gym_a_never_reads_or_writes_gym_b(gym_a, gym_b):
    with tenant_context(gym_b):
        MemberFactory(email="cy@example.com")
        b_count = Member.objects.count()
    with tenant_context(gym_a):
        preview = member_import_preview(data=GOOD, region="ZA")
        assert preview.errors == []  # cy@example.com exists only in gym B
        member_import_commit(data=GOOD, region="ZA")
        assert Member.objects.count() == 3
    with tenant_context(gym_b):
        assert Member.objects.count() == b_count
        assert not Member.objects.filter(source=Member.Source.IMPORT).exists()
        # ... and gym A's import does not make the same file "already imported" in B
        preview = member_import_preview(data=GOOD, region="ZA")
        assert preview.already_imported_count == 0
        assert errors_of(preview) == [(4, "Email", "email_taken")]
