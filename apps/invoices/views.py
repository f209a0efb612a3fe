"""Billing pages (`/billing/`): the overview, the invoice list and an invoice's page with
its actions, a new invoice for manual items, connecting the gym's Stripe account, and
the member's self-serve links (update the saved card, pay an invoice online).

Views parse input, call a service or selector and render. Each action form works
without JavaScript (a POST, then back to the invoice); with htmx it re-renders in place
with its field errors (400) and, once done, sends the browser to the invoice page.
A rule the service refuses (`InvoiceError`) is shown on its field, never a 500.

Roles, as front-desk software such as Mindbody and Glofox split them:
- owner and manager: everything money (overview and revenue, refunds, credit notes,
  voids, charging a saved card, new invoices);
- receptionist: the invoice list and pages, PDFs, and recording a payment taken at the
  desk (cash, card terminal, transfer);
- trainer: no billing at all (403), though higher on the role ladder than a
  receptionist;
- owner only: connecting Stripe (it is the gym's bank account).

The member's self-serve links need no login: the token in the URL is signed
(`django.core.signing`), names the gym's schema and expires.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.core import signing
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.members.models import Member
from apps.staff.access import require_gym_role
from apps.staff.roles import Role
from apps.tenants.errors import GymError
from apps.tenants.models import Gym

from .errors import InvoiceError
from .forms import (
    PAGE_SIZE,
    CreditNoteForm,
    InvoiceCreateForm,
    InvoiceFilterForm,
    InvoiceLineFormSet,
    PaymentRecordForm,
    RefundForm,
    ServiceErrorMixin,
    VoidForm,
)
from .links import member_card_link, member_card_token_read
from .models import ZERO, Invoice, Payment, StripeCustomer
from .pdf import Formatter, document_locale, invoice_pay_token_read
from .selectors import billing_overview, invoice_detail, invoice_list, invoice_refundable, member_billing
from .services import (
    IssueOptions,
    LineInput,
    card_checkout_url,
    invoice_charge,
    invoice_create,
    invoice_credit,
    invoice_pay_url,
    invoice_refund,
    invoice_void,
    payment_record,
)
from .services.gym_billing import gym_stripe_connect_link, gym_stripe_connect_refresh

BILLING_ROLES = frozenset({Role.OWNER, Role.MANAGER, Role.RECEPTIONIST})
"""Roles that see billing at all (trainers do not)."""

"""A card-update link is valid for 30 days: longer than the dunning retries (1-60 days
after the first failure, usually a week)."""


# --- access --------------------------------------------------------------------------------


def require_billing_role(minimum: Role) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Page decorator: `minimum` or higher, and never a trainer (see the module docstring).
    Anonymous -> login page; no role here, a trainer or too low a role -> 403 page."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            role: Role = request.gym_role  # type: ignore[attr-defined]
            if role not in BILLING_ROLES or not role.at_least(minimum):
                reason = (
                    "Billing is for the owner, managers and the front desk."
                    if role not in BILLING_ROLES
                    else f"This needs the {minimum.label.lower()} role or higher."
                )
                return render(request, "errors/403.html", {"reason": reason, "code": "role_too_low"}, status=403)
            return view(request, *args, **kwargs)

        return require_gym_role(Role.RECEPTIONIST)(wrapper)

    return decorator


def request_sees_billing(request: HttpRequest, minimum: Role = Role.RECEPTIONIST) -> bool:
    """True when the request's gym role may see billing at `minimum` (trainers never)."""
    role = getattr(request, "gym_role", None)
    return role in BILLING_ROLES and bool(role and role.at_least(minimum))


def _partial(request: HttpRequest) -> bool:
    """True for an htmx swap (not for htmx's full-page history restore)."""
    htmx = request.htmx  # type: ignore[attr-defined]
    return bool(htmx) and not htmx.history_restore_request


def _gym(request: HttpRequest) -> Gym:
    return request.tenant  # type: ignore[attr-defined,no-any-return]


def _fmt(request: HttpRequest) -> Formatter:
    """Babel money formatting in the gym's currency (the same as the invoice PDFs)."""
    gym = _gym(request)
    return Formatter(currency=gym.currency, locale=document_locale(gym=gym))


def _dress(invoices: list[Invoice], fmt: Formatter) -> list[Invoice]:
    """Formatted money on list rows: `total_fmt` and `due_fmt` (from the `due` annotation)."""
    for invoice in invoices:
        invoice.total_fmt = fmt.money(invoice.total)  # type: ignore[attr-defined]
        invoice.due_fmt = fmt.money(getattr(invoice, "due", invoice.amount_due))  # type: ignore[attr-defined]
    return invoices


