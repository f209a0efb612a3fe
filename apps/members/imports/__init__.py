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

The package, by module (import from `apps.members.imports`, which re-exports the
public names):
- `types`: `ImportPreview`, `ImportResult`, `ImportRow`, `ImportIssue`,
  `ImportColumn`, `RowStatus`, `MemberImportError`;
- `decoding`: bytes to text, the delimiter, the records and the header row;
- `columns`: `FIELD_ALIASES`, `normalise_header` and the header-to-field mapping;
- `cleaning`: one row's values and errors (`split_full_name`, `parse_date`,
  `dayfirst_for_region`, `row_fingerprint`);
- `checks`: duplicates within the file and against the gym's members;
- `preview`: the analysis, the limits and `member_import_preview`;
- `commit`: `member_import_commit`.
The limits are read where they are used: patch
`apps.members.imports.preview.MAX_IMPORT_ROWS` (not the re-exported name) to change one.

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

from .cleaning import (
    FINGERPRINT_VERSION,
    MONTH_FIRST_REGIONS,
    dayfirst_for_region,
    parse_date,
    row_fingerprint,
    split_full_name,
)
from .columns import FIELD_ALIASES, normalise_header
from .commit import BULK_BATCH_SIZE, member_import_commit
from .preview import MAX_IMPORT_BYTES, MAX_IMPORT_ROWS, PREVIEW_ROWS, member_import_preview
from .types import ImportColumn, ImportIssue, ImportPreview, ImportResult, ImportRow, MemberImportError, RowStatus

__all__ = [
    "BULK_BATCH_SIZE",
    "FIELD_ALIASES",
    "FINGERPRINT_VERSION",
    "MAX_IMPORT_BYTES",
    "MAX_IMPORT_ROWS",
    "MONTH_FIRST_REGIONS",
    "PREVIEW_ROWS",
    "ImportColumn",
    "ImportIssue",
    "ImportPreview",
    "ImportResult",
    "ImportRow",
    "MemberImportError",
    "RowStatus",
    "dayfirst_for_region",
    "member_import_commit",
    "member_import_preview",
    "normalise_header",
    "parse_date",
    "row_fingerprint",
    "split_full_name",
]
