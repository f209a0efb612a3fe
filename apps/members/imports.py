"""CSV import of members: preview with per-row errors, then an all-or-nothing commit.

The flow the pages follow:

1. `member_import_preview(data=..., region=...)` reads the file and returns an
   `ImportPreview`: how the headers were mapped, the cleaned values of the first
   rows, every error (row number as the spreadsheet shows it, column, message) and
   the counts. It writes nothing.
2. `member_import_commit(data=..., region=...)` runs the same analysis again inside
   one transaction and creates every new member (source "import"), or nothing when
   any row has an error (`MemberImportError`, with the errors attached).

Re-uploading a file creates no duplicates: each row's `import_fingerprint` (a
sha256 of its cleaned values) is stored on the member it created, and a row whose
fingerprint is already in the gym is counted as "already imported" and skipped.
An email that belongs to a member the row did not create is an error.

What the reader accepts:
- bytes in UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"),
  falling back to Windows-1252; a `str` as it is;
- `,` `;` tab or `|` as the delimiter (sniffed), quoted cells with line breaks;
- headers matched case-insensitively, ignoring spaces, punctuation and a
  parenthesised hint, e.g. "E-mail Address", "DOB (dd/mm/yyyy)"; see `FIELD_ALIASES`.
  The header is the first non-blank row, or one of the next few rows when the
  file starts with a title line;
- phones in the gym's national format or international (+...), stored E.164;
- dates in ISO form (always), numeric day/month/year or month/day/year (by the
  gym's country, see `dayfirst_for_region`) and written-out months ("5 March 1990").

Limits: `MAX_IMPORT_ROWS` (50,000) data rows and `MAX_IMPORT_BYTES` (20 MiB) per
file; larger files are refused with a file-level error. 10,000 rows preview and import in a few seconds
(`bench/member_import.py`).
"""

from __future__ import annotations

import codecs
import csv
import datetime
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import phonenumbers
from dateutil import parser as date_parser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber

from apps.accounts.models import User

from .errors import MemberError
from .models import Member
from .services import normalise_tags

logger = logging.getLogger(__name__)
_Report = Callable[[str | None, str, str], None]  # (column, code, message)

MAX_IMPORT_ROWS = 50_000
"""Data rows (not counting the header or blank rows) one file may hold."""
MAX_IMPORT_BYTES = 20 * 1024 * 1024
"""File size refused outright (20 MiB; 50,000 rows of a typical export are ~8 MB).
Upload pages should check `UploadedFile.size` against it before reading the file."""
PREVIEW_ROWS = 50
"""How many rows `ImportPreview.rows` carries for display."""
BULK_BATCH_SIZE = 1_000
"""Members per INSERT in `member_import_commit`."""
HEADER_SEARCH_ROWS = 5
"""Non-blank rows searched for the header row (exports sometimes start with a title)."""
FINGERPRINT_VERSION = 1
"""Part of every fingerprint: changing how rows are cleaned must bump it knowingly."""

DELIMITERS = ",;\t|"
# Countries that write numeric dates month first (03/05/1990 is 5 March). Everywhere
# else, numeric dates are read day first. ISO dates (1990-03-05) always work.
MONTH_FIRST_REGIONS = frozenset({"US", "AS", "GU", "MP", "PR", "UM", "VI", "PH", "FM", "MH", "PW"})

