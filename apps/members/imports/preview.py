"""The analysis of a file and the preview built from it: `_analyse` runs decoding,
header mapping, row cleaning and the cross-row checks, and enforces the file limits
(`MAX_IMPORT_BYTES`, `MAX_IMPORT_ROWS`); `member_import_preview` returns its
`ImportPreview` without writing anything. `member_import_commit` (commit.py) runs the
same `_analyse` again before it writes.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from .checks import _check_duplicates_in_file, _check_existing
from .cleaning import _RowCleaner, dayfirst_for_region
from .decoding import _decode, _find_header, _Records, _sniff_delimiter
from .types import ImportColumn, ImportIssue, ImportPreview, ImportRow, RowStatus

MAX_IMPORT_ROWS = 50_000
"""Data rows (not counting the header or blank rows) one file may hold."""
MAX_IMPORT_BYTES = 20 * 1024 * 1024
"""File size refused outright (20 MiB; 50,000 rows of a typical export are ~8 MB).
Upload pages should check `UploadedFile.size` against it before reading the file."""
PREVIEW_ROWS = 50
"""How many rows `ImportPreview.rows` carries for display."""


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
