"""Storing invoice PDFs and emailing them: the schema-prefixed path, one email with the
PDF attached (text and HTML parts) however often delivery runs, members without email,
drafts and voids, a failed send retried, PDFs brought up to date for downloads, gym
isolation, deliveries racing in threads, and the real Celery worker doing the job for
a committed invoice."""

from __future__ import annotations

import shutil
import smtplib
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from email import message_from_bytes
from pathlib import Path
from typing import cast

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import default_storage
from django.core.mail import EmailMultiAlternatives
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection
from django.db.models import Max
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.bookings.tests.test_concurrency import committed, provision_with_retry, run_in_threads
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.tenants.models import Gym

from ..delivery import invoice_deliver, invoice_delivery_reset, invoice_pdf_bytes
from ..models import Invoice
from ..services import LineInput, invoice_create, invoice_void, payment_record

pytestmark = pytest.mark.django_db
M = Decimal


class RefusingBackend(BaseEmailBackend):
    """An email backend whose server refuses every message (an SMTP outage)."""

    def send_messages(self, email_messages):  # type: ignore[no-untyped-def]
        raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")


@pytest.fixture
def gym(gym_a: Gym, settings, tmp_path: Path) -> Iterator[Gym]:
    """Gym A with invoice details and a billing email; files in a temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with tenant_context(gym_a):
        gym_a.legal_name = "Harbour Fitness (Pty) Ltd"
        gym_a.tax_number = "VAT 4123456789"
        gym_a.billing_email = "accounts@harbour.test"
        gym_a.save()
        yield gym_a


def new_invoice(**member_fields: object) -> Invoice:
    """An open invoice of 505.00 (two lines) for a new member."""
    return invoice_create(
        member=new_member(**member_fields),
        lines=[LineInput("Monthly membership", M("500.00")), LineInput("Towel hire", M("2.50"), quantity=2)],
    )


def new_member(**fields: object) -> Member:
    return cast(Member, MemberFactory(**fields))


def pdf_name(invoice: Invoice) -> str:
    """The stored PDF's name (asserting there is one)."""
    assert invoice.pdf.name, f"invoice {invoice.pk} has no stored PDF"
    return str(invoice.pdf.name)


def stored_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return bytes(handle.read())


def test_deliver_stores_the_pdf_under_the_schema_and_emails_it_once(gym: Gym) -> None:
    invoice = new_invoice(first_name="Thandi")
    # when delivered
    assert invoice_deliver(invoice.pk) == "rendered+emailed"
    invoice.refresh_from_db()
    # then the PDF is stored at <schema>/invoices/<year>/<number>.pdf
    assert invoice.pdf.name == f"{gym.schema_name}/invoices/{invoice.issue_date:%Y}/{invoice.number}.pdf"
    pdf = stored_bytes(pdf_name(invoice))
    assert pdf.startswith(b"%PDF")
    assert invoice.pdf_rendered_at is not None and invoice.emailed_at is not None
    # and one email went to the member with the PDF attached
    [message] = mail.outbox
    assert isinstance(message, EmailMultiAlternatives) and invoice.number
    assert message.to == [invoice.member.email]
    assert message.subject == f"Invoice {invoice.number} from {gym.name}"
    assert message.from_email.startswith(f"{gym.name} <") and "@" in message.from_email
    assert message.reply_to == ["accounts@harbour.test"]
    assert "Hi Thandi," in message.body and invoice.number in message.body and "£505.00" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html" and invoice.number in str(html) and "£505.00" in str(html)
    [(filename, attached, content_type)] = message.attachments
    assert (filename, content_type) == (f"{invoice.number}.pdf", "application/pdf")
    assert attached == pdf
    # as MIME: mixed(alternative(text, html), pdf)
    parsed = message_from_bytes(message.message().as_bytes())
    assert [part.get_content_type() for part in parsed.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ]
    # delivered again (a retried or duplicated task): nothing more
    assert invoice_deliver(invoice.pk) == "nothing"
    assert len(mail.outbox) == 1
    invoice.refresh_from_db()
    assert pdf_name(invoice).endswith(f"{invoice.number}.pdf")