# Our fields and the headers (normalised: lowercase letters and digits only) that
# mean them, best first. For "phone", later headers are fallbacks used when the
# earlier ones are empty in a row (e.g. "Mobile Phone" then "Home Phone"); for every
# other field the best header present wins and the rest are ignored.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": (
        "firstname", "first", "givenname", "givennames", "forename", "forenames", "fname",
        "memberfirstname", "clientfirstname", "customerfirstname", "contactfirstname", "namefirst",
    ),
    "last_name": (
        "lastname", "last", "surname", "familyname", "lname",
        "memberlastname", "clientlastname", "customerlastname", "contactlastname", "namelast",
    ),
    "full_name": ("fullname", "name", "membername", "clientname", "customername", "contactname", "displayname"),
    "email": (
        "email", "emailaddress", "mail", "memberemail", "clientemail", "customeremail", "primaryemail",
        "contactemail",
    ),
    "phone": (
        "mobile", "mobilephone", "mobilenumber", "mobileno", "cell", "cellphone", "cellnumber", "cellphonenumber",
        "phone", "phonenumber", "phoneno", "telephone", "tel", "contactnumber", "primaryphone",
        "homephone", "workphone",
    ),
    "date_of_birth": ("birthdate", "dateofbirth", "dob", "birthday", "born"),
    "joined_on": (
        "joindate", "joined", "joinedon", "datejoined", "joiningdate", "membersince", "memberfrom",
        "signupdate", "signedup", "registrationdate", "registered", "creationdate", "createddate",
        "datecreated", "created", "startdate",
    ),
    "gender": ("gender", "sex"),
    "status": ("status", "memberstatus", "clientstatus"),
    "tags": ("tags", "tag", "labels", "label"),
    "staff_notes": ("notes", "note", "staffnotes", "comments", "comment", "remarks", "membernotes", "clientnotes"),
    "medical_notes": (
        "medicalnotes", "medical", "medicalconditions", "medicalcondition", "medicalinfo", "medicalinformation",
        "healthnotes", "healthconditions", "injuries", "allergies",
    ),
    "emergency_contact_name": (
        "emergencycontact", "emergencycontactname", "emergencyname", "emergencycontactperson", "icename",
        "nextofkin",
    ),
    "emergency_contact_phone": (
        "emergencyphone", "emergencycontactphone", "emergencycontactnumber", "emergencynumber",
        "emergencycontactmobile", "emergencymobile", "icephone", "icenumber", "nextofkinphone",
    ),
    # The parts of a postal address, joined with ", " into `address` in this order.
    "address_line1": ("address", "address1", "addressline1", "streetaddress", "street", "homeaddress", "postaladdress"),
    "address_line2": ("address2", "addressline2"),
    "suburb": ("suburb",),
    "city": ("city", "town"),
    "state": ("state", "province", "county", "region"),
    "postcode": ("postcode", "postalcode", "zip", "zipcode"),
    "country": ("country",),
}  # fmt: skip
FALLBACK_FIELDS = frozenset({"phone"})
ADDRESS_PARTS = ("address_line1", "address_line2", "suburb", "city", "state", "postcode", "country")
NAME_FIELDS = frozenset({"first_name", "full_name"})
_ALIAS_RANK = {alias: (name, rank) for name, aliases in FIELD_ALIASES.items() for rank, alias in enumerate(aliases)}

GENDER_VALUES = {
    **dict.fromkeys(("f", "female", "woman"), Member.Gender.FEMALE),
    **dict.fromkeys(("m", "male", "man"), Member.Gender.MALE),
    **dict.fromkeys(("nonbinary", "nb", "enby"), Member.Gender.NON_BINARY),
    "other": Member.Gender.OTHER,
    **dict.fromkeys(
        ("undisclosed", "prefernottosay", "unknown", "notspecified", "unspecified", "na", "none", "u"),
        Member.Gender.UNDISCLOSED,
    ),
}
STATUS_VALUES = {
    "active": Member.Status.ACTIVE,
    **dict.fromkeys(
        (
            "inactive", "nonmember", "expired", "suspended", "terminated", "declined", "cancelled", "canceled",
            "lapsed", "former", "frozen", "paused",
        ),
        Member.Status.INACTIVE,
    ),
}  # fmt: skip
MAX_LENGTHS = {"first_name": 80, "last_name": 80, "email": 254, "emergency_contact_name": 120}
_HONORIFICS = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof"})
_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md"})
_SURNAME_PARTICLES = frozenset(
    {"van", "von", "der", "den", "de", "du", "da", "di", "del", "della", "la", "le", "dos", "das", "bin", "ibn", "al"}
)
_NUMERIC_DATE = re.compile(
    r"^(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s*[AaPp][Mm])?)?$"
)
_ZERO_DATES = frozenset({"0000-00-00", "00/00/0000", "00.00.0000", "0000-00-00 00:00:00"})
# Two different defaults for dateutil: a part missing from the text shows as a difference.
_SENTINELS = (datetime.datetime(2000, 1, 1), datetime.datetime(2001, 2, 2))


class RowStatus(StrEnum):
    """What the commit does with a row."""

    NEW = "new"  # valid; the commit creates a member
    ALREADY_IMPORTED = "already_imported"  # a member with this row's fingerprint exists; skipped
    ERROR = "error"  # at least one error; the commit refuses the file