# --- the overview and the list ----------------------------------------------------------------


@require_GET
@require_billing_role(Role.RECEPTIONIST)
def billing_overview_view(request: HttpRequest) -> HttpResponse:
    """`/billing/`: open, overdue and paid this month, revenue this month and last, and
    the invoices needing action. Owner and manager; the front desk goes to the list."""
    if not request_sees_billing(request, Role.MANAGER):
        return redirect("invoices:list")
    fmt = _fmt(request)
    overview = billing_overview(today=timezone.localdate())
    for row in overview.attention:
        _dress([row.invoice], fmt)
    money = {
        name: fmt.money(getattr(overview, name))
        for name in ("open_total", "overdue_total", "paid_total", "revenue_this_month", "revenue_last_month")
    }
    return render(request, "invoices/overview.html", {"overview": overview, "money": money})


@require_GET
@vary_on_headers("HX-Request")
@require_billing_role(Role.RECEPTIONIST)
def invoice_list_view(request: HttpRequest) -> HttpResponse:
    """`/billing/invoices/`: filter by status, overdue, member (name, email, id) or
    number and issue dates; 50 a page, newest first."""
    filters_form = InvoiceFilterForm(request.GET)
    filters = filters_form.filters()
    today = timezone.localdate()
    page = Paginator(invoice_list(today=today, **filters), PAGE_SIZE).get_page(filters_form.page_number())
    page.object_list = _dress(list(page.object_list), _fmt(request))
    query = {k: v for k in InvoiceFilterForm.base_fields if k != "page" and (v := request.GET.get(k, ""))}
    context = {
        "filters_form": filters_form,
        "page": page,
        "query": urlencode(query),
        "is_filtered": filters_form.is_filtered(),
        "today": today,
    }
    template = "invoices/list.html#results" if _partial(request) else "invoices/list.html"
    return render(request, template, context)


# --- one invoice -------------------------------------------------------------------------------


@dataclass
class Action:
    """One action form on an invoice's page."""

    key: str
    title: str
    button: str
    minimum: Role
    form_class: type[forms.Form] | None
    intro: str = ""
    danger: bool = False


ACTIONS: dict[str, Action] = {
    a.key: a
    for a in (
        Action("pay", "Record a payment", "Record payment", Role.RECEPTIONIST, PaymentRecordForm,
               "Money taken at the desk or received by transfer. Part payments are fine."),
        Action("charge", "Charge the saved card", "Charge card now", Role.MANAGER, None,
               "Charges what is due to the member's saved card through Stripe."),
        Action("credit", "Issue a credit note", "Issue credit note", Role.MANAGER, CreditNoteForm,
               "Lowers what this open invoice asks for. No money moves."),
        Action("refund", "Refund", "Refund", Role.MANAGER, RefundForm,
               "A credit note and money back: card payments go back to the card; record cash refunds here "
               "after handing the money back.", danger=True),
        Action("void", "Void the invoice", "Void invoice", Role.MANAGER, VoidForm,
               "It is no longer owed and keeps its number. Only for invoices with no money received.", danger=True),
    )
}  # fmt: skip


def _available_actions(request: HttpRequest, invoice: Invoice, *, has_card: bool) -> list[str]:
    """The actions this invoice and this role allow now (the services check again)."""
    due = invoice.amount_due
    is_open = invoice.status == Invoice.Status.OPEN
    pending = any(p.status == Payment.Status.PENDING for p in invoice.payments.all())
    wanted = {
        "pay": is_open and due > 0,
        "charge": is_open and due > 0 and has_card and _gym(request).stripe_connected and not pending,
        "credit": is_open and due > 0,
        "refund": invoice_refundable(invoice=invoice) > 0,
        "void": invoice.status in (Invoice.Status.DRAFT, Invoice.Status.OPEN)
        and invoice.amount_paid == 0
        and not pending,
    }
    return [key for key, ok in wanted.items() if ok and request_sees_billing(request, ACTIONS[key].minimum)]


def _initial(action: str, invoice: Invoice) -> dict[str, Any]:
    if action == "pay":
        return {"amount": invoice.amount_due, "received_on": timezone.localdate(), "method": Payment.Method.CASH}
    if action == "credit":
        return {"amount": invoice.amount_due}
    if action == "refund":
        return {"amount": invoice_refundable(invoice=invoice)}
    return {}


