"""Invoice and credit note PDFs, rendered with WeasyPrint, and the signed pay link that
an open invoice's QR code carries.

- `invoice_pdf_render(invoice) -> bytes`: a clean A4 invoice (DESIGN.md 6). What it
  prints about the gym and the member comes from the invoice's `seller` / `bill_to`
  snapshots, so a document reads the same whenever it is rendered again; money is
  formatted by Babel in the invoice's currency.
- `credit_note_pdf_render(note) -> bytes`: the same for a credit note.
- `invoice_pay_token(invoice)` / `invoice_pay_token_read(token)`: the signed token in
  `https://<gym host>/billing/pay/<token>/` (salt `invoices.pay`, payload: the gym's
  schema and the invoice id, valid 90 days).
- `StorageUrlFetcher`: WeasyPrint's `url_fetcher`. Templates name files as
  `fitflow-static:<path>` (static files, through the staticfiles finders, then
  STATIC_ROOT's storage) and `fitflow-media:<name>` (the default storage, only names
  under the current gym's schema). `data:` URIs are decoded locally; every other URL
  (http, https, file, ftp) is refused, so rendering never touches the network or the
  local disk outside storage.

Rendering takes no locks and writes nothing; storing and emailing the PDF is
`apps.invoices.delivery`. Fonts are the system's (DejaVu Sans on Debian); each thread
keeps one fontconfig set-up, which saves most of a render's time after the first.
"""

from __future__ import annotations

import datetime
import mimetypes
import posixpath
import threading
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency, format_percent
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core import signing
from django.core.files.storage import default_storage
from django.db import connection
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from apps.core.qrcodes import qr_svg_data_uri
from apps.tenants.models import Gym
from apps.tenants.selectors import current_gym, gym_base_url

from .models import ZERO, CreditNote, Invoice, Payment

PAY_TOKEN_SALT = "invoices.pay"
PAY_TOKEN_MAX_AGE = datetime.timedelta(days=90)
# The member-facing pay page on the gym's host (`/billing/pay/<token>/`, the pages of
# this app); reversed in the tenant URLconf, which tasks have no request to pick.
PAY_URL_NAME = "invoices:pay-link"

STATIC_SCHEME = "fitflow-static"
MEDIA_SCHEME = "fitflow-media"
INVOICE_TEMPLATE = "invoices/pdf/invoice.html"
CREDIT_NOTE_TEMPLATE = "invoices/pdf/credit_note.html"


# --- the pay link ------------------------------------------------------------------------


def invoice_pay_token(invoice: Invoice) -> str:
    """A signed, timestamped token naming `invoice` in the current gym:
    `{"schema": <schema name>, "invoice": <id>}` signed with salt `invoices.pay`
    (django.core.signing; the timestamp lets the reader expire it)."""
    payload = {"schema": str(connection.schema_name), "invoice": int(invoice.pk)}  # type: ignore[attr-defined]
    return signing.dumps(payload, salt=PAY_TOKEN_SALT)


def invoice_pay_token_read(token: str) -> int:
    """The invoice id in a pay token made by `invoice_pay_token` in the CURRENT gym.

    Raises `signing.SignatureExpired` when older than 90 days, and
    `signing.BadSignature` when forged, altered, malformed or made in another gym
    (the schema in the token is not the connection's)."""
    data = signing.loads(token, salt=PAY_TOKEN_SALT, max_age=PAY_TOKEN_MAX_AGE)
    if not isinstance(data, dict) or not isinstance(data.get("invoice"), int):
        raise signing.BadSignature("Malformed pay token.")
    if data.get("schema") != connection.schema_name:  # type: ignore[attr-defined]
        raise signing.BadSignature("This pay link belongs to another gym.")
    return int(data["invoice"])


def invoice_pay_link(invoice: Invoice, *, gym: Gym) -> str:
    """The absolute URL of the invoice's pay page on the gym's host, e.g.
    `https://harbour.fitflow.app/billing/pay/<token>/` (scheme from
    `FITFLOW_URL_SCHEME`)."""
    path = reverse(PAY_URL_NAME, args=[invoice_pay_token(invoice)], urlconf=settings.ROOT_URLCONF)
    return gym_base_url(gym=gym) + path