@dataclass(frozen=True)
class ImportIssue:
    """One problem. `row` is the row number a spreadsheet shows (the header is row 1,
    blank rows count) or None for a problem with the whole file; `column` is the
    header as written in the file, or None. `code` is stable, `message` is for people.

    Row codes: name_missing, first_name_missing, too_long, email_invalid,
    email_duplicate_in_file, email_taken, row_duplicate, phone_invalid, date_invalid,
    date_in_future, gender_invalid, status_invalid.
    File codes: file_empty, file_not_csv, file_unreadable, no_rows, no_name_column,
    too_many_rows, too_large.
    """

    row: int | None
    column: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message}


@dataclass
class ImportRow:
    """One data row: its spreadsheet row `number`, the cleaned `values` a member would
    get (keys: first_name, last_name, email, phone and emergency_contact_phone as
    E.164 strings or "", date_of_birth and joined_on as `date` or None, gender,
    status, tags (list), address, emergency_contact_name, staff_notes,
    medical_notes), its `status` and its `errors`. `medical_notes` is in `values`:
    pages must not show it to receptionists."""

    number: int
    values: dict[str, Any]
    status: RowStatus = RowStatus.NEW
    errors: list[ImportIssue] = field(default_factory=list)
    fingerprint: str = ""

    def as_dict(self) -> dict[str, Any]:
        values = {k: v.isoformat() if isinstance(v, datetime.date) else v for k, v in self.values.items()}
        return {
            "row": self.number,
            "status": str(self.status),
            "values": values,
            "errors": [e.as_dict() for e in self.errors],
        }


@dataclass(frozen=True)
class ImportColumn:
    """A header of the file and the member field it was mapped to (None: ignored)."""

    header: str
    field: str | None


