"""Writing an import: `member_import_commit` analyses the file again inside one
transaction under a per-gym advisory lock (`_lock_imports`), refuses it whole when
any row has an error, and bulk-creates a member for every new row (`_member_from`).
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.accounts.models import User

from ..errors import MemberError
from ..models import Member
from .preview import PREVIEW_ROWS, _analyse
from .types import ImportResult, MemberImportError, RowStatus

logger = logging.getLogger("apps.members.imports")  # the name it logged under before the package split

BULK_BATCH_SIZE = 1_000
"""Members per INSERT in `member_import_commit`."""


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