def invoice_pay_link_shown(invoice: Invoice, *, gym: Gym) -> bool:
    """True when the PDF and the email offer paying online: the gym takes card payments
    (Stripe connected and charges enabled) and the invoice is open with something due."""
    return gym.stripe_connected and invoice.status == Invoice.Status.OPEN and invoice.amount_due > ZERO


# --- fetching static and media files from storage ---------------------------------------


class PdfFetchRefused(ValueError):
    """A URL the PDF renderer will not fetch (network, local file or outside the gym)."""


def static_pdf_url(path: str) -> str:
    """The URL a PDF template uses for a static file, e.g. `fitflow-static:invoices/pdf.css`."""
    return f"{STATIC_SCHEME}:{path}"


def media_pdf_url(name: str) -> str:
    """The URL a PDF template uses for a file in the default storage (a gym's logo)."""
    return f"{MEDIA_SCHEME}:{name}"


def _clean_path(path: str) -> str:
    path = unquote(path.split("?", 1)[0].split("#", 1)[0]).lstrip("/")
    normal = posixpath.normpath(path)
    if not path or normal.startswith("..") or normal != path.rstrip("/"):
        raise PdfFetchRefused(f"Refusing path {path!r}.")
    return normal


class StorageUrlFetcher(URLFetcher):
    """WeasyPrint's `url_fetcher` for FitFlow documents (DESIGN.md 6): static files from
    the staticfiles finders or STATIC_ROOT's storage, media from the default storage
    (names under `schema` only, so one gym's document can never embed another gym's
    file), `data:` URIs decoded in memory. Raises `PdfFetchRefused` for any other URL;
    WeasyPrint logs it and renders without the resource."""

    def __init__(self, *, schema: str) -> None:
        super().__init__(timeout=1, allowed_protocols=("data",))
        self.schema = schema

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        """Return the resource at `url` (see the class docstring). Raises `PdfFetchRefused`
        or `FileNotFoundError`."""
        scheme, _, rest = url.partition(":")
        scheme = scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)  # urllib's DataHandler: no I/O
        if scheme == STATIC_SCHEME:
            path = _clean_path(rest)
            return self._response(url, path, self._static_bytes(path))
        if scheme == MEDIA_SCHEME:
            name = _clean_path(rest)
            if not name.startswith(f"{self.schema}/"):
                raise PdfFetchRefused(f"{name!r} is not a file of gym schema {self.schema!r}.")
            with default_storage.open(name, "rb") as handle:
                return self._response(url, name, handle.read())
        raise PdfFetchRefused(f"PDF rendering fetches nothing over {scheme or 'no'} URLs: {url[:200]}")

    @staticmethod
    def _static_bytes(path: str) -> bytes:
        found = finders.find(path)
        if isinstance(found, list):
            found = found[0] if found else None
        if found:
            with open(found, "rb") as handle:
                return handle.read()
        with staticfiles_storage.open(path, "rb") as handle:
            return bytes(handle.read())

    @staticmethod
    def _response(url: str, path: str, body: bytes) -> URLFetcherResponse:
        content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return URLFetcherResponse(url, body, {"Content-Type": content_type})


_fonts = threading.local()


def _font_config() -> FontConfiguration:
    """One fontconfig set-up per thread (loading the system fonts is the slowest part
    of a first render; pango's font map is not shared between threads)."""
    config = getattr(_fonts, "config", None)
    if config is None:
        config = _fonts.config = FontConfiguration()
    return config


def html_pdf_render(html: str, *, schema: str | None = None) -> bytes:
    """A PDF of `html` (a FitFlow document template's output) with the storage-only
    `StorageUrlFetcher` for `schema` (default: the connection's). Returns the PDF bytes."""
    fetcher = StorageUrlFetcher(schema=schema or str(connection.schema_name))  # type: ignore[attr-defined]
    font_config = _font_config()
    pdf = HTML(string=html, url_fetcher=fetcher, base_url=None).write_pdf(font_config=font_config)
    assert pdf is not None
    return bytes(pdf)


# --- formatting ----------------------------------------------------------------------------


def document_locale(*, gym: Gym | None = None) -> Locale:
    """The Babel locale documents are written in: the active language, else
    `settings.LANGUAGE_CODE`, else English; with the gym's country as its territory when
    the language names none and Babel knows the pair (`en` + ZA -> `en_ZA`: "R180,00",
    "22 Nov 2026"), as the member's emails are (`apps.notifications.rendering`)."""
    base = Locale("en")
    for code in (translation.get_language(), settings.LANGUAGE_CODE, "en"):
        if not code:
            continue
        try:
            base = Locale.parse(translation.to_locale(code))
            break
        except (UnknownLocaleError, ValueError):
            continue
    country = str(getattr(getattr(gym, "country", None), "code", "") or "") if gym is not None else ""
    if country and not base.territory:
        try:
            return Locale.parse(f"{base.language}_{country}")
        except (UnknownLocaleError, ValueError):
            pass
    return base


