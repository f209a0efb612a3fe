"""Invoice PDFs read back with poppler (`pdftotext -layout`, `pdfinfo -url`, `pdfimages`):
gym and member details, lines and totals as Babel formats them, the PAID / VOID stamps,
payments and credit notes, the QR pay link only where the gym takes card payments, the
signed pay token, the logo from storage, and the url_fetcher that never goes to the
network or to another gym's files."""

from __future__ import annotations

import base64
import http.server
import io
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import cast

import pytest
from babel.numbers import format_currency
from django.core import signing
from django.core.files.base import ContentFile
from django_tenants.utils import tenant_context
from PIL import Image

from apps.core.qrcodes import qr_svg_data_uri
from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.tenants.models import Gym

from ..models import Invoice
from ..pdf import (
    PAY_TOKEN_SALT,
    PdfFetchRefused,
    StorageUrlFetcher,
    credit_note_pdf_render,
    html_pdf_render,
    invoice_pay_token,
    invoice_pay_token_read,
    invoice_pdf_html,
    invoice_pdf_render,
)
from ..services import IssueOptions, LineInput, invoice_create, invoice_credit, invoice_void, payment_record
from .factories import member_on_monthly

pytestmark = pytest.mark.django_db
M = Decimal


def pdf_text(data: bytes, tmp_path: Path) -> str:
    """The PDF's text as `pdftotext -layout` reads it."""
    path = tmp_path / f"doc-{time.monotonic_ns()}.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def pdf_urls(data: bytes, tmp_path: Path) -> list[str]:
    """The link URLs inside the PDF (`pdfinfo -url`: page, type, URL)."""
    path = tmp_path / f"links-{time.monotonic_ns()}.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdfinfo", "-url", str(path)], check=True, capture_output=True, text=True).stdout
    return [line.split()[-1] for line in out.splitlines()[1:] if line.strip()]


def pdf_image_count(data: bytes, tmp_path: Path) -> int:
    path = tmp_path / f"images-{time.monotonic_ns()}.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdfimages", "-list", str(path)], check=True, capture_output=True, text=True).stdout
    return len(out.splitlines()) - 2  # two header lines


def money(amount: Decimal, currency: str = "GBP") -> str:
    return str(format_currency(amount, currency, locale="en"))


