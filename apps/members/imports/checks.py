"""Checks that need more than one row: `_check_duplicates_in_file` (an email, or a
whole row, repeated within the file) and `_check_existing` (one query over the
gym's members: rows an earlier import created are marked already imported, and an
email that belongs to another member is an error).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q
from django.db.models.functions import Lower

from ..models import Member
from .columns import _Mapping
from .types import ImportIssue, ImportRow, RowStatus


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
