"""Invoices, payments, credit notes, refunds and Stripe records in the gym's own
`/admin/` (`gym_admin_site`: owners and managers).

Money documents are records: nothing is added, edited or deleted here, and a paid
invoice is never edited anywhere (corrections are credit notes and refunds, made from
the billing pages or the API). The only writes are admin actions on invoices, each
through a service with the admin user as actor:
- "Void…" (`invoice_void`) and "Mark uncollectible…" (`invoice_mark_uncollectible`)
  ask for a reason on an intermediate page; each selected invoice is tried on its own
  and the ones whose rule fails (e.g. paid, so not voidable) are named with the
  service's message;
- "Render & email again" marks issued (open or paid) invoices' PDF out of date and
  their notice unsent (`delivery.invoice_delivery_reset`) and queues
  `invoice_deliver_task` for each after the commit (a new `invoice_issued` notification).
Stripe customers show the saved card's brand, last digits and expiry, never the
PaymentMethod id; Stripe events are the dedup log of what was applied.
Changelists join what they show, so a page costs the same few queries however many
rows it lists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template import engines

from apps.accounts.models import User
from apps.staff.admin import ReadOnlyAdmin, ReadOnlyInline, gym_admin_site
from apps.tenants.dispatch import gym_local_date

from .errors import InvoiceError
from .models import CreditNote, Invoice, InvoiceLine, Payment, Refund, StripeCustomer, StripeEvent
from .selectors import invoice_overdue_q
from .services import invoice_mark_uncollectible, invoice_void
from .tasks import invoices_deliver_on_commit

ACTION_PAGE = engines["django"].from_string(
    """{% extends "admin/base_site.html" %}
{% block breadcrumbs %}<div class="breadcrumbs"><a href="{% url 'gym_admin:index' %}">Home</a>
&rsaquo; <a href="{% url 'gym_admin:invoices_invoice_changelist' %}">Invoices</a>
&rsaquo; {{ title }}</div>{% endblock %}
{% block content %}
<p>{{ invoices|length }} invoice{{ invoices|length|pluralize }}:</p>
<ul>{% for i in invoices %}<li>{{ i }} — {{ i.member }} — {{ i.get_status_display }}, {{ i.total }} {{ i.currency }}</li>{% endfor %}</ul>
<form method="post">{% csrf_token %}
  {% for i in invoices %}<input type="hidden" name="{{ checkbox_name }}" value="{{ i.pk }}">{% endfor %}
  <input type="hidden" name="action" value="{{ action }}">
  <input type="hidden" name="apply" value="yes">
  <fieldset class="module aligned">{% for field in form %}
    <div class="form-row">{{ field.errors }}{{ field.label_tag }} {{ field }}
      {% if field.help_text %}<div class="help">{{ field.help_text }}</div>{% endif %}</div>
  {% endfor %}</fieldset>
  <div class="submit-row"><input type="submit" class="default" value="{{ title }}"></div>