@pytest.fixture
def gym(gym_a: Gym, settings, tmp_path: Path) -> Iterator[Gym]:
    """Gym A with its invoice details, files in a temporary MEDIA_ROOT."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    with tenant_context(gym_a):
        gym_a.legal_name = "Harbour Fitness (Pty) Ltd"
        gym_a.address = "12 Quay Street\nCape Town 8001"
        gym_a.tax_number = "VAT 4123456789"
        gym_a.stripe_account_id, gym_a.stripe_charges_enabled = "", False
        gym_a.save()
        yield gym_a


def three_line_invoice(**member_fields: object) -> Invoice:
    """An open invoice: 3 lines, a 20.00 discount, 15% tax added on top."""
    fields = {"first_name": "Thandi", "last_name": "Mokoena", "address": "4 Beach Road\nMuizenberg", **member_fields}
    member = cast(Member, MemberFactory(**fields))
    return invoice_create(
        member=member,
        lines=[
            LineInput("Monthly membership, March 2026", M("500.00")),
            LineInput("Towel hire", M("2.50"), quantity=4),
            LineInput("Protein shake", M("3.75"), quantity=2),
        ],
        options=IssueOptions(tax_rate=M("15.00"), tax_inclusive=False, discount=M("20.00")),
    )


def test_invoice_pdf_reads_back_with_pdftotext(gym: Gym, tmp_path: Path) -> None:
    # given an invoice with 3 lines, a discount and tax added
    invoice = three_line_invoice()
    # when it is rendered
    started = time.perf_counter()
    data = invoice_pdf_render(invoice)
    elapsed = time.perf_counter() - started
    print(f"invoice render: {elapsed * 1000:.0f} ms, {len(data)} bytes")
    # then its text reads back
    assert data.startswith(b"%PDF")
    text = pdf_text(data, tmp_path)
    assert invoice.number and invoice.number in text
    for line in invoice.lines.all():
        row = next(r for r in text.splitlines() if line.description in r)
        assert money(line.amount) in row and money(line.unit_price) in row and f" {line.quantity} " in row
    assert "£10.00" in text and "£7.50" in text  # 4 x 2.50 and 2 x 3.75, as printed
    # subtotal 517.50, discount 20.00, tax 15% of 497.50 = 74.63 (half up), total 572.13
    assert (invoice.subtotal, invoice.discount, invoice.tax, invoice.total) == (
        M("517.50"),
        M("20.00"),
        M("74.63"),
        M("572.13"),
    )
    assert _row(text, "Subtotal").endswith(money(invoice.subtotal))
    assert _row(text, "Discount").endswith(money(-invoice.discount))
    assert _row(text, "Tax 15% (added)").endswith(money(invoice.tax))
    assert _row(text, "Total").endswith(money(invoice.total))
    assert _row(text, "Amount due").endswith("£572.13")
    # the member and the gym
    assert "Thandi Mokoena" in text and "4 Beach Road" in text and invoice.member.email in text
    assert "Harbour Fitness (Pty) Ltd" in text and "VAT 4123456789" in text and "12 Quay Street" in text
    assert "Issue date" in text and "Due date" in text and "Open" in text
    # not paid, and no online payment without Stripe
    assert "PAID" not in text and "VOID" not in text and "Scan to pay" not in text
    assert elapsed < 5


def _row(text: str, label: str) -> str:
    """The first line of `text` holding `label`, from the label on (stripped)."""
    return next(line[line.index(label) :].strip() for line in text.splitlines() if label in line)


def test_inclusive_tax_and_billing_period_of_a_membership_invoice(gym: Gym, tmp_path: Path) -> None:
    # given the sale invoice of a monthly plan at 500.00 with 15% tax included
    membership = member_on_monthly()
    invoice = Invoice.objects.get(membership=membership)
    text = pdf_text(invoice_pdf_render(invoice), tmp_path)
    # then the tax is shown as included and the period is printed
    assert _row(text, "Total").endswith("£500.00")
    assert _row(text, "Tax 15% (included)").endswith(money(invoice.tax))
    assert invoice.period_start and str(invoice.period_start.year) in _row(text, "Billing period")
    assert membership.member.full_name in text


def test_paid_invoice_shows_the_paid_stamp_and_the_payments(gym: Gym, tmp_path: Path) -> None:
    invoice = three_line_invoice()
    assert "PAID" not in pdf_text(invoice_pdf_render(invoice), tmp_path)
    # when the member pays in two parts
    payment_record(invoice=invoice, amount=M("72.13"), method="cash", reference="till 3")
    payment_record(invoice=invoice, amount=M("500.00"), method="bank_transfer", reference="EFT 99812")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    text = pdf_text(invoice_pdf_render(invoice), tmp_path)
    # then the stamp, the payments received and nothing due
    assert text.count("PAID") == 1
    assert "Payments received" in text
    assert "till 3" in _row(text, "Cash") and _row(text, "Cash").endswith("£72.13")
    assert "EFT 99812" in _row(text, "Bank transfer") and _row(text, "Bank transfer").endswith("£500.00")
    assert _row(text, "Amount paid").endswith("£572.13")
    assert _row(text, "Amount due").endswith("£0.00")
    assert "Paid on" in text


def test_void_invoice_shows_void(gym: Gym, tmp_path: Path) -> None:
    invoice = invoice_void(invoice=three_line_invoice(), reason="Entered twice")
    text = pdf_text(invoice_pdf_render(invoice), tmp_path)
    assert "VOID" in text and "Entered twice" in text and "PAID" not in text
    assert _row(text, "Amount due").endswith("£0.00")


def test_credit_notes_are_listed_and_render_on_their_own(gym: Gym, tmp_path: Path) -> None:
    invoice = three_line_invoice()
    note = invoice_credit(invoice=invoice, amount=M("72.13"), reason="Goodwill: closed for repairs")
    invoice.refresh_from_db()
    text = pdf_text(invoice_pdf_render(invoice), tmp_path)
    assert "Credit notes" in text and note.number in text and "Goodwill" in text
    assert _row(text, "Credited").endswith("£72.13")
    assert _row(text, "Amount due").endswith("£500.00")
    # the credit note's own PDF
    note_text = pdf_text(credit_note_pdf_render(note), tmp_path)
    assert invoice.number and note.number in note_text and invoice.number in note_text
    assert _row(note_text, "Total credited").endswith("£72.13")
    assert "Thandi Mokoena" in note_text and "VAT 4123456789" in note_text


def test_qr_pay_link_only_with_stripe_connected_and_something_due(gym: Gym, tmp_path: Path) -> None:
    invoice = three_line_invoice()
    # no Stripe, or an account that cannot take charges yet: no pay link
    assert pdf_urls(invoice_pdf_render(invoice), tmp_path) == []
    gym.stripe_account_id = "acct_1HarbourFit"
    gym.save()
    assert pdf_urls(invoice_pdf_render(invoice), tmp_path) == []
    # connected with charges enabled: QR code and link to the gym's pay page
    gym.stripe_charges_enabled = True
    gym.save()
    data = invoice_pdf_render(invoice)
    [link] = pdf_urls(data, tmp_path)
    host = gym.domains.get(is_primary=True).domain
    assert link.startswith(f"http://{host}/billing/pay/") and link.endswith("/")
    token = link.rsplit("/", 2)[-2]
    assert invoice_pay_token_read(token) == invoice.pk
    text = pdf_text(data, tmp_path)
    assert "Scan to pay online" in text and host in text
    html = invoice_pdf_html(invoice)
    href = re.search(r'<a href="([^"]+/billing/pay/[^"]+)"', html)
    qr = re.search(r'<img src="(data:image/svg\+xml;base64,[^"]+)"', html)
    assert href and qr and qr[1] == qr_svg_data_uri(href[1])
    assert invoice_pay_token_read(href[1].rsplit("/", 2)[-2]) == invoice.pk
    # once paid, no pay link
    payment_record(invoice=invoice, amount=invoice.total, method="cash")
    invoice.refresh_from_db()
    assert pdf_urls(invoice_pdf_render(invoice), tmp_path) == []


def test_pay_token_is_signed_expires_and_belongs_to_one_gym(gym: Gym, gym_b: Gym) -> None:
    invoice = three_line_invoice()
    token = invoice_pay_token(invoice)
    assert invoice_pay_token_read(token) == invoice.pk
    # altered
    with pytest.raises(signing.BadSignature):
        invoice_pay_token_read(token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    # signed for another purpose
    with pytest.raises(signing.BadSignature):
        invoice_pay_token_read(signing.dumps({"schema": gym.schema_name, "invoice": invoice.pk}))

    # older than 90 days
    class Signer91DaysAgo(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - 91 * 86400)

    old = Signer91DaysAgo(salt=PAY_TOKEN_SALT).sign_object({"schema": gym.schema_name, "invoice": invoice.pk})
    with pytest.raises(signing.SignatureExpired):
        invoice_pay_token_read(old)
    # gym A's token on gym B
    with tenant_context(gym_b), pytest.raises(signing.BadSignature, match="another gym"):
        invoice_pay_token_read(token)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 40), (20, 90, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_logo_is_read_from_storage(gym: Gym, tmp_path: Path) -> None:
    # given a logo uploaded to the gym's files (MEDIA_ROOT/<schema>/branding/)
    gym.logo.save("logo.png", ContentFile(_png()), save=True)
    assert str(gym.logo.name).startswith(f"{gym.schema_name}/branding/")
    invoice = three_line_invoice()
    assert invoice.seller["logo"] == gym.logo.name
    # then the PDF embeds it
    assert pdf_image_count(invoice_pdf_render(invoice), tmp_path) == 1
    # a snapshot naming a file outside the gym's schema is never read
    Invoice.objects.filter(pk=invoice.pk).update(seller={**invoice.seller, "logo": "gym_other/branding/logo.png"})
    invoice.refresh_from_db()
    assert pdf_image_count(invoice_pdf_render(invoice), tmp_path) == 0


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(_png())

    def log_message(self, *args: object) -> None:
        pass


def test_url_fetcher_refuses_network_and_foreign_files(gym: Gym, settings, tmp_path: Path) -> None:
    fetcher = StorageUrlFetcher(schema=gym.schema_name)
    for url in (
        "http://127.0.0.1/x.png",
        "https://example.com/x.css",
        "HTTP://example.com/x.css",
        "file:///etc/passwd",
        "ftp://example.com/x",
        "fitflow-media:gym_other/branding/logo.png",
        f"fitflow-media:{gym.schema_name}/../gym_other/logo.png",
        "fitflow-static:../../fitflow/settings/base.py",
    ):
        with pytest.raises(PdfFetchRefused):
            fetcher.fetch(url)
    # static files come from the finders, data URIs are decoded locally
    assert b"@page" in fetcher.fetch("fitflow-static:invoices/pdf.css").read()
    assert fetcher.fetch("data:text/plain;base64," + base64.b64encode(b"hi").decode()).read() == b"hi"
    # a document that points at a live HTTP server renders without calling it
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        html = (
            f'<html><head><link rel="stylesheet" href="{base}/x.css"></head>'
            f'<body><p>Offline</p><img src="{base}/logo.png"><img src="https://example.invalid/y.png"></body></html>'
        )
        data = html_pdf_render(html)
    finally:
        server.shutdown()
        server.server_close()
    assert data.startswith(b"%PDF") and "Offline" in pdf_text(data, tmp_path)
    assert _CountingHandler.hits == []
    assert pdf_image_count(data, tmp_path) == 0
