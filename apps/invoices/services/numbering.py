"""Gapless document numbers per gym: `INV-2026-000123`, `CN-2026-000004`.

A number is taken by one `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` on the gym's
`DocumentSequence` row for (kind, year). The row stays locked until the caller's
transaction ends, so concurrent issuers queue up on it; a transaction that rolls back
gives its number back. That is the whole guarantee: numbers are only taken inside the
transaction that saves the numbered document, so there are no gaps (DESIGN.md 6;
EU VAT Directive 2006/112/EC art. 226(2): "a sequential number ... which uniquely
identifies the invoice").
"""

from __future__ import annotations

from django.db import connection, transaction

from ..models import DocumentSequence

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"


def document_number_take(*, kind: str, prefix: str, year: int) -> str:
    """The next number of `kind` (`invoice` or `credit_note`) for `year` in the current
    gym, formatted `<prefix>-<year>-<6 digits>`. Must run inside the transaction that
    saves the document (raises `TransactionManagementError` outside one)."""
    return document_numbers_take(kind=kind, prefix=prefix, year=year, count=1)[0]


def document_numbers_take(*, kind: str, prefix: str, year: int, count: int) -> list[str]:
    """The next `count` numbers of `kind` for `year`, in order, taken with one statement
    (the billing run numbers a whole batch of invoices at once). Same rules as
    `document_number_take`: inside the documents' transaction, which keeps the counter
    row locked until it ends, so the block is consecutive and given back on rollback.
    Raises `TransactionManagementError` outside a transaction, `ValueError` for
    `count` < 1."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if not transaction.get_connection().in_atomic_block:
        raise transaction.TransactionManagementError("document numbers are taken inside the document's transaction")
    table = DocumentSequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (kind, year, last_number) VALUES (%s, %s, %s)"  # noqa: S608 (model's own table)
            f" ON CONFLICT (kind, year) DO UPDATE SET last_number = {table}.last_number + EXCLUDED.last_number"
            " RETURNING last_number",
            [kind, year, count],
        )
        (last,) = cursor.fetchone()
    return [f"{prefix}-{year}-{number:06d}" for number in range(last - count + 1, last + 1)]