</form>
{% endblock %}"""
)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=255, help_text="Kept on the invoice for the audit trail.")


def _actor(request: HttpRequest) -> User:
    """The admin user (the gym admin only admits logged-in owners and managers)."""
    return cast(User, request.user)


class MoneyDocumentAdmin(ReadOnlyAdmin):
    """Read-only, without the full-count query on large changelists."""

    show_full_result_count = False


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = readonly_fields = ("kind", "description", "quantity", "unit_price", "amount", "period_start", "period_end")


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = readonly_fields = (
        "received_on",
        "method",
        "amount",
        "status",
        "reference",
        "attempt",
        "failure_message",
        "amount_refunded",
        "recorded_by",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Payment]:
        return super().get_queryset(request).select_related("recorded_by")


class CreditNoteInline(ReadOnlyInline):
    model = CreditNote
    fields = readonly_fields = ("number", "issue_date", "amount", "tax", "reason", "created_by")

    def get_queryset(self, request: HttpRequest) -> QuerySet[CreditNote]:
        return super().get_queryset(request).select_related("created_by")


class OverdueFilter(admin.SimpleListFilter):
    """Open invoices past their due date (gym-local today) or whose card charge failed
    (`selectors.invoice_overdue_q`), or the rest."""

    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> QuerySet[Invoice]:
        overdue = invoice_overdue_q(today=gym_local_date(request.tenant))  # type: ignore[attr-defined]
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset


INVOICE_FIELDS = (
    "number",
    "status",
    "member",
    "membership",
    "currency",
    "issue_date",
    "due_date",
    "period_start",
    "period_end",
    "subtotal",
    "discount",
    "tax_rate",
    "tax_inclusive",
    "tax",
    "total",
    "amount_paid",
    "amount_credited",
    "amount_due",
    "seller",
    "bill_to",
    "notes",
    "auto_collect",
    "attempt_count",
    "next_payment_attempt",
    "last_payment_error",
    "pdf",
    "pdf_rendered_at",
    "emailed_at",
    "created_by",
    "created_at",
    "paid_at",
    "voided_at",
    "void_reason",
)


@admin.register(Invoice, site=gym_admin_site)
class InvoiceAdmin(MoneyDocumentAdmin):
    list_display = [
        "__str__",
        "member",
        "status",
        "issue_date",
        "due_date",
        "total",
        "amount_due",
        "is_overdue",
        "auto_collect",
    ]
    list_filter = ["status", OverdueFilter, "auto_collect", "issue_date"]
    search_fields = ["number", "member__first_name", "member__last_name", "member__email"]
    list_select_related = ["member"]
    date_hierarchy = "issue_date"
    ordering = ["-issue_date", "-id"]
    fields = readonly_fields = INVOICE_FIELDS
    inlines = [InvoiceLineInline, PaymentInline, CreditNoteInline]
    actions = ["void", "mark_uncollectible", "deliver_again"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invoice]:
        # `overdue_now` is worked out per request in the gym's own today: the admin
        # instance is shared by every gym and thread, so it keeps no state.
        overdue = invoice_overdue_q(today=gym_local_date(request.tenant))  # type: ignore[attr-defined]
        return (
            super()
            .get_queryset(request)
            .select_related("member", "membership__plan", "created_by")
            .annotate(overdue_now=ExpressionWrapper(overdue, output_field=BooleanField()))
        )

    @admin.display(description="Amount due")
    def amount_due(self, invoice: Invoice) -> str:
        return f"{invoice.amount_due} {invoice.currency}"

    @admin.display(description="Overdue", boolean=True, ordering="overdue_now")
    def is_overdue(self, invoice: Invoice) -> bool:
        return bool(getattr(invoice, "overdue_now", False))

    # --- actions ---

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Invoice], done: str, call: Callable[[Invoice], Any]
    ) -> None:
        """Run a service for each selected invoice, reporting successes and failures."""
        succeeded = 0
        for invoice in queryset.select_related("member"):
            try:
                call(invoice)
            except InvoiceError as exc:
                self.message_user(request, f"{invoice}: {exc.message}", messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, f"{succeeded} invoice(s) {done}.", messages.SUCCESS)

    def _with_reason(
        self,
        request: HttpRequest,
        queryset: QuerySet[Invoice],
        *,
        action: str,
        title: str,
        done: str,
        service: Callable[..., Any],
    ) -> HttpResponse | None:
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if not form.is_bound or not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": title,
                "action": action,
                "form": form,
                "invoices": list(queryset.select_related("member")),
                "checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            }
            return HttpResponse(ACTION_PAGE.render(context, request))
        reason = form.cleaned_data["reason"]
        self._each(request, queryset, done, lambda i: service(invoice=i, reason=reason, actor=_actor(request)))
        return None

    @admin.action(description="Void… (unpaid invoices: no longer owed)")
    def void(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse | None:
        return self._with_reason(
            request, queryset, action="void", title="Void invoices", done="voided", service=invoice_void
        )

    @admin.action(description="Mark uncollectible… (write off)")
    def mark_uncollectible(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> HttpResponse | None:
        return self._with_reason(
            request,
            queryset,
            action="mark_uncollectible",
            title="Mark invoices uncollectible",
            done="written off",
            service=invoice_mark_uncollectible,
        )

    @admin.action(description="Render & email again")
    def deliver_again(self, request: HttpRequest, queryset: QuerySet[Invoice]) -> None:
        """Queue `invoice_deliver_task` for each selected open or paid invoice, after
        marking its PDF out of date and its notice unsent, so the task renders it and
        records a new `invoice_issued` notification, which the notifications app sends
        (the task does each at most once per marking)."""
        from .delivery import invoice_delivery_reset  # loads the PDF renderer: only when asked

        issued = list(
            queryset.filter(status__in=[Invoice.Status.OPEN, Invoice.Status.PAID]).values_list("pk", flat=True)
        )
        skipped = queryset.count() - len(issued)
        with transaction.atomic():
            invoice_delivery_reset(invoice_ids=issued)
            invoices_deliver_on_commit(issued)
        if issued:
            self.message_user(request, f"{len(issued)} invoice(s) queued to render and email.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} draft, void or uncollectible invoice(s) are not emailed.", messages.WARNING
            )


@admin.register(Payment, site=gym_admin_site)
class PaymentAdmin(MoneyDocumentAdmin):
    list_display = ["id", "invoice", "member", "method", "amount", "currency", "status", "received_on", "recorded_by"]
    list_filter = ["method", "status", "disputed", "received_on"]
    search_fields = [
        "invoice__number",
        "member__first_name",
        "member__last_name",
        "member__email",
        "reference",
        "stripe_payment_intent_id",
        "stripe_charge_id",
    ]
    list_select_related = ["invoice", "member", "recorded_by"]
    date_hierarchy = "received_on"
    ordering = ["-created_at", "-id"]
    fields = readonly_fields = (
        "invoice",
        "member",
        "amount",
        "currency",
        "method",
        "status",
        "reference",
        "received_on",
        "attempt",
        "idempotency_key",
        "stripe_payment_intent_id",
        "stripe_charge_id",
        "failure_code",
        "failure_message",
        "amount_refunded",
        "disputed",
        "recorded_by",
        "created_at",
        "updated_at",
    )


@admin.register(CreditNote, site=gym_admin_site)
class CreditNoteAdmin(MoneyDocumentAdmin):
    list_display = ["number", "invoice", "amount", "tax", "reason", "issue_date", "created_by"]
    search_fields = ["number", "invoice__number", "invoice__member__last_name", "invoice__member__email", "reason"]
    list_select_related = ["invoice", "created_by"]
    date_hierarchy = "issue_date"
    ordering = ["-issue_date", "-id"]
    fields = readonly_fields = (
        "number",
        "invoice",
        "amount",
        "tax",
        "reason",
        "issue_date",
        "created_by",
        "created_at",
    )


@admin.register(Refund, site=gym_admin_site)
class RefundAdmin(MoneyDocumentAdmin):
    list_display = ["id", "invoice_number", "payment", "credit_note", "amount", "status", "reason", "created_at"]
    list_filter = ["status"]
    search_fields = ["credit_note__number", "payment__invoice__number", "stripe_refund_id", "reason"]
    list_select_related = ["payment__invoice", "credit_note"]
    ordering = ["-created_at", "-id"]
    fields = readonly_fields = (
        "payment",
        "credit_note",
        "amount",
        "status",
        "reason",
        "idempotency_key",
        "stripe_refund_id",
        "created_by",
        "created_at",
    )

    @admin.display(description="Invoice", ordering="payment__invoice__number")
    def invoice_number(self, refund: Refund) -> str:
        return str(refund.payment.invoice)


@admin.register(StripeCustomer, site=gym_admin_site)
class StripeCustomerAdmin(MoneyDocumentAdmin):
    """The member's customer on the gym's Stripe account and the card's public details;
    the PaymentMethod id stays out of the admin."""

    list_display = ["member", "customer_id", "card_brand", "card_last4", "expiry", "has_card", "updated_at"]
    search_fields = ["member__first_name", "member__last_name", "member__email", "customer_id"]
    list_select_related = ["member"]
    ordering = ["-updated_at"]
    fields = readonly_fields = (
        "member",
        "customer_id",
        "has_card",
        "card_brand",
        "card_last4",
        "card_exp_month",
        "card_exp_year",
        "updated_at",
    )

    @admin.display(description="Expires")
    def expiry(self, customer: StripeCustomer) -> str:
        if not customer.card_exp_month or not customer.card_exp_year:
            return "—"
        return f"{customer.card_exp_month:02d}/{customer.card_exp_year}"

    @admin.display(description="Card saved", boolean=True)
    def has_card(self, customer: StripeCustomer) -> bool:
        return customer.has_card


@admin.register(StripeEvent, site=gym_admin_site)
class StripeEventAdmin(MoneyDocumentAdmin):
    list_display = ["id", "type", "created", "applied_at", "outcome"]
    list_filter = ["type", "outcome"]
    search_fields = ["id", "type"]
    date_hierarchy = "created"
    ordering = ["-created"]
    fields = readonly_fields = ("id", "type", "created", "applied_at", "outcome")