@dataclass
class ImportPreview:
    """What an import of this file would do. Counts are of data rows:
    `total_rows` = `valid_count` (would be created) + `already_imported_count`
    (skipped) + `error_count` (rows with at least one error). `rows` holds the first
    `PREVIEW_ROWS` rows for display; `errors` holds every error, the file's first.
    `file_sha256` identifies the uploaded bytes, so a confirm page can check it
    commits the file that was previewed."""

    total_rows: int
    valid_count: int
    already_imported_count: int
    error_count: int
    rows: list[ImportRow]
    errors: list[ImportIssue]
    columns: list[ImportColumn]
    delimiter: str
    encoding: str
    region: str
    dayfirst: bool
    file_sha256: str

    @property
    def is_valid(self) -> bool:
        """True when the commit would go ahead (no file or row errors)."""
        return not self.errors

    @property
    def file_errors(self) -> list[ImportIssue]:
        return [e for e in self.errors if e.row is None]

    @property
    def mapped_headers(self) -> dict[str, str]:
        """Header as written -> member field (address parts and "full_name" included)."""
        return {c.header: c.field for c in self.columns if c.field}

    @property
    def ignored_headers(self) -> list[str]:
        """Headers that matched no field (or a field another header already supplies)."""
        return [c.header for c in self.columns if not c.field]

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable, for the API."""
        return {
            "total_rows": self.total_rows,
            "valid_count": self.valid_count,
            "already_imported_count": self.already_imported_count,
            "error_count": self.error_count,
            "is_valid": self.is_valid,
            "mapped_headers": self.mapped_headers,
            "ignored_headers": self.ignored_headers,
            "rows": [r.as_dict() for r in self.rows],
            "errors": [e.as_dict() for e in self.errors],
            "delimiter": self.delimiter,
            "encoding": self.encoding,
            "region": self.region,
            "dayfirst": self.dayfirst,
            "file_sha256": self.file_sha256,
        }


@dataclass(frozen=True)
class ImportResult:
    """What a commit did: `created_count` new members (ids in `member_ids`), and
    `already_imported_count` rows skipped because an earlier import created them."""

    total_rows: int
    created_count: int
    already_imported_count: int
    member_ids: list[int]


class MemberImportError(MemberError):
    """`member_import_commit` refused the file (code `import_invalid`); nothing was
    written. `errors` lists every problem, `preview` is the full analysis."""

    def __init__(self, preview: ImportPreview):
        count = len(preview.errors)
        super().__init__(
            "import_invalid",
            f"The file has {count} error{'s' if count != 1 else ''}; nothing was imported. "
            "Fix them and upload it again.",
        )
        self.preview = preview
        self.errors = preview.errors


# --- public API -------------------------------------------------------------------------------


def dayfirst_for_region(region: str | None) -> bool:
    """Whether numeric dates like 03/05/1990 are day first for a country (ISO 3166-1
    alpha-2): False for the US and the few countries in `MONTH_FIRST_REGIONS`, True
    elsewhere and when the country is unknown."""
    return (region or "").upper() not in MONTH_FIRST_REGIONS


def member_import_preview(
    *,
    data: bytes | str,
    region: str | None,
    dayfirst: bool | None = None,
    preview_rows: int = PREVIEW_ROWS,
) -> ImportPreview:
    """Analyse a CSV file of members for the current gym without writing anything.

    Args: `data` is the uploaded file (bytes, or text already decoded); `region`
    is the gym's country, ISO 3166-1 alpha-2 (e.g. `str(connection.tenant.country)`):
    phones without "+" are read as that country's numbers (without it they need a
    "+country code"), and it decides whether numeric dates are day first unless
    `dayfirst` is given. Returns an `ImportPreview` with the first `preview_rows`
    rows. Reads the gym's members once (one query) to find emails and fingerprints
    already present. Never raises for a bad file: its problems are in `errors`.
    """
    analysis = _analyse(data=data, region=region, dayfirst=dayfirst)
    return analysis.preview(preview_rows=preview_rows)


def member_import_commit(
    *,
    data: bytes | str,
    region: str | None,
    actor: User | None = None,
    dayfirst: bool | None = None,
) -> ImportResult:
    """Import a CSV file of members into the current gym: all rows or none.

    Runs the analysis of `member_import_preview` again (same arguments) inside one
    transaction, holding a per-gym lock so two imports cannot interleave. Creates a
    member (source "import", `import_fingerprint` set, joined today when the file
    gives no date) for every new row, in batches of `BULK_BATCH_SIZE`; rows an
    earlier import created are skipped and counted. `actor` (the staff user) is
    written to the log. Returns an `ImportResult`.

    Raises `MemberImportError` (a `MemberError`, code `import_invalid`, with
    `.errors`) when the file or any row has an error, and
    `MemberError("import_conflict")` when a member with one of the emails was
    created while the import ran. Nothing is written in either case.
    """
    try:
        with transaction.atomic():
            _lock_imports()
            analysis = _analyse(data=data, region=region, dayfirst=dayfirst)
            if analysis.errors:
                raise MemberImportError(analysis.preview(preview_rows=PREVIEW_ROWS))
            today = timezone.localdate()
            new_members = [_member_from(row.values, row.fingerprint, today) for row in analysis.new_rows()]
            created = Member.objects.bulk_create(new_members, batch_size=BULK_BATCH_SIZE)
    except IntegrityError as exc:
        raise MemberError(
            "import_conflict", "A member with one of these emails was added meanwhile. Preview the file again."
        ) from exc
    result = ImportResult(
        total_rows=len(analysis.rows),
        created_count=len(created),
        already_imported_count=analysis.count(RowStatus.ALREADY_IMPORTED),
        member_ids=[m.pk for m in created],
    )
    logger.info(
        "member import into %s by user %s: %d rows, %d created, %d already imported",
        connection.schema_name,  # type: ignore[attr-defined]
        actor.pk if actor else None,
        result.total_rows,
        result.created_count,
        result.already_imported_count,
    )
    return result


# --- the analysis -----------------------------------------------------------------------------


@dataclass
class _Analysis:
    rows: list[ImportRow]
    file_errors: list[ImportIssue]
    columns: list[ImportColumn]
    delimiter: str
    encoding: str
    region: str
    dayfirst: bool
    file_sha256: str

    @property
    def errors(self) -> list[ImportIssue]:
        return self.file_errors + [e for row in self.rows for e in row.errors]

    def count(self, status: RowStatus) -> int:
        return sum(1 for row in self.rows if row.status == status)

    def new_rows(self) -> Iterator[ImportRow]:
        return (row for row in self.rows if row.status == RowStatus.NEW)

    def preview(self, *, preview_rows: int) -> ImportPreview:
        return ImportPreview(
            total_rows=len(self.rows),
            valid_count=self.count(RowStatus.NEW),
            already_imported_count=self.count(RowStatus.ALREADY_IMPORTED),
            error_count=self.count(RowStatus.ERROR),
            rows=self.rows[:preview_rows],
            errors=self.errors,
            columns=self.columns,
            delimiter=self.delimiter,
            encoding=self.encoding,
            region=self.region,
            dayfirst=self.dayfirst,
            file_sha256=self.file_sha256,
        )


def _analyse(*, data: bytes | str, region: str | None, dayfirst: bool | None) -> _Analysis:
    region = (region or "").upper()
    raw = data.encode("utf-8") if isinstance(data, str) else data
    analysis = _Analysis(
        rows=[],
        file_errors=[],
        columns=[],
        delimiter=",",
        encoding="",
        region=region,
        dayfirst=dayfirst_for_region(region) if dayfirst is None else dayfirst,
        file_sha256=hashlib.sha256(raw).hexdigest(),
    )

    def fail(code: str, message: str) -> _Analysis:
        analysis.file_errors.append(ImportIssue(row=None, column=None, code=code, message=message))
        return analysis

    if len(raw) > MAX_IMPORT_BYTES:
        return fail("too_large", f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB. Split it up.")
    if isinstance(data, bytes) and data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        return fail("file_not_csv", "This is an Excel workbook, not a CSV file. Save it as CSV and upload that.")
    text, analysis.encoding = _decode(data)
    if not text.strip():
        return fail("file_empty", "The file is empty.")
    if "\x00" in text[:65536]:
        return fail("file_unreadable", "The file holds binary data, not CSV text. Save it as CSV and upload that.")
    analysis.delimiter = _sniff_delimiter(text)
    records = _Records(text, analysis.delimiter)
    try:
        header = _find_header(records)
        if header is None:
            return fail("file_empty", "The file is empty.")
        header_number, header_cells, mapping = header
        analysis.columns = [
            ImportColumn(header=h.strip(), field=mapping.field_of(i)) for i, h in enumerate(header_cells)
        ]
        if not mapping.has_name:
            seen = ", ".join(f"“{c.header}”" for c in analysis.columns if c.header) or "none"
            return fail(
                "no_name_column",
                f"No name column found (headers: {seen}). Add a “First Name” or “Name” column.",
            )
        cleaner = _RowCleaner(mapping=mapping, region=region, dayfirst=analysis.dayfirst)
        for number, cells in records:
            if not any(cell.strip() for cell in cells):
                continue
            if len(analysis.rows) == MAX_IMPORT_ROWS:
                analysis.rows = []
                return fail(
                    "too_many_rows",
                    f"The file has more than {MAX_IMPORT_ROWS:,} members. Split it into smaller files.",
                )
            analysis.rows.append(cleaner.clean(number, cells))
    except csv.Error as exc:
        analysis.rows = []
        return fail("file_unreadable", f"The file could not be read as CSV near row {records.number}: {exc}.")
    if not analysis.rows:
        return fail("no_rows", f"The file has a header (row {header_number}) but no members.")
    _check_duplicates_in_file(analysis.rows, mapping)
    _check_existing(analysis.rows, mapping)
    for row in analysis.rows:
        if row.errors:
            row.status = RowStatus.ERROR
    return analysis


def _decode(data: bytes | str) -> tuple[str, str]:
    """The file's text and the encoding it was read with."""
    if isinstance(data, str):
        return data.removeprefix("\ufeff"), "text"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding), "utf-8" if encoding == "utf-8-sig" else encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"  # decodes any bytes


