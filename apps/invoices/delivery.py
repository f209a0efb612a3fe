"""Storing invoice PDFs and emailing them to members (run by `invoice_deliver_task` on
the `documents` queue, in the gym's schema with its timezone active).

- `invoice_deliver(invoice_id)`: render and store the PDF if there is none (or it is
  older than the invoice's last change), then email it once to the member.
- `invoice_pdf_bytes(invoice)`: the stored PDF for downloads, rendered and stored first
  when missing or out of date.
- `invoice_delivery_reset(invoice_ids=...)`: mark PDFs out of date and emails unsent
  (staff's "render & email again"); the next delivery does both once more.

Both are idempotent and safe to run twice at once:
- the PDF is stored under a name of its own, then claimed with a conditional UPDATE
  (`pdf` still what it was); the loser deletes its file, so one file stays referenced;
- the email is claimed first with `UPDATE ... SET emailed_at WHERE emailed_at IS NULL`
  and sent only by the claimer; a failed send clears the claim and re-raises, so the
  task's retry sends it (at most one email per invoice, barring a crash between the SMTP
  hand-off and the next statement).

Files go through `Invoice.pdf`'s storage (`STORAGES["default"]`) at
`<schema>/invoices/<year>/<number>.pdf` (`invoice_pdf_upload_to`). Email uses Django's
email API only, so any `EMAIL_BACKEND` (SMTP, anymail, locmem in tests) works.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from email.utils import formataddr, parseaddr
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.mail import EmailMultiAlternatives
from django.db import connection
from django.template.loader import render_to_string
from django.utils import timezone

from apps.tenants.models import Gym
from apps.tenants.selectors import current_gym

from .models import Invoice
from .pdf import Formatter, invoice_pay_link, invoice_pay_link_shown, invoice_pdf_render, invoice_period_text

logger = logging.getLogger(__name__)

Status = Invoice.Status
EMAILED_STATUSES = (Status.OPEN, Status.PAID)
PDF_CONTENT_TYPE = "application/pdf"


def invoice_deliver(invoice_id: int) -> str:
    """Render and store the invoice's PDF, then email it to the member, each once.

    - Drafts are left alone (no number yet; a draft PDF must not outlive its issue).
    - The PDF is rendered when `pdf` is empty or older than the invoice's last change
      (`updated_at` after `pdf_rendered_at`, e.g. paid before the task ran).
    - The email goes when `emailed_at` is None, the invoice is open or paid, and the
      member has an email address (void and uncollectible invoices are not emailed).
    Returns what was done: "rendered+emailed", "rendered", "emailed" or "nothing".
    Raises `Invoice.DoesNotExist` for an id not in the current gym's schema, and the
    email backend's error (e.g. `smtplib.SMTPException`, an `OSError`) after clearing
    the claim, so the task retries.
    """
    invoice = Invoice.objects.select_related("member").get(pk=invoice_id)
    if invoice.status == Status.DRAFT:
        return "nothing"
    done = []
    pdf: bytes | None = None
    if _pdf_outdated(invoice):
        pdf = _pdf_store(invoice)
        done.append("rendered")
    if _email_wanted(invoice) and _email_send_once(invoice, pdf=pdf):
        done.append("emailed")
    return "+".join(done) or "nothing"


def invoice_delivery_reset(*, invoice_ids: Iterable[int]) -> int:
    """Mark open and paid invoices' PDFs out of date and their email unsent (staff's
    "render & email again"), so the next `invoice_deliver` renders and sends each once
    more. The stored file stays until the new one replaces it. Returns how many invoices
    were marked (drafts, void and uncollectible ones are skipped)."""
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


# --- the email -----------------------------------------------------------------------------


def _recipient(invoice: Invoice) -> str:
    return (invoice.member.email or str((invoice.bill_to or {}).get("email") or "")).strip()


def _email_wanted(invoice: Invoice) -> bool:
    return invoice.emailed_at is None and invoice.status in EMAILED_STATUSES and bool(_recipient(invoice))


def invoice_email_build(invoice: Invoice, *, pdf: bytes, gym: Gym | None = None) -> EmailMultiAlternatives:
    """The invoice email to the member: subject "Invoice <number> from <gym>", a text
    body with an HTML alternative (gym-branded, from `templates/invoices/email/`), the
    PDF attached as `<number>.pdf`. From: `DEFAULT_FROM_EMAIL`'s address with the gym's
    name; Reply-To: `Gym.billing_email` when set."""
    gym = gym or current_gym()
    context = invoice_email_context(invoice, gym=gym)
    subject = " ".join(render_to_string("invoices/email/invoice_subject.txt", context).split())
    text = render_to_string("invoices/email/invoice_issued.txt", context)
    html = render_to_string("invoices/email/invoice_issued.html", context)
    from_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=formataddr((gym.name, from_address)),
        to=[_recipient(invoice)],
        reply_to=[gym.billing_email] if gym.billing_email else None,
        headers={"X-FitFlow-Invoice": invoice.number or str(invoice.pk)},
    )
    message.attach_alternative(html, "text/html")
    message.attach(f"{invoice.number or invoice.pk}.pdf", pdf, PDF_CONTENT_TYPE)
    return message


def invoice_email_context(invoice: Invoice, *, gym: Gym) -> dict[str, Any]:
    """What the invoice email templates print (money formatted in the invoice currency)."""
    fmt = Formatter(currency=invoice.currency or gym.currency)
    seller = invoice.seller or {}
    return {
        "gym_name": gym.name,
        "legal_name": seller.get("legal_name") or gym.legal_name or gym.name,
        "address_lines": [line.strip() for line in str(seller.get("address") or "").splitlines() if line.strip()],
        "tax_number": seller.get("tax_number") or "",
        "member_name": invoice.member.first_name or str((invoice.bill_to or {}).get("name") or ""),
        "number": invoice.number,
        "issue_date": fmt.date(invoice.issue_date),
        "due_date": fmt.date(invoice.due_date),
        "period": invoice_period_text(invoice, fmt),
        "total": fmt.money(invoice.total),
        "amount_due": fmt.money(invoice.amount_due),
        "paid": invoice.status == Status.PAID,
        "pay_link": invoice_pay_link(invoice, gym=gym) if invoice_pay_link_shown(invoice, gym=gym) else "",
    }


def _email_send_once(invoice: Invoice, *, pdf: bytes | None) -> bool:
    """Claim the invoice's email (conditional UPDATE), send it, and return True; False
    when another run claimed it first. A failed send clears the claim and re-raises."""
    message = invoice_email_build(invoice, pdf=pdf if pdf is not None else _pdf_read(invoice))
    claimed_at = timezone.now()
    if not Invoice.objects.filter(pk=invoice.pk, emailed_at__isnull=True).update(emailed_at=claimed_at):
        return False
    try:
        message.send()
    except Exception:
        Invoice.objects.filter(pk=invoice.pk, emailed_at=claimed_at).update(emailed_at=None)
        raise
    invoice.emailed_at = claimed_at
    return True
