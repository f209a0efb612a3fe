"""Forms of the billing pages: the invoice list's filters, the invoice actions (record a
payment, refund, credit note, void) and a new invoice for manual items.

Forms check the shape of the input; the rules (nothing more than is due, only an open
invoice takes a payment, ...) are the services', whose `InvoiceError` the views put on
the field it names (`add_invoice_error`).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from apps.core.errors import DomainError
from apps.core.forms import DateRangeForm

from .models import Invoice, Payment
from .services import MANUAL_METHODS

PAGE_SIZE = 50
MONEY_WIDGET = forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"})


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _money_field(label: str, **kwargs: Any) -> forms.DecimalField:
    return forms.DecimalField(label=label, max_digits=12, decimal_places=2, widget=MONEY_WIDGET, **kwargs)


class ServiceErrorMixin:
    """`add_invoice_error(exc)`: show a service's `DomainError` on its field (or the form)."""

    def add_invoice_error(self, exc: DomainError) -> None:
        """Put `exc.message` on `exc.field` when the form has that field, else on the form."""
        fields = self.fields  # type: ignore[attr-defined]
        target = exc.field if exc.field in fields else None
        self.add_error(target, forms.ValidationError(exc.message, code=exc.code))  # type: ignore[attr-defined]


class InvoiceFilterForm(DateRangeForm):
    """The invoice list's search and filters (all optional, from the query string). A
    bad value is shown on its field and that filter alone is left out."""

    q = forms.CharField(
        required=False,
        max_length=100,
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Member, email, member id or invoice number"}),
    )
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Invoice.Status.choices], label="Status")
    overdue = forms.BooleanField(required=False, label="Overdue only")
    issued_from = forms.DateField(required=False, label="Issued from", widget=_date_widget())
    issued_to = forms.DateField(required=False, label="Issued to", widget=_date_widget())
    date_range = ("issued_from", "issued_to")
    page = forms.IntegerField(required=False, min_value=1)

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for `invoice_list` (fields with bad values are left out)."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "query": data.get("q") or "",
            "status": data.get("status") or "",
            "overdue": bool(data.get("overdue")),
            "issued_from": data.get("issued_from"),
            "issued_to": data.get("issued_to"),
        }

    def page_number(self) -> int:
        """The page asked for (1 when absent or bad)."""
        self.is_valid()
        return self.cleaned_data.get("page") or 1

    def is_filtered(self) -> bool:
        """True when any filter is on."""
        return any(self.filters().values())


class PaymentRecordForm(ServiceErrorMixin, forms.Form):
    """Money received at the desk or by transfer for an open invoice. The amount
    defaults to what is due; part payments are allowed."""

    amount = _money_field("Amount")
    method = forms.ChoiceField(
        label="Method", choices=[(m.value, m.label) for m in MANUAL_METHODS], initial=Payment.Method.CASH
    )
    reference = forms.CharField(
        label="Reference",
        required=False,
        max_length=120,
        help_text="Receipt number, terminal slip or bank reference.",
    )
    received_on = forms.DateField(label="Received on", widget=_date_widget())

    def clean_received_on(self) -> datetime.date:
        day: datetime.date = self.cleaned_data["received_on"]
        if day > timezone.localdate():
            raise forms.ValidationError("The payment cannot be received in the future.")
        return day


class RefundForm(ServiceErrorMixin, forms.Form):
    """Money back on a paid (or part-paid) invoice, with a credit note. Stripe payments
    are refunded to the card; cash and other payments are recorded as refunded by hand."""

    amount = _money_field("Amount to refund")
    reason = forms.CharField(label="Reason", max_length=255)


class CreditNoteForm(ServiceErrorMixin, forms.Form):
    """A credit note that lowers what an open invoice asks for (no money moves)."""

    amount = _money_field("Amount to credit")
    reason = forms.CharField(label="Reason", max_length=255)


class VoidForm(ServiceErrorMixin, forms.Form):
    """Void an unpaid invoice: it is no longer owed and keeps its number."""

    reason = forms.CharField(label="Reason", max_length=255)


class InvoiceLineForm(forms.Form):
    """One manual item: description, quantity and unit price (gym currency). A row left
    empty is skipped."""

    description = forms.CharField(label="Description", max_length=255, required=False)
    quantity = forms.IntegerField(label="Qty", min_value=1, max_value=1000, initial=1, required=False)
    unit_price = forms.DecimalField(
        label="Unit price", max_digits=12, decimal_places=2, min_value=Decimal("0"), required=False, widget=MONEY_WIDGET
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        description, price = cleaned.get("description"), cleaned.get("unit_price")
        if description and price is None and "unit_price" not in self.errors:
            self.add_error("unit_price", "Enter the price.")
        if price is not None and not description:
            self.add_error("description", "Describe the item.")
        return cleaned

    def is_blank(self) -> bool:
        """True for a row with neither a description nor a price."""
        return not self.cleaned_data.get("description") and self.cleaned_data.get("unit_price") is None


InvoiceLineFormSet = forms.formset_factory(InvoiceLineForm, extra=3, max_num=20, absolute_max=20)


class InvoiceCreateForm(ServiceErrorMixin, forms.Form):
    """A new invoice for manual items (lines come from `InvoiceLineFormSet`): discount,
    tax (empty rate = the gym's default rate and inclusivity), due date and notes."""

    TAX_MODES = [("", "Gym default"), ("inclusive", "Prices include tax"), ("exclusive", "Tax added on top")]

    discount = _money_field("Discount", required=False, min_value=Decimal("0"))
    tax_rate = forms.DecimalField(
        label="Tax rate (%)",
        required=False,
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        help_text="Empty: the gym's default rate.",
    )
    tax_mode = forms.ChoiceField(label="Tax", choices=TAX_MODES, required=False)
    due_date = forms.DateField(
        label="Due date", required=False, widget=_date_widget(), help_text="Empty: the gym's due days."
    )
    notes = forms.CharField(label="Notes", required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)

    def clean_due_date(self) -> datetime.date | None:
        day: datetime.date | None = self.cleaned_data.get("due_date")
        if day and day < timezone.localdate():
            raise forms.ValidationError("The due date cannot be in the past.")
        return day

    def tax_inclusive(self) -> bool | None:
        """True / False for an explicit choice, None for the gym's default."""
        mode = self.cleaned_data.get("tax_mode")
        return None if not mode else mode == "inclusive"