def _sniff_delimiter(text: str) -> str:
    """The delimiter, by `csv.Sniffer` over the first lines, checked against the header
    line (which rarely holds a delimiter inside a cell); "," when nothing tells."""
    sample = text[:65536]
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    first = lines[0] if lines else ""
    counts = {d: first.count(d) for d in DELIMITERS}
    try:
        sniffed: str | None = csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed is not None and (counts[sniffed] or not any(counts.values())):
        return sniffed
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class _Records:
    """(row number, cells) for every record; row numbers count records as a
    spreadsheet shows them (a quoted cell with line breaks is one row)."""

    def __init__(self, text: str, delimiter: str):
        self._reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        self.number = 0

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        return self

    def __next__(self) -> tuple[int, list[str]]:
        cells = next(self._reader)
        self.number += 1
        return self.number, cells


def normalise_header(header: str) -> str:
    """ "E-mail Address" -> "emailaddress"; "DOB (dd/mm/yyyy)" -> "dob"."""
    header = re.sub(r"\([^)]*\)|\[[^\]]*\]", "", header)
    return "".join(ch for ch in header.lower() if ch.isalnum())


@dataclass
class _Mapping:
    """Which columns feed which field: field -> [(column index, header)], best first."""

    columns: dict[str, list[tuple[int, str]]]

    def field_of(self, index: int) -> str | None:
        for name, cols in self.columns.items():
            if any(i == index for i, _ in cols):
                return name
        return None

    @property
    def has_name(self) -> bool:
        return bool(NAME_FIELDS & self.columns.keys())

    def header(self, name: str) -> str | None:
        cols = self.columns.get(name)
        return cols[0][1] if cols else None