def _action_context(invoice: Invoice, key: str, form: forms.Form | None) -> dict[str, Any]:
    action = ACTIONS[key]
    if form is None and action.form_class is not None:
        form = action.form_class(initial=_initial(key, invoice))
    return {
        "action": action,
        "form": form,
        "url": reverse(f"invoices:{key}", args=[invoice.pk]),
        "invoice": invoice,
    }


def _detail_page(
    request: HttpRequest, invoice: Invoice, *, bound: tuple[str, forms.Form] | None = None, status: int = 200
) -> HttpResponse:
    """The invoice's page; `bound` is an action whose posted form has errors."""
    fmt = _fmt(request)
    has_card = StripeCustomer.objects.filter(member_id=invoice.member_id).exclude(payment_method_id="").exists()
    keys = _available_actions(request, invoice, has_card=has_card)
    if bound and bound[0] not in keys:
        keys.insert(0, bound[0])
    actions = [_action_context(invoice, key, bound[1] if bound and bound[0] == key else None) for key in keys]
    for line in invoice.lines.all():
        line.unit_price_fmt, line.amount_fmt = fmt.money(line.unit_price), fmt.money(line.amount)  # type: ignore[attr-defined]
    for payment in invoice.payments.all():
        payment.amount_fmt = fmt.money(payment.amount)  # type: ignore[attr-defined]
        payment.refunded_fmt = fmt.money(payment.amount_refunded)  # type: ignore[attr-defined]
        for refund in payment.refunds.all():
            refund.amount_fmt = fmt.money(refund.amount)  # type: ignore[attr-defined]
    for note in invoice.credit_notes.all():
        note.amount_fmt, note.tax_fmt = fmt.money(note.amount), fmt.money(note.tax)  # type: ignore[attr-defined]
        for refund in note.refunds.all():
            refund.amount_fmt = fmt.money(refund.amount)  # type: ignore[attr-defined]
    today = timezone.localdate()
    money = {
        "subtotal": fmt.money(invoice.subtotal),
        "discount": fmt.money(invoice.discount),
        "tax": fmt.money(invoice.tax),
        "total": fmt.money(invoice.total),
        "paid": fmt.money(invoice.amount_paid),
        "credited": fmt.money(invoice.amount_credited),
        "due": fmt.money(invoice.amount_due),
        "tax_rate": fmt.percent(invoice.tax_rate),
    }
    context = {
        "invoice": invoice,
        "money": money,
        "actions": actions,
        "open_action": bound[0] if bound else "",
        "is_overdue": invoice.status == Invoice.Status.OPEN
        and (invoice.due_date < today or bool(invoice.last_payment_error)),
        "has_card": has_card,
    }
    return render(request, "invoices/detail.html", context, status=status)


def _invoice_or_404(invoice_id: int) -> Invoice:
    invoice = invoice_detail(invoice_id=invoice_id)
    if invoice is None:
        raise Http404("No such invoice.")
    return invoice


