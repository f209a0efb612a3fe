"""Storing invoice PDFs and announcing them to members (run by `invoice_deliver_task`
on the `documents` queue, in the gym's schema with its timezone active).

- `invoice_deliver(invoice_id)`: render and store the PDF if there is none (or it is
  older than the invoice's last change), then record the member's `invoice_issued`
  notification once. The notifications app sends it on the member's channel (email
  with the PDF attached, via `apps.notifications.rendering` / `emails`, or SMS, push…).
- `invoice_pdf_bytes(invoice)`: the stored PDF for downloads and for that email,
  rendered and stored first when missing or out of date.
- `invoice_delivery_reset(invoice_ids=...)`: mark PDFs out of date and the notice
  unsent (staff's "render & email again"); the next delivery renders the PDF and
  records a new `invoice_issued` notification.

`Invoice.emailed_at` means "the `invoice_issued` notification was recorded" (when the
member is told, and on which channel, is the notification's `sent_at` / `channel`).

Idempotency keys: the first notice is `invoice_issued:invoice:<id>`, the key the
billing run records for invoices it issues (`apps.invoices.services.payments
.invoice_notification`), so an invoice is announced once whichever records first. A
resend after `invoice_delivery_reset` is `invoice_issued:invoice:<id>:resend:<n>`
(n = 1, 2, ...: one more than the resends recorded so far). A delivery is a resend
when the invoice has a stored PDF marked out of date (`pdf` set, `pdf_rendered_at`
empty), a state only the reset leaves (storing a PDF always sets both). Caveat: a
download between the reset and the delivery renders the PDF first, and the resend
is then not recorded (never a duplicate notice; staff can ask again).

Both are idempotent and safe to run twice at once:
- the PDF is stored under a name of its own, then claimed with a conditional UPDATE
  (`pdf` still what it was); the loser deletes its file, so one file stays referenced;
- the notice is claimed with `UPDATE ... SET emailed_at WHERE emailed_at IS NULL` and
  recorded by the claimer in the same transaction (`notifications_record`, sent when
  it commits), so a failure leaves neither.

Files go through `Invoice.pdf`'s storage (`STORAGES["default"]`) at
`<schema>/invoices/<year>/<number>.pdf` (`invoice_pdf_upload_to`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone

from apps.notifications.models import Notification
from apps.notifications.services import notifications_record

from .models import Invoice
from .pdf import invoice_pdf_render
from .services.payments import invoice_notification

logger = logging.getLogger(__name__)

Status = Invoice.Status
EMAILED_STATUSES = (Status.OPEN, Status.PAID)
PDF_CONTENT_TYPE = "application/pdf"


def invoice_deliver(invoice_id: int) -> str:
    """Render and store the invoice's PDF, then record the member's `invoice_issued`
    notification, each once.

    - Drafts are left alone (no number yet; a draft PDF must not outlive its issue).
    - The PDF is rendered when `pdf` is empty or older than the invoice's last change
      (`updated_at` after `pdf_rendered_at`, e.g. paid before the task ran).
    - The notice is recorded when `emailed_at` is None and the invoice is open or paid
      (void and uncollectible invoices are not announced); the notifications app picks
      the channel, or suppresses it when the member has no contact details. Invoices
      collected from a saved card are announced by their `payment_received` receipt
      (which carries the PDF) or `payment_failed` notice instead, unless staff asked
      for the email again.
    Returns what was done: "rendered+notified", "rendered", "notified" or "nothing".
    Raises `Invoice.DoesNotExist` for an id not in the current gym's schema, and
    storage or database errors (the task retries; nothing half-done is kept).
    """
    invoice = Invoice.objects.select_related("member").get(pk=invoice_id)
    if invoice.status == Status.DRAFT:
        return "nothing"
    resend = bool(invoice.pdf) and invoice.pdf_rendered_at is None  # left so by invoice_delivery_reset
    done = []
    if _pdf_outdated(invoice):
        _pdf_store(invoice)
        done.append("rendered")
    if _notice_wanted(invoice, resend=resend) and _notice_record_once(invoice, resend=resend):
        done.append("notified")
    return "+".join(done) or "nothing"


def invoice_delivery_reset(*, invoice_ids: Iterable[int]) -> int:
    """Mark open and paid invoices' PDFs out of date and their notice unrecorded
    (staff's "render & email again"), so the next `invoice_deliver` renders the PDF and
    records a new `invoice_issued` notification (key `...:resend:<n>`, see the module
    docstring) once more. The stored file stays until the new one replaces it. Returns
    how many invoices were marked (drafts, void and uncollectible ones are skipped)."""
    return Invoice.objects.filter(pk__in=list(invoice_ids), status__in=EMAILED_STATUSES).update(
        pdf_rendered_at=None, emailed_at=None
    )


def invoice_pdf_bytes(invoice: Invoice | int) -> bytes:
    """The invoice's PDF (bytes) for downloads: the stored file, rendered and stored
    first when missing or older than the invoice's last change (e.g. now paid). The
    invoice is read again by id in the CURRENT gym's schema, so an id (or object) from
    another gym raises `Invoice.DoesNotExist` or reads this gym's own row, never
    another gym's data. A draft is rendered but not stored. Raises
    `Invoice.DoesNotExist`, `SuspiciousFileOperation` (a stored name outside this
    gym's schema)."""
    invoice_id = invoice if isinstance(invoice, int) else invoice.pk
    fresh = Invoice.objects.select_related("member").get(pk=invoice_id)
    if fresh.status == Status.DRAFT:
        return invoice_pdf_render(fresh)
    if not _pdf_outdated(fresh):
        try:
            return _pdf_read(fresh)
        except FileNotFoundError:
            logger.warning("invoice %s: stored PDF %s is missing; rendering again", fresh.pk, fresh.pdf.name)
    return _pdf_store(fresh)


# --- the PDF file --------------------------------------------------------------------------


def _pdf_outdated(invoice: Invoice) -> bool:
    return not invoice.pdf or invoice.pdf_rendered_at is None or invoice.updated_at > invoice.pdf_rendered_at


def _schema_prefix() -> str:
    return f"{connection.schema_name}/"  # type: ignore[attr-defined]


def _pdf_read(invoice: Invoice) -> bytes:
    name = invoice.pdf.name or ""
    if not name.startswith(_schema_prefix()):
        raise SuspiciousFileOperation(f"Invoice PDF {name!r} is outside this gym's files.")
    with invoice.pdf.storage.open(name, "rb") as handle:
        return bytes(handle.read())


def _pdf_store(invoice: Invoice) -> bytes:
    """Render the invoice, store it as `<schema>/invoices/<year>/<number>.pdf` (the
    storage adds a suffix when the name is taken) and point `invoice.pdf` at it if the
    row still references what this call read. Returns the rendered bytes."""
    started = timezone.now()  # before reading: a change after this makes it stale again
    previous = invoice.pdf.name or ""
    data = invoice_pdf_render(invoice)
    field = invoice.pdf.field
    name = field.generate_filename(invoice, f"{invoice.number or invoice.pk}.pdf")
    storage = invoice.pdf.storage
    saved = storage.save(name, ContentFile(data), max_length=field.max_length)
    won = Invoice.objects.filter(pk=invoice.pk, pdf=previous).update(pdf=saved, pdf_rendered_at=started)
    if won:
        invoice.pdf.name, invoice.pdf_rendered_at = saved, started
        if previous and previous != saved and previous.startswith(_schema_prefix()):
            storage.delete(previous)
    else:
        # Another worker stored its rendering first; keep one file.
        storage.delete(saved)
        invoice.refresh_from_db(fields=["pdf", "pdf_rendered_at"])
    return data


# --- the notice ----------------------------------------------------------------------------


def _notice_wanted(invoice: Invoice, *, resend: bool) -> bool:
    # A card-collected invoice is announced by its receipt (`payment_received`, with the
    # PDF) or its failure notice, not twice: as Stripe sends only a receipt for a charged
    # subscription invoice. Staff's "render & email again" sends it anyway.
    if invoice.auto_collect and not resend:
        return False
    return invoice.emailed_at is None and invoice.status in EMAILED_STATUSES


def _notice_record_once(invoice: Invoice, *, resend: bool) -> bool:
    """Claim the invoice's notice (conditional UPDATE of `emailed_at`) and record its
    `invoice_issued` notification in the same transaction; True when this call claimed
    it, False when another run did first."""
    notice = invoice_notification(invoice, "invoice_issued")
    with transaction.atomic():
        claimed_at = timezone.now()
        if not Invoice.objects.filter(pk=invoice.pk, emailed_at__isnull=True).update(emailed_at=claimed_at):
            return False
        if resend:
            prefix = f"{notice.idempotency_key}:resend:"
            count = Notification.objects.filter(idempotency_key__startswith=prefix).count() + 1
            notice = dataclasses.replace(
                notice, idempotency_key=f"{prefix}{count}", data={**notice.data, "resend": count}
            )
        notifications_record([notice])
    invoice.emailed_at = claimed_at
    return True
