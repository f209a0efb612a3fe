"""Storing invoice PDFs and announcing them: the schema-prefixed path, one
`invoice_issued` notification however often delivery runs (shared with the billing
run's key), its email carrying the stored PDF (text and HTML parts, read back with
pdftotext), "render & email again" recording one resend each time, drafts and voids,
PDFs brought up to date for downloads, gym isolation, deliveries racing in threads, and
the real Celery worker doing the job for a committed invoice."""

from __future__ import annotations

import shutil
import subprocess
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
from django.db import connection
from django.db.models import Max
from django.utils import timezone
from django_tenants.utils import tenant_context

from apps.bookings.tests.test_concurrency import committed, provision_with_retry, run_in_threads
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.notifications.emails import notification_email
from apps.notifications.models import MessagingSettings, Notification
from apps.notifications.rendering import notification_render
from apps.notifications.services import notifications_record
from apps.tenants.models import Gym

from ..delivery import invoice_deliver, invoice_delivery_reset, invoice_pdf_bytes
from ..models import Invoice
from ..services import LineInput, invoice_create, invoice_void, payment_record
from ..services.payments import invoice_notification

pytestmark = pytest.mark.django_db
M = Decimal


@pytest.fixture
def gym(gym_a: Gym, settings, tmp_path: Path) -> Iterator[Gym]:
    """Gym A with invoice details; files in a temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with tenant_context(gym_a):
        gym_a.legal_name = "Harbour Fitness (Pty) Ltd"
        gym_a.tax_number = "VAT 4123456789"
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


def notices(invoice: Invoice) -> list[Notification]:
    """The invoice's `invoice_issued` notifications, oldest first."""
    key = f"invoice_issued:invoice:{invoice.pk}"
    return list(
        Notification.objects.filter(kind="invoice_issued", idempotency_key__startswith=key)
        .select_related("member")
        .order_by("pk")
    )


def pdftotext(data: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True
    ).stdout.decode()


def email_of(notification: Notification, gym: Gym, config: MessagingSettings | None = None) -> EmailMultiAlternatives:
    """The email the send pipeline makes of `notification` (rendered, then built)."""
    config = config or MessagingSettings()
    rendered = notification_render(notification, member=notification.member, gym=gym, config=config, channel="email")
    return notification_email(notification, member=notification.member, gym=gym, config=config, rendered=rendered)


def test_deliver_stores_the_pdf_under_the_schema_and_records_the_notice_once(gym: Gym) -> None:
    invoice = new_invoice(first_name="Thandi")
    # when delivered
    assert invoice_deliver(invoice.pk) == "rendered+notified"
    invoice.refresh_from_db()
    # then the PDF is stored at <schema>/invoices/<year>/<number>.pdf
    assert invoice.pdf.name == f"{gym.schema_name}/invoices/{invoice.issue_date:%Y}/{invoice.number}.pdf"
    pdf = stored_bytes(pdf_name(invoice))
    assert pdf.startswith(b"%PDF") and invoice.number and invoice.number in pdftotext(pdf)
    assert invoice.pdf_rendered_at is not None and invoice.emailed_at is not None
    # and one invoice_issued notification is recorded for the member, keyed as billing keys it
    [notice] = notices(invoice)
    assert notice.idempotency_key == f"invoice_issued:invoice:{invoice.pk}"
    assert (notice.member_id, notice.status, notice.category) == (invoice.member_id, "pending", "transactional")
    assert notice.data == {"invoice_id": invoice.pk, "number": invoice.number, "total": "505.00"}
    assert mail.outbox == []  # sending is the notifications app's job, after the commit
    # delivered again (a retried or duplicated task): nothing more
    assert invoice_deliver(invoice.pk) == "nothing"
    assert len(notices(invoice)) == 1
    # the email that notification becomes carries the stored PDF
    config = MessagingSettings(reply_to="accounts@harbour.test")
    message = email_of(notice, gym, config)
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
    assert "505.00" in pdftotext(attached)
    # as MIME: mixed(alternative(text, html), pdf)
    parsed = message_from_bytes(message.message().as_bytes())
    assert [part.get_content_type() for part in parsed.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ]


def test_an_invoice_the_billing_run_announced_is_not_announced_twice(gym: Gym) -> None:
    # given an invoice whose notice the billing run recorded when it issued it
    invoice = new_invoice()
    assert notifications_record([invoice_notification(invoice, "invoice_issued")])
    # when its delivery runs: the same key, so no second notice
    assert invoice_deliver(invoice.pk) == "rendered+notified"
    assert [n.idempotency_key for n in notices(invoice)] == [f"invoice_issued:invoice:{invoice.pk}"]
    # and the PDF is stored
    invoice.refresh_from_db()
    assert stored_bytes(pdf_name(invoice)).startswith(b"%PDF")


