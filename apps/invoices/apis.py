"""`/api/v1/` of invoices and payments: members read and pay their own invoices and save
a card; staff read every invoice and record, void and refund.

Who may do what (roles from apps/staff/roles.py):
- A member lists and reads their own issued invoices (drafts are not theirs to see
  yet), downloads their PDFs, saves a card (`payments/setup-intent/`) and pays a
  membership's open invoices with it (`memberships/{id}/pay/`). Anyone else's invoice
  or membership id is a 404, exactly like an id from another gym.
- Staff (receptionist and up) list every invoice with filters, read any, and record
  manual payments (cash, card terminal, bank transfer / EFT, other): the front desk
  takes the money, as it does for check-in and sales. They may pay any membership's
  open invoices with the member's saved card (e.g. on the phone with the member).
- Voiding and refunding (money documents that undo income) are for a manager or the
  owner, like overriding a refused check-in.

Service errors keep the code of `InvoiceError` (apps/invoices/errors.py); the status
says what kind of problem it is, as for memberships and bookings:
- 400 `invalid_amount`, `overpayment`, `refund_too_large`: the client fixes its input
  (`details` names the field);
- 409 `invoice_not_open`, `invoice_not_voidable`, `no_saved_card`,
  `stripe_not_connected`: the request clashes with the invoice's or gym's state;
- 503 `stripe_unavailable`: Stripe could not be reached; nothing was done twice, try again.
A declined card is an answer, not an error: pay-now returns 200 with the outcomes.
Errors use the envelope of apps/core/api_errors.py.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import User
from apps.classes.apis import JsonOnlyNegotiation
from apps.core.api_errors import api_error, domain_error, error_responses
from apps.core.api_input import CALENDAR_HELP, StrictJsonSerializer, within_calendar
from apps.core.pagination import ApiPagination
from apps.members.models import Member
from apps.members.selectors import member_for_user
from apps.memberships.models import Membership
from apps.staff.access import GymRolePermission
from apps.staff.roles import Role
from apps.tenants.dispatch import gym_local_date
from apps.tenants.models import Gym

from .errors import InvoiceError
from .models import CreditNote, Invoice, Payment
from .selectors import invoice_list, invoice_overdue_q, member_billing
from .serializers import (
    INVOICE_DETAIL_EXAMPLE,
    CreditNoteSerializer,
    InvoiceDetailSerializer,
    InvoiceListItemSerializer,
    PaymentRecordedSerializer,
    PaymentSerializer,
    PayNowResultSerializer,
    RefundedSerializer,
    SetupIntentSerializer,
)
from .services import (
    MANUAL_METHODS,
    card_setup_intent,
    invoice_refund,
    invoice_void,
    membership_pay_now,
    payment_record,
)

PAYMENT_ROLE = Role.RECEPTIONIST
"""The lowest role that records a manual payment (the front desk takes cash)."""
CORRECTION_ROLE = Role.MANAGER
"""The lowest role that voids or refunds an invoice."""
ORDERINGS = {
    "issue_date": ("issue_date", "id"),
    "-issue_date": ("-issue_date", "-id"),
    "due_date": ("due_date", "id"),
    "-due_date": ("-due_date", "-id"),
}


def _invoice_error(exc: InvoiceError) -> Response:
    """The service error with its status from the error reference (apps/core/api_errors.py)."""
    return domain_error(exc)


def _is_staff(request: Request) -> bool:
    role = getattr(request, "gym_role", None)
    return role is not None and Role(role).at_least(Role.RECEPTIONIST)


def _actor(request: Request) -> User:
    return request.user  # type: ignore[return-value]  # GymRolePermission guarantees a real user


def _today(request: Request) -> datetime.date:
    """Today in the gym's timezone (what the services take as `today`)."""
    return gym_local_date(request.tenant)  # type: ignore[attr-defined]


def _context(request: Request) -> dict[str, Any]:
    return {"request": request, "today": _today(request)}


