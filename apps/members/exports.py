"""CSV export of members: the full list or a selection, streamed line by line.

The headers are ones `apps.members.imports` reads back, so an export of one gym
imports into another. Phones are E.164, dates ISO (YYYY-MM-DD), tags joined by ";".
Medical notes are a column only when the caller allows them (never for a
receptionist). Text cells that a spreadsheet would run as a formula (starting with
= + - @, a tab or a carriage return) get a leading "'" (OWASP "CSV injection");
the importer removes it again.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.memberships.models import CURRENT_STATUSES, Membership
from apps.memberships.selectors import membership_sort_current

from .models import Member

EXPORT_CHUNK_SIZE = 2_000
"""Members fetched per round trip (each chunk: one members query + one memberships query)."""

HEADERS = [
    "Member ID",
    "First Name",
    "Last Name",
    "Email",
    "Phone",
    "Date of Birth",
    "Gender",
    "Address",
    "Emergency Contact",
    "Emergency Phone",
    "Tags",
    "Source",
    "Status",
    "Join Date",
    "Current Plan",
    "Membership Status",
    "Staff Notes",
]
MEDICAL_HEADER = "Medical Notes"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    """A file-like object whose `write` hands the line back (Django's streaming CSV recipe)."""

    def write(self, value: str) -> str:
        return value


def member_export_csv(*, members: QuerySet[Member], include_medical: bool, excel_bom: bool = True) -> Iterator[str]:
    """The members as CSV, one string per line (header first), for a
    `StreamingHttpResponse`.

    Args: `members` in the order to export, best from
    `apps.members.selectors.member_list` (its `current_memberships` prefetch is
    added here when missing); `include_medical` adds the "Medical Notes" column:
    pass False for anyone below trainer. `excel_bom` starts the file with a UTF-8
    byte-order mark so Excel shows accents correctly. A member's current memberships
    are listed most current first (`membership_sort_current`, as of today in the
    active timezone when this is called).

    Queries: two per `EXPORT_CHUNK_SIZE` members, none per member. The lines are
    produced lazily, in the gym that was current when this was called, even if the
    response is streamed after the request's tenant was reset.
    """
    tenant = connection.tenant  # type: ignore[attr-defined]
    members = _with_current_memberships(members)
    today = timezone.localdate()  # taken now, in the gym timezone of the request; the rows stream later
    return _lines(tenant=tenant, members=members, include_medical=include_medical, excel_bom=excel_bom, today=today)


def _lines(
    *, tenant: Any, members: QuerySet[Member], include_medical: bool, excel_bom: bool, today: datetime.date
) -> Iterator[str]:
    writer = csv.writer(_Line())
    header = [*HEADERS, MEDICAL_HEADER] if include_medical else HEADERS
    yield ("\ufeff" if excel_bom else "") + writer.writerow(header)
    with tenant_context(tenant):
        for member in members.iterator(chunk_size=EXPORT_CHUNK_SIZE):
            yield writer.writerow(member_csv_row(member, include_medical=include_medical, today=today))


def member_csv_row(member: Member, *, include_medical: bool, today: datetime.date) -> list[str]:
    """One member's cells, in the order of `HEADERS` (+ medical notes when allowed).
    Uses `member.current_memberships` when prefetched. The current memberships are
    listed in `membership_sort_current` order as of `today` (gym-local): the member's
    current one first."""
    current: list[Membership] = getattr(member, "current_memberships", None)  # type: ignore[assignment]
    if current is None:
        current = [m for m in member.memberships.select_related("plan") if m.is_current]
    current = membership_sort_current(current, today=today)
    row = [
        str(member.pk),
        _text(member.first_name),
        _text(member.last_name),
        _text(member.email),
        member.phone.as_e164 if member.phone else "",
        member.date_of_birth.isoformat() if member.date_of_birth else "",
        str(member.get_gender_display()) if member.gender else "",
        _text(member.address),
        _text(member.emergency_contact_name),
        member.emergency_contact_phone.as_e164 if member.emergency_contact_phone else "",
        _text(";".join(member.tags)),
        str(member.get_source_display()),
        str(member.get_status_display()),
        member.joined_on.isoformat() if member.joined_on else "",
        _text("; ".join(m.plan.name for m in current)),
        "; ".join(str(m.get_status_display()) for m in current),
        _text(member.staff_notes),
    ]
    if include_medical:
        row.append(_text(member.medical_notes))
    return row


def _text(value: str) -> str:
    """A free-text cell, with "'" before a leading formula character."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def _with_current_memberships(members: QuerySet[Member]) -> QuerySet[Member]:
    lookups = getattr(members, "_prefetch_related_lookups", ())
    if any(getattr(lookup, "to_attr", None) == "current_memberships" for lookup in lookups):
        return members
    current = Membership.objects.filter(status__in=CURRENT_STATUSES).select_related("plan")
    return members.prefetch_related(Prefetch("memberships", queryset=current, to_attr="current_memberships"))