def test_staff_can_have_an_invoice_rendered_and_emailed_again(gym: Gym) -> None:
    invoice, draft = new_invoice(), invoice_create(member=new_member(), lines=[LineInput("x", M("1.00"))], issue=False)
    invoice_deliver(invoice.pk)
    invoice.refresh_from_db()
    before = pdf_name(invoice)
    # when staff ask for it again
    assert invoice_delivery_reset(invoice_ids=[invoice.pk, draft.pk]) == 1
    # then the next delivery renders and sends once more, and only once
    assert invoice_deliver(invoice.pk) == "rendered+emailed"
    assert invoice_deliver(invoice.pk) == "nothing"
    assert len(mail.outbox) == 2
    invoice.refresh_from_db()
    assert stored_bytes(pdf_name(invoice)).startswith(b"%PDF")
    assert pdf_name(invoice) == before or not default_storage.exists(before)


def test_member_without_email_gets_the_pdf_but_no_email(gym: Gym) -> None:
    invoice = new_invoice(email="")
    assert invoice_deliver(invoice.pk) == "rendered"
    invoice.refresh_from_db()
    assert stored_bytes(pdf_name(invoice)).startswith(b"%PDF") and invoice.emailed_at is None
    assert mail.outbox == []
    assert invoice_deliver(invoice.pk) == "nothing"


def test_drafts_are_left_alone_and_void_invoices_are_not_emailed(gym: Gym) -> None:
    draft = invoice_create(member=new_member(), lines=[LineInput("Day pass", M("80.00"))], issue=False)
    assert invoice_deliver(draft.pk) == "nothing"
    draft.refresh_from_db()
    assert not draft.pdf
    # a draft can still be previewed; nothing is stored
    assert invoice_pdf_bytes(draft).startswith(b"%PDF")
    draft.refresh_from_db()
    assert not draft.pdf
    voided = invoice_void(invoice=new_invoice(), reason="Entered twice")
    assert invoice_deliver(voided.pk) == "rendered"
    assert mail.outbox == []


def test_a_failed_send_releases_the_claim_so_the_retry_sends(gym: Gym, settings) -> None:
    invoice = new_invoice()
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    with pytest.raises(smtplib.SMTPException):
        invoice_deliver(invoice.pk)
    invoice.refresh_from_db()
    assert invoice.emailed_at is None and invoice.pdf  # the PDF is kept, the email is not marked
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert invoice_deliver(invoice.pk) == "emailed"
    assert len(mail.outbox) == 1


def test_download_brings_the_pdf_up_to_date_after_payment(gym: Gym, tmp_path: Path) -> None:
    import subprocess

    invoice = new_invoice()
    invoice_deliver(invoice.pk)
    invoice.refresh_from_db()
    first_name, first_at = pdf_name(invoice), invoice.pdf_rendered_at
    # unchanged: the stored file is returned as it is
    assert invoice_pdf_bytes(invoice) == stored_bytes(first_name)
    invoice.refresh_from_db()
    assert invoice.pdf_rendered_at == first_at
    # paid after the PDF was made: rendered again, the old file replaced
    payment_record(invoice=invoice, amount=invoice.total, method="cash")
    data = invoice_pdf_bytes(invoice.pk)
    invoice.refresh_from_db()
    assert invoice.pdf_rendered_at and first_at and invoice.pdf_rendered_at > first_at
    assert pdf_name(invoice).startswith(f"{gym.schema_name}/invoices/") and stored_bytes(pdf_name(invoice)) == data
    if pdf_name(invoice) != first_name:
        assert not default_storage.exists(first_name)
    path = tmp_path / "paid.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    assert "PAID" in text
    # a missing file is rendered again rather than failing the download
    default_storage.delete(pdf_name(invoice))
    assert invoice_pdf_bytes(invoice).startswith(b"%PDF")
    invoice.refresh_from_db()
    assert default_storage.exists(pdf_name(invoice))