def _own(request: Request, invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """The caller's own issued invoices among `invoices` (a member never sees drafts)."""
    return invoices.filter(member__user_id=_actor(request).pk).exclude(status=Invoice.Status.DRAFT)


def _visible_invoices(request: Request) -> QuerySet[Invoice]:
    """Every invoice for staff; a member's own issued ones for a member."""
    invoices = Invoice.objects.select_related("member")
    return invoices if _is_staff(request) else _own(request, invoices)


def _with_documents(invoices: QuerySet[Invoice]) -> QuerySet[Invoice]:
    """Lines, payments and credit notes with their refunds: 4 queries for any number."""
    return invoices.prefetch_related(
        "lines", "payments", Prefetch("credit_notes", queryset=CreditNote.objects.prefetch_related("refunds"))
    )


def _invoice_or_404(request: Request, pk: int, *, documents: bool = False) -> Invoice:
    invoices = _visible_invoices(request)
    invoice = (_with_documents(invoices) if documents else invoices).filter(pk=pk).first()
    if invoice is None:
        raise Http404
    return invoice


def _detail_data(request: Request, invoice_id: int) -> dict[str, Any]:
    invoice = _invoice_or_404(request, invoice_id, documents=True)
    return dict(InvoiceDetailSerializer(invoice, context=_context(request)).data)


def _membership_or_404(request: Request, pk: int) -> Membership:
    """Any membership for staff; the caller's own for a member."""
    memberships = Membership.objects.all()
    if not _is_staff(request):
        memberships = memberships.filter(member__user_id=_actor(request).pk)
    membership = memberships.filter(pk=pk).first()
    if membership is None:
        raise Http404
    return membership


# --- reading ---------------------------------------------------------------------------------------


class InvoiceListApi(APIView):
    """`GET invoices/`: invoices, newest first, paged (staff: all; a member: their own)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER
    pagination_class = ApiPagination

    @extend_schema_serializer(component_name="InvoiceListFilter")
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=Invoice.Status.choices, required=False, help_text="draft, open, paid, void or uncollectible."
        )
        member = serializers.IntegerField(required=False, min_value=1, help_text="A member's id.")
        membership = serializers.IntegerField(required=False, min_value=1, help_text="A membership's id.")
        overdue = serializers.BooleanField(
            required=False,
            help_text="true: open invoices past their due date (gym-local today) or whose card charge failed; "
            "false: all others; absent: all.",
        )
        q = serializers.CharField(
            required=False, allow_blank=True, max_length=100, help_text="Words of the number or member's name or email."
        )
        issued_from = serializers.DateField(
            required=False, validators=[within_calendar], help_text=f"Issued on or after (gym-local). {CALENDAR_HELP}"
        )
        issued_to = serializers.DateField(
            required=False, validators=[within_calendar], help_text=f"Issued on or before (gym-local). {CALENDAR_HELP}"
        )
        ordering = serializers.ChoiceField(choices=list(ORDERINGS), required=False, default="-issue_date")

    @extend_schema(
        operation_id="invoices_list",
        tags=["invoices"],
        summary="List invoices",
        description=(
            "Staff (receptionist and up) see every invoice and filter by `status`, `member`, `membership` and "
            "`overdue`; a member sees only their own issued invoices (the filters narrow those). Newest first, "
            "paged with `page`/`page_size`. Search `q` over the number and the member's name and email."
        ),
        parameters=[FilterSerializer],
        responses={200: InvoiceListItemSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        today = _today(request)
        invoices = invoice_list(
            today=today,
            status=f.get("status", ""),
            overdue=f.get("overdue") is True,
            query=f.get("q", ""),
            issued_from=f.get("issued_from"),
            issued_to=f.get("issued_to"),
            member_id=f.get("member"),
        )
        if not _is_staff(request):
            invoices = _own(request, invoices)
        if f.get("overdue") is False:
            invoices = invoices.exclude(invoice_overdue_q(today=today))
        if f.get("membership"):
            invoices = invoices.filter(membership_id=f["membership"])
        invoices = invoices.order_by(*ORDERINGS[f["ordering"]])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(invoices, request, view=self)
        data = InvoiceListItemSerializer(page, many=True, context={"request": request, "today": today}).data
        return paginator.get_paginated_response(data)


class InvoiceDetailApi(APIView):
    """`GET invoices/{id}/`: one invoice with lines, payments and credit notes."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER

    @extend_schema(
        operation_id="invoices_retrieve",
        tags=["invoices"],
        summary="Read an invoice",
        description=(
            "The invoice as issued (gym and member as printed, lines, discount, tax), its payments "
            "(method, amount, date, status), credit notes with refunds, the amount due and the PDF's URL. "
            "Staff read any; a member gets 404 for anyone else's invoice and for drafts."
        ),
        responses={200: InvoiceDetailSerializer},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(_detail_data(request, pk))


class InvoicePdfApi(APIView):
    """`GET invoices/{id}/pdf/`: the invoice's PDF (rendered and stored on first use)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER
    content_negotiation_class = JsonOnlyNegotiation

    @extend_schema(
        operation_id="invoices_pdf",
        tags=["invoices"],
        summary="Download an invoice's PDF",
        description=(
            "`application/pdf`, A4, named after the invoice number. Same access as reading the invoice: "
            "a member gets 404 for anyone else's invoice (and for drafts). Errors are JSON whatever `Accept` says."
        ),
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The invoice as a PDF.")},
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        from .delivery import invoice_pdf_bytes  # PDF rendering loads WeasyPrint: only when asked

        invoice = _invoice_or_404(request, pk)
        try:
            data = invoice_pdf_bytes(invoice)
        except Invoice.DoesNotExist as exc:  # deleted in between (drafts can be)
            raise Http404 from exc
        response = HttpResponse(data, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{invoice.number or f"draft-{invoice.pk}"}.pdf"'
        response["Cache-Control"] = "private, no-cache"
        return response


# --- member: save a card, pay now ------------------------------------------------------------------


class PaymentSetupIntentApi(APIView):
    """`POST payments/setup-intent/`: a Stripe SetupIntent to save the caller's card."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER

    @extend_schema(
        operation_id="payments_setup_intent",
        tags=["payments"],
        summary="Start saving a card (SetupIntent)",
        description=(
            "For the caller's own member record at this gym. Confirm the returned `client_secret` with "
            "Stripe's mobile SDK on the gym's account (`account`); Stripe's `setup_intent.succeeded` webhook "
            "then saves the card for future charges. Each call makes a new SetupIntent; the member's Stripe "
            "customer is made once. 201 with what the SDK needs."
        ),
        request=None,
        responses={
            201: SetupIntentSerializer,
            **error_responses("not_a_member", "stripe_not_connected", "stripe_unavailable"),
        },
    )
    def post(self, request: Request) -> Response:
        member = member_for_user(user_id=request.user.pk)  # type: ignore[arg-type]
        if member is None:
            return api_error("not_a_member", "Only members can save a card.")
        try:
            intent = card_setup_intent(member=member)
        except InvoiceError as exc:
            return _invoice_error(exc)
        return Response(SetupIntentSerializer(intent).data, status=status.HTTP_201_CREATED)


class MembershipPayApi(APIView):
    """`POST memberships/{id}/pay/`: charge the saved card for the membership's open invoices."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER

    @extend_schema(
        operation_id="memberships_pay",
        tags=["payments"],
        summary="Pay a membership's open invoices now",
        description=(
            "Charges the member's saved card for each open invoice of the membership, oldest first (e.g. after "
            "updating the card while past due). A member may pay only their own membership (404 otherwise); "
            "staff may pay any. 200 with one outcome per invoice (a decline is `failed` with the reason, not an "
            "error) and the invoices' statuses after. Paid invoices end past-due status."
        ),
        request=None,
        responses={
            200: PayNowResultSerializer,
            **error_responses(
                "invoice_not_open",
                "no_saved_card",
                "stripe_not_connected",
                "stripe_unavailable",
                invoice_not_open="Nothing is owed on this membership.",
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        membership = _membership_or_404(request, pk)
        open_ids = list(
            Invoice.objects.filter(membership=membership, status=Invoice.Status.OPEN)
            .order_by("issue_date", "pk")
            .values_list("pk", flat=True)
        )
        try:
            outcomes = membership_pay_now(membership=membership, today=_today(request))
        except InvoiceError as exc:
            return _invoice_error(exc)
        paid_for = dict(
            Payment.objects.filter(pk__in=[o.payment_id for o in outcomes if o.payment_id]).values_list(
                "pk", "invoice_id"
            )
        )
        in_order = len(open_ids) == len(outcomes)  # the service charges them in this order
        charged = Invoice.objects.filter(pk__in=set(open_ids) | set(paid_for.values())).order_by("issue_date", "pk")
        invoices = list(charged)
        membership.refresh_from_db(fields=["status"])
        data = {
            "membership": membership.pk,
            "membership_status": membership.status,
            "paid": all(i.status == Invoice.Status.PAID for i in invoices),
            "outcomes": [
                {
                    "invoice": paid_for.get(o.payment_id or 0) or (open_ids[n] if in_order else None),
                    "status": o.status,
                    "payment": o.payment_id,
                    "message": o.message,
                }
                for n, o in enumerate(outcomes)
            ],
            "invoices": invoices,
        }
        return Response(PayNowResultSerializer(data).data)


# --- staff: record, void, refund -------------------------------------------------------------------


class InvoicePaymentRecordApi(APIView):
    """`POST invoices/{id}/payments/`: record money staff received (receptionist+)."""

    permission_classes = [GymRolePermission]
    minimum_role = PAYMENT_ROLE

    @extend_schema_serializer(
        component_name="InvoicePaymentRecordInput",
        examples=[
            OpenApiExample(
                "Cash at the desk",
                value={"amount": "45.00", "method": "cash", "reference": "Till 2, receipt 1182"},
                request_only=True,
            )
        ],
    )
    class InputSerializer(StrictJsonSerializer):
        amount = serializers.DecimalField(
            max_digits=12, decimal_places=2, help_text="In the invoice's currency; at most the amount due."
        )
        method = serializers.ChoiceField(
            choices=[(m.value, m.label) for m in MANUAL_METHODS],
            help_text="cash, card_terminal, bank_transfer or other.",
        )
        reference = serializers.CharField(
            required=False, allow_blank=True, max_length=120, default="", help_text="Receipt or bank reference."
        )
        received_on = serializers.DateField(
            required=False,
            validators=[within_calendar],
            help_text=f"Gym-local date the money came in; default today, never in the future. {CALENDAR_HELP}",
        )

        def validate_received_on(self, value: datetime.date) -> datetime.date:
            if value > self.context["today"]:
                raise serializers.ValidationError("The money cannot have come in after today.")
            return value

    @extend_schema(
        operation_id="invoices_payments_create",
        tags=["invoices"],
        summary="Record a manual payment (receptionist+)",
        description=(
            "Cash, card terminal, bank transfer / EFT or other, with a reference. Part payments are allowed; "
            "the invoice becomes paid when covered (and a past-due membership active again). 201 with the "
            "payment and the invoice. An unknown method is 400 `validation_error`."
        ),
        request=InputSerializer,
        responses={
            201: PaymentRecordedSerializer,
            **error_responses("invalid_amount", "overpayment", "invoice_not_open"),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        invoice = _invoice_or_404(request, pk)
        today = _today(request)
        data = self.InputSerializer(data=request.data, context={"today": today})
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            payment = payment_record(
                invoice=invoice,
                amount=v["amount"],
                method=v["method"],
                reference=v["reference"],
                received_on=v.get("received_on") or today,
                actor=_actor(request),
            )
        except InvoiceError as exc:
            return _invoice_error(exc)
        body = {"payment": PaymentSerializer(payment).data, "invoice": _detail_data(request, invoice.pk)}
        return Response(body, status=status.HTTP_201_CREATED)


class InvoiceVoidApi(APIView):
    """`POST invoices/{id}/void/`: cancel an unpaid invoice (manager+)."""

    permission_classes = [GymRolePermission]
    minimum_role = CORRECTION_ROLE

    @extend_schema_serializer(
        component_name="InvoiceVoidInput",
        examples=[OpenApiExample("Void", value={"reason": "Issued twice by mistake"}, request_only=True)],
    )
    class InputSerializer(StrictJsonSerializer):
        reason = serializers.CharField(max_length=255)

    @extend_schema(
        operation_id="invoices_void",
        tags=["invoices"],
        summary="Void an invoice (manager+)",
        description=(
            "A draft or open invoice with no money received is no longer owed; it keeps its number. A past-due "
            "membership whose only overdue invoice this was becomes active again. 200 with the invoice."
        ),
        request=InputSerializer,
        responses={
            200: OpenApiResponse(
                InvoiceDetailSerializer,
                description="The invoice, now void.",
                examples=[
                    OpenApiExample(
                        "Voided",
                        value=INVOICE_DETAIL_EXAMPLE
                        | {
                            "status": "void",
                            "amount_due": "0.00",
                            "voided_at": "2026-04-14T09:00:00Z",
                            "void_reason": "Issued twice by mistake",
                            "payments": [],
                            "amount_paid": "0.00",
                            "paid_at": None,
                        },
                        status_codes=["200"],
                    )
                ],
            ),
            **error_responses("invoice_not_voidable"),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        invoice = _invoice_or_404(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            invoice_void(invoice=invoice, reason=data.validated_data["reason"], actor=_actor(request))
        except InvoiceError as exc:
            return _invoice_error(exc)
        return Response(_detail_data(request, invoice.pk))


class InvoiceRefundApi(APIView):
    """`POST invoices/{id}/refund/`: give money back with a credit note (manager+)."""

    permission_classes = [GymRolePermission]
    minimum_role = CORRECTION_ROLE

    @extend_schema_serializer(
        component_name="InvoiceRefundInput",
        examples=[
            OpenApiExample(
                "Part refund", value={"amount": "15.00", "reason": "Studio closed for a week"}, request_only=True
            )
        ],
    )
    class InputSerializer(StrictJsonSerializer):
        amount = serializers.DecimalField(
            max_digits=12, decimal_places=2, help_text="At most what was paid and not yet refunded."
        )
        reason = serializers.CharField(max_length=255)

    @extend_schema(
        operation_id="invoices_refund",
        tags=["invoices"],
        summary="Refund an invoice, partly or fully (manager+)",
        description=(
            "Issues a numbered credit note for `amount` and refunds the invoice's payments, newest first, "
            "until it is covered: card payments through Stripe (once, whatever the retries), manual ones "
            "recorded as given back by hand. The invoice itself is never edited. 201 with the credit note and "
            "the invoice."
        ),
        request=InputSerializer,
        responses={
            201: RefundedSerializer,
            **error_responses(
                "invalid_amount",
                "refund_too_large",
                "stripe_unavailable",
                stripe_unavailable="Stripe could not be reached; nothing was refunded. Retry.",
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        invoice = _invoice_or_404(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            note = invoice_refund(invoice=invoice, amount=v["amount"], reason=v["reason"], actor=_actor(request))
        except InvoiceError as exc:
            return _invoice_error(exc)
        note = CreditNote.objects.prefetch_related("refunds").get(pk=note.pk)
        body = {"credit_note": CreditNoteSerializer(note).data, "invoice": _detail_data(request, invoice.pk)}
        return Response(body, status=status.HTTP_201_CREATED)


# --- the member's billing at a glance (for `me/`) -----------------------------------------------


def member_billing_summary(*, member: Member, gym: Gym, today: datetime.date | None = None) -> dict[str, Any]:
    """What `MemberBillingSerializer` shows for `member` (e.g. in `me/`): the amount
    still owed on open invoices and its overdue part (Decimal, gym currency), how many
    are open, the saved card (a `StripeCustomer`, or None) and whether the gym takes
    card payments online. `today` is gym-local (default: today there). Two queries
    (`selectors.member_billing` without its invoice list)."""
    billing = member_billing(member=member, today=today or gym_local_date(gym), limit=0)
    return {
        "currency": gym.currency,
        "amount_due": billing.owed,
        "amount_overdue": billing.overdue,
        "open_invoices": billing.open_count,
        "card": billing.card,
        "online_payments": gym.stripe_connected,
    }