@require_GET
@require_billing_role(Role.RECEPTIONIST)
def invoice_detail_view(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """`/billing/invoices/<id>/`: lines, totals, payments, credit notes and refunds, the
    PDF, and the action forms this role may use."""
    return _detail_page(request, _invoice_or_404(invoice_id))


@require_GET
@require_billing_role(Role.RECEPTIONIST)
def invoice_pdf_view(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """`/billing/invoices/<id>/pdf/`: the invoice's PDF as a download `<number>.pdf`."""
    from .delivery import invoice_pdf_bytes

    invoice = get_object_or_404(Invoice, pk=invoice_id)
    response = HttpResponse(invoice_pdf_bytes(invoice), content_type="application/pdf")
    name = invoice.number or f"draft-{invoice.pk}"
    response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response


def _done(request: HttpRequest, invoice: Invoice) -> HttpResponse:
    """Back to the invoice's page (for htmx: the browser goes there, with the message)."""
    url = reverse("invoices:detail", args=[invoice.pk])
    return HttpResponseClientRedirect(url) if _partial(request) else redirect(url)


def _action_failed(request: HttpRequest, invoice_id: int, key: str, form: forms.Form) -> HttpResponse:
    """The action's form again with its errors (400): alone for htmx, else on the page."""
    invoice = _invoice_or_404(invoice_id)
    if _partial(request):
        return render(request, "invoices/_action.html", _action_context(invoice, key, form), status=400)
    return _detail_page(request, invoice, bound=(key, form), status=400)


def _run_action(
    request: HttpRequest, invoice_id: int, key: str, run: Callable[[Invoice, dict[str, Any]], str]
) -> HttpResponse:
    """GET: the invoice page with this action's form. POST: validate, call the service
    (`run` returns the success message), and go back to the invoice; errors re-render."""
    invoice = get_object_or_404(Invoice, pk=invoice_id)
    if request.method != "POST":
        return redirect(reverse("invoices:detail", args=[invoice.pk]) + f"#action-{key}")
    form_class = ACTIONS[key].form_class
    assert form_class is not None
    form = form_class(request.POST)
    if form.is_valid():
        try:
            message = run(invoice, form.cleaned_data)
        except InvoiceError as exc:
            assert isinstance(form, ServiceErrorMixin)
            form.add_invoice_error(exc)
        else:
            messages.success(request, message)
            return _done(request, invoice)
    return _action_failed(request, invoice.pk, key, form)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_billing_role(Role.RECEPTIONIST)
def invoice_payment_view(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """Record a payment received by hand (receptionist and up)."""
    fmt = _fmt(request)

    def run(invoice: Invoice, data: dict[str, Any]) -> str:
        payment = payment_record(
            invoice=invoice,
            amount=data["amount"],
            method=data["method"],
            reference=data["reference"],
            received_on=data["received_on"],
            actor=request.user,  # type: ignore[arg-type]
        )
        invoice.refresh_from_db(fields=["status", "amount_paid", "amount_credited", "total"])
        tail = (
            " The invoice is paid."
            if invoice.status == Invoice.Status.PAID
            else f" Still due: {fmt.money(invoice.amount_due)}."
        )
        return f"{payment.get_method_display()} payment of {fmt.money(payment.amount)} recorded.{tail}"

    return _run_action(request, invoice_id, "pay", run)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_billing_role(Role.MANAGER)
def invoice_credit_view(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """Issue a credit note on an open invoice (owner and manager)."""
    fmt = _fmt(request)

    def run(invoice: Invoice, data: dict[str, Any]) -> str:
        note = invoice_credit(invoice=invoice, amount=data["amount"], reason=data["reason"], actor=request.user)  # type: ignore[arg-type]
        return f"Credit note {note.number} for {fmt.money(note.amount)} issued."

    return _run_action(request, invoice_id, "credit", run)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_billing_role(Role.MANAGER)
def invoice_refund_view(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """Refund a paid or part-paid invoice (owner and manager)."""
    fmt = _fmt(request)

    def run(invoice: Invoice, data: dict[str, Any]) -> str:
        note = invoice_refund(invoice=invoice, amount=data["amount"], reason=data["reason"], actor=request.user)  # type: ignore[arg-type]
        return f"Refunded {fmt.money(note.amount)} (credit note {note.number})."

    return _run_action(request, invoice_id, "refund", run)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_billing_role(Role.MANAGER)
def invoice_void_view(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """Void an unpaid invoice (owner and manager)."""

    def run(invoice: Invoice, data: dict[str, Any]) -> str:
        voided = invoice_void(invoice=invoice, reason=data["reason"], actor=request.user)  # type: ignore[arg-type]
        return f"Invoice {voided.number or voided.pk} was voided."

    return _run_action(request, invoice_id, "void", run)


@require_POST
@require_billing_role(Role.MANAGER)
def invoice_charge_view(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """Charge the member's saved card now for what is due (owner and manager). The
    charge is an attempt with its own idempotency key; the outcome is the message."""
    invoice = get_object_or_404(Invoice, pk=invoice_id)
    outcome = invoice_charge(invoice_id=invoice.pk)
    if outcome.status == Payment.Status.SUCCEEDED:
        messages.success(request, "The card was charged. The invoice is paid.")
    elif outcome.status == Payment.Status.FAILED:
        messages.error(request, f"The card was declined: {outcome.message or 'no reason given'}.")
    elif outcome.status == "unknown":
        messages.warning(
            request, "Stripe did not answer. The charge will be checked again; the card is never charged twice."
        )
    else:
        messages.info(request, f"Nothing was charged ({outcome.message}).")
    return _done(request, invoice)


@require_http_methods(["GET", "POST"])
@require_billing_role(Role.MANAGER)
def invoice_create_view(request: HttpRequest) -> HttpResponse:
    """`/billing/invoices/new/?member=<id>`: an invoice for manual items (owner and
    manager): lines, discount, tax, due date and notes. Issued at once (numbered, open,
    emailed to the member)."""
    member_id = request.GET.get("member") or request.POST.get("member") or ""
    member = get_object_or_404(
        Member.objects.exclude(status=Member.Status.ERASED), pk=member_id if member_id.isdigit() else 0
    )
    post = request.POST if request.method == "POST" else None
    form = InvoiceCreateForm(post)
    lines = InvoiceLineFormSet(post, prefix="lines")
    if post is not None and form.is_valid() and lines.is_valid():
        items = [
            LineInput(description=f.cleaned_data["description"], unit_price=f.cleaned_data["unit_price"],
                      quantity=f.cleaned_data.get("quantity") or 1)
            for f in lines.forms
            if f.cleaned_data and not f.is_blank()
        ]  # fmt: skip
        data = form.cleaned_data
        try:
            invoice = invoice_create(
                member=member,
                lines=items,
                options=IssueOptions(
                    tax_rate=data.get("tax_rate"),
                    tax_inclusive=form.tax_inclusive(),
                    discount=data.get("discount") or ZERO,
                    due_date=data.get("due_date"),
                    notes=data.get("notes") or "",
                ),
                actor=request.user,  # type: ignore[arg-type]
            )
        except InvoiceError as exc:
            form.add_invoice_error(exc)
        else:
            messages.success(request, f"Invoice {invoice.number} was issued to {member.full_name}.")
            return redirect("invoices:detail", invoice_id=invoice.pk)
    gym = _gym(request)
    context = {
        "form": form,
        "lines": lines,
        "member": member,
        "gym_tax": f"{_fmt(request).percent(gym.tax_rate)} {'included' if gym.prices_include_tax else 'added'}",
    }
    return render(request, "invoices/create.html", context, status=400 if post is not None else 200)


# --- the member's invoices tab -----------------------------------------------------------------


def member_invoices_tab_context(request: HttpRequest, member: Member) -> dict[str, Any]:
    """Context of the member page's Invoices tab (`templates/invoices/_member_tab.html`):
    `billing_allowed` (False for trainers), the member's invoices, what they owe, the
    saved card and, where the gym takes cards, the member's card-update link. Three
    queries."""
    if not request_sees_billing(request):
        return {"billing_allowed": False}
    fmt = _fmt(request)
    billing = member_billing(member=member, today=timezone.localdate())
    gym = _gym(request)
    return {
        "billing_allowed": True,
        "billing": billing,
        "billing_invoices": _dress(billing.invoices, fmt),
        "billing_owed": fmt.money(billing.owed),
        "billing_overdue": fmt.money(billing.overdue),
        "billing_is_manager": request_sees_billing(request, Role.MANAGER),
        "card_update_link": member_card_link(member=member, gym=gym, request=request) if gym.stripe_connected else "",
        "today": timezone.localdate(),
    }


# --- Stripe Connect ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@require_gym_role(Role.OWNER)
def stripe_connect_view(request: HttpRequest) -> HttpResponse:
    """Owner only. POST (the settings page's button), or GET (Stripe's `refresh_url`
    when an onboarding link has expired): create the gym's Stripe account if it has
    none, and send the owner to Stripe's onboarding."""
    gym = _gym(request)
    try:
        url = gym_stripe_connect_link(
            gym=gym,
            email=gym.billing_email or request.user.email,  # type: ignore[union-attr]
            refresh_url=request.build_absolute_uri(reverse("invoices:stripe-connect")),
            return_url=request.build_absolute_uri(reverse("invoices:stripe-return")),
        )
    except GymError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("dashboard:settings") + "#settings-stripe")
    return redirect(url)


@require_GET
@require_gym_role(Role.OWNER)
def stripe_return_view(request: HttpRequest) -> HttpResponse:
    """Owner only. Stripe's `return_url` after onboarding: read the account back and say
    whether the gym can take card payments now."""
    try:
        state = gym_stripe_connect_refresh(gym=_gym(request))
    except GymError as exc:
        messages.error(request, exc.message)
    else:
        if state["charges_enabled"]:
            messages.success(request, "Stripe is connected. Members can pay by card and save a card for renewals.")
        elif state["details_submitted"]:
            messages.info(request, "Stripe is reviewing your details. Card payments start when it is done.")
        else:
            messages.warning(request, "Stripe onboarding is not finished yet. Use Connect Stripe to carry on.")
    return redirect(reverse("dashboard:settings") + "#settings-stripe")


# --- the member's self-serve links ----------------------------------------------------------------


def _self_serve(request: HttpRequest, title: str, message: str, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = {"title": title, "message": message, **extra}
    return render(request, "invoices/self_serve.html", context, status=status)


def _bad_link(request: HttpRequest, exc: signing.BadSignature) -> HttpResponse:
    if isinstance(exc, signing.SignatureExpired):
        return _self_serve(
            request,
            "This link has expired",
            "For your security, links are only valid for a while. Ask the gym for a new one, or pay at the front desk.",
            status=410,
        )
    return _self_serve(
        request, "This link is not valid", "Check that you opened the whole link from your email.", status=404
    )


@require_GET
def member_card_view(request: HttpRequest, token: str) -> HttpResponse:
    """`/billing/card/<token>/` (no login): send the member to Stripe Checkout (setup
    mode) to save or replace their card. `?cancelled=1` (Checkout's cancel URL) shows a
    "try again" page instead."""
    try:
        member_id = member_card_token_read(token)
    except signing.BadSignature as exc:
        return _bad_link(request, exc)
    member = Member.objects.exclude(status=Member.Status.ERASED).filter(pk=member_id).first()
    if member is None:
        return _bad_link(request, signing.BadSignature("no such member"))
    here = request.build_absolute_uri(reverse("invoices:card", args=[token]))
    if request.GET.get("cancelled"):
        return _self_serve(
            request, "No card was saved", "You can try again whenever you like.", retry_url=here, retry="Try again"
        )
    try:
        url = card_checkout_url(
            member=member,
            success_url=request.build_absolute_uri(reverse("invoices:card-done")),
            cancel_url=f"{here}?cancelled=1",
        )
    except InvoiceError as exc:
        return _stripe_trouble(request, exc, retry_url=here)
    return redirect(url)


@require_GET
def member_card_done_view(request: HttpRequest) -> HttpResponse:
    """Stripe Checkout's success page for saving a card."""
    return _self_serve(
        request, "Your card is saved", "Thank you. We will use it for your next payment and retry any payment due."
    )


def _stripe_trouble(request: HttpRequest, exc: InvoiceError, *, retry_url: str) -> HttpResponse:
    if exc.code == "stripe_unavailable":
        return _self_serve(
            request,
            "Card payments are unavailable right now",
            "Please try again in a minute.",
            status=503,
            retry_url=retry_url,
            retry="Try again",
        )
    return _self_serve(
        request, "Online card payments are not available", f"{exc.message} Please pay at the front desk.", status=409
    )


@require_GET
def invoice_pay_view(request: HttpRequest, token: str) -> HttpResponse:
    """`/billing/pay/<token>/` (no login; the QR code and link on the invoice): send the
    member to Stripe Checkout for what the invoice still owes. A paid or void invoice,
    an expired or forged link get a friendly page. `?done=1` and `?cancelled=1` are
    Checkout's return pages."""
    try:
        invoice_id = invoice_pay_token_read(token)
    except signing.BadSignature as exc:
        return _bad_link(request, exc)
    invoice = Invoice.objects.filter(pk=invoice_id).first()
    if invoice is None:
        return _bad_link(request, signing.BadSignature("no such invoice"))
    fmt = Formatter(currency=invoice.currency, locale=document_locale(gym=_gym(request)))
    here = request.build_absolute_uri(reverse("invoices:pay-link", args=[token]))
    number = invoice.number or ""
    if invoice.status == Invoice.Status.PAID:
        return _self_serve(request, f"Invoice {number} is paid", "Thank you. There is nothing left to pay.")
    if request.GET.get("done"):
        return _self_serve(
            request,
            "Thank you",
            f"Your payment for invoice {number} is being confirmed. You will get a receipt by email.",
        )
    if invoice.status != Invoice.Status.OPEN or invoice.amount_due <= 0:
        return _self_serve(request, f"Invoice {number} has nothing to pay", "This invoice is no longer due.")
    if request.GET.get("cancelled"):
        return _self_serve(
            request,
            "Nothing was paid",
            f"Invoice {number} still asks for {fmt.money(invoice.amount_due)}.",
            retry_url=here,
            retry="Pay now",
        )
    try:
        url = invoice_pay_url(invoice=invoice, success_url=f"{here}?done=1", cancel_url=f"{here}?cancelled=1")
    except InvoiceError as exc:
        return _stripe_trouble(request, exc, retry_url=here)
    return redirect(url)