def test_staff_can_have_an_invoice_rendered_and_emailed_again(gym: Gym) -> None:
    invoice, draft = new_invoice(), invoice_create(member=new_member(), lines=[LineInput("x", M("1.00"))], issue=False)
    invoice_deliver(invoice.pk)
    invoice.refresh_from_db()
    before = pdf_name(invoice)
    # when staff ask for it again
    assert invoice_delivery_reset(invoice_ids=[invoice.pk, draft.pk]) == 1
    # then the next delivery renders and records a new notice once, and only once
    assert invoice_deliver(invoice.pk) == "rendered+notified"
    assert invoice_deliver(invoice.pk) == "nothing"
    base = f"invoice_issued:invoice:{invoice.pk}"
    assert [n.idempotency_key for n in notices(invoice)] == [base, f"{base}:resend:1"]
    invoice.refresh_from_db()
    assert stored_bytes(pdf_name(invoice)).startswith(b"%PDF")
    assert pdf_name(invoice) == before or not default_storage.exists(before)
    # and again: a second resend
    invoice_delivery_reset(invoice_ids=[invoice.pk])
    assert invoice_deliver(invoice.pk) == "rendered+notified"
    assert [n.idempotency_key for n in notices(invoice)] == [base, f"{base}:resend:1", f"{base}:resend:2"]
    # each resend is the same invoice email, with the fresh PDF
    invoice.refresh_from_db()
    [(_, attached, _)] = email_of(notices(invoice)[-1], gym).attachments
    assert attached == stored_bytes(pdf_name(invoice))


def test_a_reset_before_the_first_delivery_announces_once(gym: Gym) -> None:
    # given an invoice whose first delivery has not run yet (worker backlog)
    invoice = new_invoice()
    invoice_delivery_reset(invoice_ids=[invoice.pk])
    # then its one delivery records one notice, under the first key
    assert invoice_deliver(invoice.pk) == "rendered+notified"
    assert [n.idempotency_key for n in notices(invoice)] == [f"invoice_issued:invoice:{invoice.pk}"]


def test_member_without_email_gets_the_pdf_and_a_notice_for_another_channel(gym: Gym) -> None:
    invoice = new_invoice(email="")
    # the notice is recorded: the notifications app picks SMS / push, or suppresses it
    assert invoice_deliver(invoice.pk) == "rendered+notified"
    invoice.refresh_from_db()
    assert stored_bytes(pdf_name(invoice)).startswith(b"%PDF")
    assert len(notices(invoice)) == 1 and mail.outbox == []
    assert invoice_deliver(invoice.pk) == "nothing"


def test_drafts_are_left_alone_and_void_invoices_are_not_announced(gym: Gym) -> None:
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
    assert notices(draft) == [] and notices(voided) == []


def test_download_brings_the_pdf_up_to_date_after_payment(gym: Gym, tmp_path: Path) -> None:
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
    assert "PAID" in pdftotext(data)
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
        assert invoice_deliver(theirs.pk) == "rendered+notified"
        theirs.refresh_from_db()
        assert len(notices(theirs)) == 1
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


def test_deliveries_racing_in_threads_record_one_notice(doc_gym: Gym, settings, tmp_path: Path) -> None:
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
    assert sum("notified" in str(r) for r in results) == 1
    with tenant_context(doc_gym):
        invoice = Invoice.objects.get(pk=invoice_id)
        assert [n.idempotency_key for n in notices(invoice)] == [f"invoice_issued:invoice:{invoice_id}"]
    # one referenced file; losers removed theirs
    folder = Path(settings.MEDIA_ROOT) / Path(pdf_name(invoice)).parent
    assert [p.name for p in folder.iterdir()] == [Path(pdf_name(invoice)).name]


def test_the_worker_renders_stores_and_emails_a_committed_invoice(celery_worker_process: None, doc_gym: Gym) -> None:
    # given an invoice issued and committed: issuing queues invoice_deliver_task on commit
    def issue() -> int:
        with tenant_context(doc_gym):
            return int(new_invoice().pk)

    invoice_id = committed(issue)
    # then the worker (queue "documents") renders and stores the PDF and records the
    # notice, whose commit queues its sending (queue "celery"), which emails it
    deadline = time.monotonic() + 90
    with tenant_context(doc_gym):
        while time.monotonic() < deadline:
            invoice = Invoice.objects.get(pk=invoice_id)
            sent = [n for n in notices(invoice) if n.status in ("sent", "failed")]
            if invoice.pdf and invoice.emailed_at and sent:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("the worker did not deliver and email the invoice within 90 s")
    assert invoice.pdf.name == f"{doc_gym.schema_name}/invoices/{invoice.issue_date:%Y}/{invoice.number}.pdf"
    assert stored_bytes(pdf_name(invoice)).startswith(b"%PDF")
    assert invoice.pdf_rendered_at is not None
    [notice] = sent
    assert (notice.status, notice.channel, notice.error) == ("sent", "email", "")
    assert notice.subject == f"Invoice {invoice.number} from {doc_gym.name}"
    assert notice.recipient == notice.member.email != ""