def _sequence_past(pk: int) -> None:
    """Move the current schema's invoice id sequence past `pk` (so ids of this gym's
    new invoices exist in no other gym used by the test)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('invoices_invoice', 'id'),"
            " GREATEST(%s, (SELECT COALESCE(MAX(id), 0) FROM invoices_invoice)) + 1000)",
            [pk],
        )


def test_gym_a_cannot_reach_gym_b_pdfs(gym: Gym, gym_b: Gym) -> None:
    own = new_invoice()
    invoice_deliver(own.pk)
    own.refresh_from_db()
    highest_in_a = Invoice.objects.aggregate(top=Max("pk"))["top"]
    with tenant_context(gym_b):
        _sequence_past(highest_in_a)
        theirs = new_invoice()
        assert invoice_deliver(theirs.pk) == "rendered+emailed"
        theirs.refresh_from_db()
    # each gym's files are under its own schema
    assert pdf_name(theirs).startswith(f"{gym_b.schema_name}/invoices/")
    assert pdf_name(own).startswith(f"{gym.schema_name}/invoices/")
    assert pdf_name(own) != pdf_name(theirs)
    # in gym A, gym B's invoice does not exist, by id or by object
    assert not Invoice.objects.filter(pk=theirs.pk).exists()
    with pytest.raises(Invoice.DoesNotExist):
        invoice_pdf_bytes(theirs.pk)
    with pytest.raises(Invoice.DoesNotExist):
        invoice_pdf_bytes(theirs)
    with pytest.raises(Invoice.DoesNotExist):
        invoice_deliver(theirs.pk)
    # and a row of gym A pointing at gym B's file is refused, not read
    Invoice.objects.filter(pk=own.pk).update(pdf=pdf_name(theirs), pdf_rendered_at=timezone.now())
    with pytest.raises(SuspiciousFileOperation):
        invoice_pdf_bytes(own.pk)


# --- committed data: racing deliveries and the real worker -------------------------------


@pytest.fixture(scope="module")
def doc_gym(django_db_blocker) -> Iterator[Gym]:
    """A gym provisioned (committed) for this module's committed-data tests, dropped
    afterwards with its files."""
    with django_db_blocker.unblock():
        gym = committed(
            lambda: provision_with_retry(
                name="Docs Gym", slug=f"docs-{uuid.uuid4().hex[:8]}", status="active", timezone="Europe/London"
            )
        )
    try:
        yield gym
    finally:
        with django_db_blocker.unblock():
            committed(lambda: gym.delete(force_drop=True))
        shutil.rmtree(Path(django_settings.MEDIA_ROOT) / gym.schema_name, ignore_errors=True)


def test_deliveries_racing_in_threads_send_one_email(doc_gym: Gym, settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")

    def arrange() -> int:
        with tenant_context(doc_gym):
            # A draft queues nothing, so no worker delivers it behind the test's back;
            # it is then opened as issuing would (number, snapshots, status).
            draft = invoice_create(member=new_member(), lines=[LineInput("Ten-class pack", M("900.00"))], issue=False)
            Invoice.objects.filter(pk=draft.pk).update(
                status=Invoice.Status.OPEN,
                number=f"INV-RACE-{draft.pk}",
                bill_to={"name": "Racer", "email": draft.member.email},
                seller={"name": doc_gym.name, "legal_name": doc_gym.name},
            )
            return int(draft.pk)

    invoice_id = committed(arrange)

    def deliver() -> str:
        with tenant_context(doc_gym):
            return invoice_deliver(invoice_id)

    outcomes = run_in_threads([deliver] * 6)
    results = [o.get("value") for o in outcomes]
    assert not [o for o in outcomes if "error" in o], outcomes
    assert sum("emailed" in str(r) for r in results) == 1
    assert len(mail.outbox) == 1 and mail.outbox[0].attachments[0][1].startswith(b"%PDF")
    with tenant_context(doc_gym):
        invoice = Invoice.objects.get(pk=invoice_id)
    # one referenced file; losers removed theirs
    folder = Path(settings.MEDIA_ROOT) / Path(pdf_name(invoice)).parent
    assert [p.name for p in folder.iterdir()] == [Path(pdf_name(invoice)).name]


def test_the_worker_renders_stores_and_emails_a_committed_invoice(celery_worker_process: None, doc_gym: Gym) -> None:
    # given an invoice issued and committed: issuing queues invoice_deliver_task on commit
    def issue() -> int:
        with tenant_context(doc_gym):
            return int(new_invoice().pk)

    invoice_id = committed(issue)
    # then the worker (queue "documents") renders, stores and emails it
    deadline = time.monotonic() + 90
    with tenant_context(doc_gym):
        while time.monotonic() < deadline:
            invoice = Invoice.objects.get(pk=invoice_id)
            if invoice.pdf and invoice.emailed_at:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("the worker did not deliver the invoice within 90 s")
    assert invoice.pdf.name == f"{doc_gym.schema_name}/invoices/{invoice.issue_date:%Y}/{invoice.number}.pdf"
    assert stored_bytes(pdf_name(invoice)).startswith(b"%PDF")
    assert invoice.pdf_rendered_at is not None