def _map_headers(cells: list[str]) -> _Mapping:
    found: dict[str, list[tuple[int, int, str]]] = {}
    for index, header in enumerate(cells):
        hit = _ALIAS_RANK.get(normalise_header(header))
        if hit:
            name, rank = hit
            found.setdefault(name, []).append((rank, index, header.strip()))
    columns: dict[str, list[tuple[int, str]]] = {}
    for name, hits in found.items():
        hits.sort()
        keep = hits if name in FALLBACK_FIELDS else hits[:1]
        columns[name] = [(index, header) for _, index, header in keep]
    # "Name" + "Surname" (common in South Africa and Europe): "Name" is the first name.
    if "full_name" in columns and "last_name" in columns and "first_name" not in columns:
        columns["first_name"] = columns.pop("full_name")
    return _Mapping(columns=columns)


def _find_header(records: _Records) -> tuple[int, list[str], _Mapping] | None:
    """The header row: the first non-blank row, or one of the next few non-blank
    rows if the first has no name column (a title line above the table)."""
    first: tuple[int, list[str], _Mapping] | None = None
    seen = 0
    for number, cells in records:
        if not any(cell.strip() for cell in cells):
            continue
        mapping = _map_headers(cells)
        if mapping.has_name:
            return number, cells, mapping
        if first is None:
            first = (number, cells, mapping)
        seen += 1
        if seen == HEADER_SEARCH_ROWS:
            break
    return first


# --- cleaning one row -------------------------------------------------------------------------


class _RowCleaner:
    def __init__(self, *, mapping: _Mapping, region: str, dayfirst: bool):
        self.mapping = mapping
        self.region = region or None
        self.dayfirst = dayfirst
        self.today = timezone.localdate()

    def _cell(self, cells: list[str], name: str) -> tuple[str, str | None]:
        """The field's value in this row (first non-empty of its columns) and its header."""
        cols = self.mapping.columns.get(name, [])
        for index, header in cols:
            value = _unescape(cells[index]) if index < len(cells) else ""
            if value:
                return value, header
        return "", cols[0][1] if cols else None

    def clean(self, number: int, cells: list[str]) -> ImportRow:
        row = ImportRow(number=number, values={})
        errors = row.errors
        values = row.values

        def error(column: str | None, code: str, message: str) -> None:
            errors.append(ImportIssue(row=number, column=column, code=code, message=message))

        # names
        first, first_col = self._cell(cells, "first_name")
        last, last_col = self._cell(cells, "last_name")
        full, full_col = self._cell(cells, "full_name")
        if full and not first and not last:
            first, last = split_full_name(full)
            first_col = last_col = full_col
        name_col = first_col or full_col
        if not first and not last:
            error(name_col, "name_missing", "Name is missing.")
        elif not first:
            error(name_col, "first_name_missing", "First name is missing.")
        values["first_name"], values["last_name"] = first, last

        email, email_col = self._cell(cells, "email")
        email = email.lower()
        if email:
            try:
                validate_email(email)
            except ValidationError:
                error(email_col, "email_invalid", f"“{email}” is not a valid email address.")
        values["email"] = email

        for name in ("phone", "emergency_contact_phone"):
            raw, col = self._cell(cells, name)
            values[name] = self._phone(raw, col, error) if raw else ""

        for name in ("date_of_birth", "joined_on"):
            raw, col = self._cell(cells, name)
            values[name] = self._date(raw, col, name, error) if raw else None

        raw, col = self._cell(cells, "gender")
        values["gender"] = self._choice(raw, col, GENDER_VALUES, "gender_invalid", "gender", error)
        raw, col = self._cell(cells, "status")
        status = self._choice(raw, col, STATUS_VALUES, "status_invalid", "status", error)
        values["status"] = status or str(Member.Status.ACTIVE)

        raw, _ = self._cell(cells, "tags")
        values["tags"] = normalise_tags(re.split(r"[;,|]", raw)) if raw else []
        values["address"] = ", ".join(part for name in ADDRESS_PARTS if (part := self._cell(cells, name)[0]))
        for name in ("emergency_contact_name", "staff_notes", "medical_notes"):
            values[name] = self._cell(cells, name)[0]

        length_columns = {
            "first_name": name_col,
            "last_name": last_col,
            "email": email_col,
            "emergency_contact_name": self.mapping.header("emergency_contact_name"),
        }
        for name, limit in MAX_LENGTHS.items():
            if len(values[name]) > limit:
                error(length_columns[name], "too_long", f"Longer than {limit} characters.")
        row.fingerprint = row_fingerprint(values)
        return row

    def _phone(self, raw: str, column: str | None, error: _Report) -> str:
        try:
            number = PhoneNumber.from_string(raw, region=self.region)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and number.is_valid():
            return number.as_e164
        if self.region is None and not raw.lstrip().startswith(("+", "00")):
            error(column, "phone_invalid", f"“{raw}” needs a country code, e.g. +27 82 123 4567.")
        else:
            where = f" for {self.region}" if self.region else ""
            error(column, "phone_invalid", f"“{raw}” is not a valid phone number{where}.")
        return ""

    def _date(self, raw: str, column: str | None, name: str, error: _Report) -> datetime.date | None:
        try:
            value = parse_date(raw, dayfirst=self.dayfirst, today=self.today)
        except ValueError as exc:
            error(column, "date_invalid", str(exc))
            return None
        if value is not None and name == "date_of_birth" and value > self.today:
            error(column, "date_in_future", f"“{raw}” is in the future.")
            return None
        return value

    @staticmethod
    def _choice(raw: str, column: str | None, choices: Mapping[str, str], code: str, label: str, error: _Report) -> str:
        if not raw:
            return ""
        value = choices.get(normalise_header(raw))
        if value is None:
            error(column, code, f"“{raw}” is not a {label} we know.")
            return ""
        return str(value)