class Formatter:
    """Money, percent and date formatting for one document (Babel, one locale and
    currency)."""

    def __init__(self, *, currency: str, locale: Locale | None = None) -> None:
        self.currency = currency
        self.locale = locale or document_locale()

    def money(self, amount: Decimal) -> str:
        """`amount` in the document's currency, e.g. `£1,234.50` (en, GBP)."""
        return str(format_currency(amount, self.currency, locale=self.locale))

    def percent(self, rate: Decimal) -> str:
        """A percent rate such as 15.00 as `15%`, 7.5 as `7.5%`."""
        return str(format_percent(rate / 100, format="#,##0.##%", locale=self.locale))

    def date(self, day: datetime.date | None) -> str:
        """A date in the locale's medium format, e.g. `Jan 31, 2026`; "" for None."""
        return str(format_date(day, format="medium", locale=self.locale)) if day else ""


def _lines_of(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _seller(invoice: Invoice, gym: Gym) -> dict[str, Any]:
    from .services.documents import seller_snapshot

    seller = dict(invoice.seller or seller_snapshot(gym))
    logo = str(seller.get("logo") or "")
    schema = str(connection.schema_name)  # type: ignore[attr-defined]
    logo_ok = logo.startswith(f"{schema}/") and default_storage.exists(logo)
    return {
        "name": seller.get("name") or gym.name,
        "legal_name": seller.get("legal_name") or seller.get("name") or gym.name,
        "address_lines": _lines_of(str(seller.get("address") or "")),
        "tax_number": seller.get("tax_number") or "",
        "logo_url": media_pdf_url(logo) if logo_ok else "",
    }


def _bill_to(invoice: Invoice) -> dict[str, Any]:
    from .services.documents import bill_to_snapshot

    bill_to = dict(invoice.bill_to or bill_to_snapshot(invoice.member))
    return {
        "name": bill_to.get("name") or "",
        "email": bill_to.get("email") or "",
        "phone": bill_to.get("phone") or "",
        "address_lines": _lines_of(str(bill_to.get("address") or "")),
        "member_id": bill_to.get("member_id") or "",
    }


def invoice_period_text(invoice: Invoice, fmt: Formatter, lines: Iterable[Any] | None = None) -> str:
    """The billing period the invoice covers, e.g. `Jan 31, 2026 to Feb 27, 2026`: the
    invoice's own period, else the span of its lines' periods (`lines` when already
    loaded); "" when it covers none."""
    start, end = invoice.period_start, invoice.period_end
    if start is None:
        rows = list(invoice.lines.all()) if lines is None else list(lines)
        starts = [line.period_start for line in rows if line.period_start]
        ends = [line.period_end for line in rows if line.period_end]
        start, end = (min(starts) if starts else None), (max(ends) if ends else None)
    if start is None:
        return ""
    return f"{fmt.date(start)} to {fmt.date(end)}" if end else f"from {fmt.date(start)}"


STAMPS = {Invoice.Status.PAID.value: "PAID", Invoice.Status.VOID.value: "VOID", Invoice.Status.DRAFT.value: "DRAFT"}


def invoice_pdf_context(invoice: Invoice, *, gym: Gym | None = None) -> dict[str, Any]:
    """Everything `invoices/pdf/invoice.html` prints, formatted: gym (seller snapshot),
    member (bill_to snapshot), dates, lines, totals, payments received, credit notes,
    the stamp (PAID / VOID / DRAFT) and, when `invoice_pay_link_shown`, the pay link and
    its QR code (SVG data URI). Reads the invoice's lines, succeeded payments and credit
    notes (3 queries)."""
    gym = gym or current_gym()
    fmt = Formatter(currency=invoice.currency or gym.currency, locale=document_locale(gym=gym))
    lines = list(invoice.lines.all())
    payments = list(invoice.payments.filter(status=Payment.Status.SUCCEEDED).order_by("received_on", "pk"))
    notes = list(invoice.credit_notes.order_by("issue_date", "pk"))
    tax_label = ""
    if invoice.tax_rate or invoice.tax:
        how = "included" if invoice.tax_inclusive else "added"
        tax_label = f"Tax {fmt.percent(invoice.tax_rate)} ({how})"
    pay_link = invoice_pay_link(invoice, gym=gym) if invoice_pay_link_shown(invoice, gym=gym) else ""
    return {
        "invoice": invoice,
        "number": invoice.number or f"Draft {invoice.pk}",
        "status": invoice.get_status_display(),
        "stamp": STAMPS.get(str(invoice.status), ""),
        "void_reason": invoice.void_reason if invoice.status == Invoice.Status.VOID else "",
        "seller": _seller(invoice, gym),
        "bill_to": _bill_to(invoice),
        "issue_date": fmt.date(invoice.issue_date),
        "due_date": fmt.date(invoice.due_date),
        "paid_on": fmt.date(invoice.paid_at.date()) if invoice.paid_at else "",
        "period": invoice_period_text(invoice, fmt, lines),
        "currency": invoice.currency,
        "lines": [
            {
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": fmt.money(line.unit_price),
                "amount": fmt.money(line.amount),
            }
            for line in lines
        ],
        "subtotal": fmt.money(invoice.subtotal),
        "discount": fmt.money(-invoice.discount) if invoice.discount else "",
        "tax_label": tax_label,
        "tax": fmt.money(invoice.tax),
        "tax_inclusive": invoice.tax_inclusive,
        "total": fmt.money(invoice.total),
        "amount_paid": fmt.money(invoice.amount_paid),
        "amount_credited": fmt.money(invoice.amount_credited) if invoice.amount_credited else "",
        "amount_due": fmt.money(invoice.amount_due),
        "payments": [
            {
                "date": fmt.date(p.received_on),
                "method": str(p.get_method_display()),
                "reference": p.reference,
                "amount": fmt.money(p.amount),
                "refunded": fmt.money(p.amount_refunded) if p.amount_refunded else "",
            }
            for p in payments
        ],
        "credit_notes": [
            {"number": n.number, "date": fmt.date(n.issue_date), "reason": n.reason, "amount": fmt.money(n.amount)}
            for n in notes
        ],
        "notes": invoice.notes,
        "pay_link": pay_link,
        "pay_host": pay_link.split("/billing/", 1)[0].split("://", 1)[-1] if pay_link else "",
        "qr_data_uri": qr_svg_data_uri(pay_link) if pay_link else "",
        "stylesheet_url": static_pdf_url("invoices/pdf.css"),
    }


def invoice_pdf_html(invoice: Invoice, *, gym: Gym | None = None) -> str:
    """The invoice's HTML as the PDF renders it (for previews and tests)."""
    return render_to_string(INVOICE_TEMPLATE, invoice_pdf_context(invoice, gym=gym))


def invoice_pdf_render(invoice: Invoice) -> bytes:
    """The invoice as an A4 PDF (bytes), in the current gym's schema. Reads the gym,
    the invoice's lines, payments and credit notes; writes nothing."""
    return html_pdf_render(invoice_pdf_html(invoice))


def credit_note_pdf_render(note: CreditNote) -> bytes:
    """A credit note as an A4 PDF (bytes): its number, date, reason and amount (tax
    part at the invoice's rate), the invoice it corrects, the gym and the member."""
    invoice = note.invoice
    gym = current_gym()
    fmt = Formatter(currency=invoice.currency or gym.currency, locale=document_locale(gym=gym))
    context = {
        "note": note,
        "number": note.number,
        "invoice_number": invoice.number or "",
        "invoice_date": fmt.date(invoice.issue_date),
        "seller": _seller(invoice, gym),
        "bill_to": _bill_to(invoice),
        "issue_date": fmt.date(note.issue_date),
        "reason": note.reason,
        "amount": fmt.money(note.amount),
        "tax_label": f"Tax {fmt.percent(invoice.tax_rate)} (included)" if invoice.tax_rate else "",
        "tax": fmt.money(note.tax),
        "net": fmt.money(note.amount - note.tax),
        "refunded": fmt.money(sum((r.amount for r in note.refunds.all()), ZERO)),
        "stylesheet_url": static_pdf_url("invoices/pdf.css"),
    }
    return html_pdf_render(render_to_string(CREDIT_NOTE_TEMPLATE, context))
