"""What an import reports: `RowStatus` (what the commit does with a row), `ImportIssue`
(one problem, of a row or of the whole file), `ImportRow` (one data row cleaned),
`ImportColumn` (a header and the field it maps to), `ImportPreview` (the whole
analysis of a file), `ImportResult` (what a commit created) and `MemberImportError`
(the commit refused the file). Plain data, no database access; every other module of
the package builds or reads these.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import MemberError


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