def _unescape(cell: str) -> str:
    """A cell stripped, without the "'" our export puts before a formula character."""
    cell = cell.strip()
    if len(cell) > 1 and cell[0] == "'" and cell[1] in "=+-@":
        return cell[1:]
    return cell


def split_full_name(full: str) -> tuple[str, str]:
    """("Mary Ann", "Smith") from "Mary Ann Smith" or "Smith, Mary Ann"; keeps surname
    particles with the surname ("Jan van der Merwe" -> "Jan", "van der Merwe") and
    drops a leading title (Mr, Mrs, Dr ...); "Smith, Jr." is a suffix, not "Last, First"."""
    full = " ".join(full.split())
    head, comma, tail = full.partition(",")
    suffix = tail.strip() if comma and tail.strip().lower().rstrip(".") in _NAME_SUFFIXES else ""
    if comma and not suffix:
        return tail.strip(), head.strip()
    words = head.split(" ")
    if len(words) > 1 and words[0].lower().rstrip(".") in _HONORIFICS:
        words = words[1:]
    if len(words) == 1:
        return words[0], suffix
    cut = len(words) - 1
    while cut > 1 and words[cut - 1].lower() in _SURNAME_PARTICLES:
        cut -= 1
    return " ".join(words[:cut]), " ".join([*words[cut:], suffix]).strip()


