"""Cleaning one data row into the values a member would get, with its errors:
`_RowCleaner` (names, email, phones to E.164, dates, gender, status, tags, address
parts, notes, length limits) and the parsers it uses: `split_full_name`,
`parse_date` (ISO, numeric day or month first by `dayfirst_for_region`, written-out
months), plus `row_fingerprint`, the sha256 of a cleaned row that makes re-uploads
idempotent. No database access.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import phonenumbers
from dateutil import parser as date_parser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from phonenumber_field.phonenumber import PhoneNumber

from ..models import Member
from ..services import normalise_tags
from .columns import ADDRESS_PARTS, _Mapping, normalise_header
from .types import ImportIssue, ImportRow

_Report = Callable[[str | None, str, str], None]  # (column, code, message)


FINGERPRINT_VERSION = 1
"""Part of every fingerprint: changing how rows are cleaned must bump it knowingly."""


# Countries that write numeric dates month first (03/05/1990 is 5 March). Everywhere
# else, numeric dates are read day first. ISO dates (1990-03-05) always work.
MONTH_FIRST_REGIONS = frozenset({"US", "AS", "GU", "MP", "PR", "UM", "VI", "PH", "FM", "MH", "PW"})


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


def dayfirst_for_region(region: str | None) -> bool:
    """Whether numeric dates like 03/05/1990 are day first for a country (ISO 3166-1
    alpha-2): False for the US and the few countries in `MONTH_FIRST_REGIONS`, True
    elsewhere and when the country is unknown."""
    return (region or "").upper() not in MONTH_FIRST_REGIONS


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