def parse_date(raw: str, *, dayfirst: bool, today: datetime.date) -> datetime.date | None:
    """A date from a cell: ISO (1990-03-05, always year first), numeric with / . or -
    (day or month first as `dayfirst` says; two-digit years are this century up to
    `today`'s year, else the last), or written out ("5 March 1990", by dateutil).
    A time after the date is ignored; "0000-00-00" means no date (None).
    Raises ValueError with a message for people when it is not a whole date."""
    raw = raw.strip()
    if raw in _ZERO_DATES:
        return None
    try:
        return datetime.datetime.fromisoformat(raw).date()
    except ValueError:
        pass
    order = "day/month/year" if dayfirst else "month/day/year"
    match = _NUMERIC_DATE.match(raw)
    if match:
        a, _, b, c = match.groups()
        if len(a) == 4:
            year, month, day = int(a), int(b), int(c)
        elif len(c) in (2, 4) and len(a) <= 2:
            day, month = (int(a), int(b)) if dayfirst else (int(b), int(a))
            year = int(c)
            if len(c) == 2:
                year += 2000 if year <= today.year % 100 else 1900
        else:
            raise ValueError(f"“{raw}” is not a date.")
        try:
            value = datetime.date(year, month, day)
        except ValueError:
            raise ValueError(f"“{raw}” is not a valid date (read as {order}).") from None
    else:
        try:
            a_dt, b_dt = (date_parser.parse(raw, dayfirst=dayfirst, default=s) for s in _SENTINELS)
        except (ValueError, OverflowError):
            raise ValueError(f"“{raw}” is not a date.") from None
        if a_dt.date() != b_dt.date():  # a part (day, month or year) came from the default
            raise ValueError(f"“{raw}” is not a whole date (day, month and year).")
        value = a_dt.date()
    if value.year < 1900:
        raise ValueError(f"“{raw}” is before 1900.")
    return value


def row_fingerprint(values: dict[str, Any]) -> str:
    """sha256 (hex) of a row's cleaned values: the same person's row gives the same
    fingerprint however the file formats phones, dates, case, tag order or column order."""
    canonical = {**values, "tags": sorted(values.get("tags") or [])}
    payload = json.dumps([FINGERPRINT_VERSION, canonical], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# --- checks across rows and against the gym ----------------------------------------------------


def _check_duplicates_in_file(rows: Iterable[ImportRow], mapping: _Mapping) -> None:
    email_col = mapping.header("email")
    by_email: dict[str, int] = {}
    by_fingerprint: dict[str, int] = {}
    for row in rows:
        email = row.values["email"]
        if email:
            first = by_email.setdefault(email, row.number)
            if first != row.number:
                row.errors.append(
                    ImportIssue(
                        row=row.number,
                        column=email_col,
                        code="email_duplicate_in_file",
                        message=f"“{email}” is also in row {first}.",
                    )
                )
        elif not row.errors:
            first = by_fingerprint.setdefault(row.fingerprint, row.number)
            if first != row.number:
                row.errors.append(
                    ImportIssue(
                        row=row.number, column=None, code="row_duplicate", message=f"This row repeats row {first}."
                    )
                )


def _check_existing(rows: list[ImportRow], mapping: _Mapping) -> None:
    """One query over the gym's members: a row whose fingerprint exists was imported
    before (skipped); otherwise an email in use belongs to another member (error)."""
    existing = (
        Member.objects.filter(~Q(email="") | ~Q(import_fingerprint=""))
        .annotate(email_ci=Lower("email"))
        .values_list("email_ci", "import_fingerprint")
    )
    emails: set[str] = set()
    fingerprints: set[str] = set()
    for email, fingerprint in existing:
        if email:
            emails.add(email)
        if fingerprint:
            fingerprints.add(fingerprint)
    email_col = mapping.header("email")
    for row in rows:
        if not row.errors and row.fingerprint in fingerprints:
            row.status = RowStatus.ALREADY_IMPORTED
            continue
        email = row.values["email"]
        if email in emails and not any(e.code == "email_duplicate_in_file" for e in row.errors):
            row.errors.append(
                ImportIssue(
                    row=row.number,
                    column=email_col,
                    code="email_taken",
                    message=f"“{email}” already belongs to another member of this gym.",
                )
            )


# --- writing ------------------------------------------------------------------------------------


def _lock_imports() -> None:
    """A transaction-scoped lock per gym: concurrent imports into one gym run one by one."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))",
            [f"fitflow.member_import.{connection.schema_name}"],  # type: ignore[attr-defined]
        )


def _member_from(values: dict[str, Any], fingerprint: str, today: datetime.date) -> Member:
    return Member(
        first_name=values["first_name"],
        last_name=values["last_name"],
        email=values["email"],
        phone=values["phone"],
        date_of_birth=values["date_of_birth"],
        gender=values["gender"],
        address=values["address"],
        emergency_contact_name=values["emergency_contact_name"],
        emergency_contact_phone=values["emergency_contact_phone"],
        medical_notes=values["medical_notes"],
        staff_notes=values["staff_notes"],
        tags=values["tags"],
        status=values["status"],
        joined_on=values["joined_on"] or today,
        source=Member.Source.IMPORT,
        import_fingerprint=fingerprint,
    )
