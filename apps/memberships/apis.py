"""`/api/v1/memberships/`: members on plans, and the lifecycle actions.

Who may do what (decided for issue 3; see also `MEMBER_SELF_SERVICE`):
- Staff (receptionist and up) list, read and assign any membership of the gym, and
  freeze, unfreeze, cancel, renew and change plan.
- A member (the app) sees only their own memberships; anyone else's id is a 404.
  They may freeze and unfreeze their own membership (a self-service hold, within the
  service's rules: not in the past, at most `MAX_FREEZE_DAYS`). Cancelling, renewing
  and changing plan stay with the front desk, as Mindbody does by default: it keeps
  the retention conversation with staff. Members get 403 `role_too_low` there.
- The plan-change proration is previewed with `GET memberships/{id}/change-plan/?plan=ID`
  (safe, writes nothing) and confirmed with `POST memberships/{id}/change-plan/`.
  The POST may carry `expected_amount_due` (from the preview): if the amount changed
  in between (a day passed, the plan's price changed), nothing is changed and the
  answer is 409 `quote_changed` with the new quote.

Service errors keep their codes; the status says what kind of problem it is:
400 for dates that break a rule (the client fixes its input), 409 for a conflict with
the membership's current state, 422 for a plan that cannot be used here.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api_errors import api_error, domain_error, error_responses
from apps.core.api_input import CALENDAR_HELP, StrictJsonSerializer, within_calendar
from apps.core.pagination import ApiPagination
from apps.members.models import Member
from apps.plans.models import Plan
from apps.staff.access import GymRolePermission
from apps.staff.roles import Role

from .errors import MembershipError
from .models import Freeze, Membership
from .services import (
    MAX_FREEZE_DAYS,
    ProrationQuote,
    membership_assign,
    membership_cancel,
    membership_change_plan,
    membership_change_plan_quote,
    membership_freeze,
    membership_renew,
    membership_unfreeze,
)

# Lifecycle actions a member may take on their own membership. A per-gym policy
# (Gym settings) can replace this constant when gym-level settings land.
MEMBER_SELF_SERVICE = frozenset({"freeze", "unfreeze"})

ORDERINGS = {
    "start_date": ("start_date", "id"),
    "-start_date": ("-start_date", "-id"),
    "end_date": ("end_date", "id"),
    "-end_date": ("-end_date", "-id"),
    "next_billing_date": ("next_billing_date", "id"),
    "-next_billing_date": ("-next_billing_date", "-id"),
}


def _membership_error(exc: MembershipError) -> Response:
    """The service error with its status from the error reference (400 for dates that
    break a rule, 409 for a clash with the membership's state, 422 for an unusable plan)."""
    return domain_error(exc)


def _is_staff(request: Request) -> bool:
    role = getattr(request, "gym_role", None)
    return role is not None and Role(role).at_least(Role.RECEPTIONIST)


def _visible_memberships(request: Request) -> QuerySet[Membership]:
    """Every membership for staff; a member's own ones for a member."""
    memberships = Membership.objects.select_related("member", "plan").prefetch_related(
        Prefetch("freezes", queryset=Freeze.objects.order_by("-start_date", "-id"))
    )
    if not _is_staff(request):
        memberships = memberships.filter(member__user_id=request.user.pk)  # type: ignore[misc]
    return memberships


def _membership_or_404(request: Request, pk: int) -> Membership:
    membership = _visible_memberships(request).filter(pk=pk).first()
    if membership is None:
        raise Http404
    return membership


def _context(request: Request) -> dict[str, Any]:
    return {"currency": getattr(getattr(request, "tenant", None), "currency", "")}


# --- serializers ---------------------------------------------------------------------

MEMBERSHIP_EXAMPLE: dict[str, Any] = {
    "id": 5120,
    "member": {"id": 311, "full_name": "Mia Moss"},
    "plan": {"id": 12, "name": "Unlimited monthly", "kind": "recurring"},
    "status": "active",
    "start_date": "2026-01-31",
    "end_date": None,
    "next_billing_date": "2026-05-31",
    "price": "45.00",
    "currency": "GBP",
    "billing_period": "monthly",
    "billing_interval": 1,
    "class_credits": None,
    "cancel_at_period_end": False,
    "cancelled_on": None,
    "cancel_reason": "",
    "freezes": [
        {"id": 77, "start_date": "2026-03-09", "end_date": "2026-03-15", "ended_on": None, "reason": "Holiday"}
    ],
}
QUOTE_EXAMPLE: dict[str, Any] = {
    "plan": {"id": 14, "name": "Premium monthly", "kind": "recurring"},
    "currency": "GBP",
    "days_remaining": 17,
    "days_in_period": 30,
    "unused_credit": "25.50",
    "new_plan_charge": "62.00",
    "amount_due": "36.50",
    "period_start": "2026-04-14",
    "next_billing_date": "2026-05-14",
    "resets_billing_cycle": True,
}


@extend_schema_serializer(component_name="MembershipMember")
class MembershipMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField()


@extend_schema_serializer(component_name="MembershipPlan")
class MembershipPlanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField()


@extend_schema_serializer(component_name="MembershipFreeze")
class FreezeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    ended_on = serializers.DateField(allow_null=True)
    reason = serializers.CharField()


@extend_schema_serializer(
    component_name="Membership",
    examples=[OpenApiExample("A monthly membership", value=MEMBERSHIP_EXAMPLE, response_only=True)],
)
class MembershipSerializer(serializers.Serializer):
    """A membership with the terms it was sold on (price and period are the contract's,
    not the plan's current ones) and its freezes."""

    id = serializers.IntegerField()
    member = MembershipMemberSerializer()
    plan = MembershipPlanSerializer()
    status = serializers.ChoiceField(choices=Membership.Status.choices)
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)
    next_billing_date = serializers.DateField(allow_null=True)
    price = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.SerializerMethodField()
    billing_period = serializers.CharField()
    billing_interval = serializers.IntegerField()
    class_credits = serializers.IntegerField(allow_null=True, help_text="null = unlimited")
    cancel_at_period_end = serializers.BooleanField()
    cancelled_on = serializers.DateField(allow_null=True)
    cancel_reason = serializers.CharField()
    freezes = serializers.SerializerMethodField(help_text="Newest first, including scheduled and ended ones.")

    def get_currency(self, membership: Membership) -> str:
        return str(self.context.get("currency", ""))

    @extend_schema_field(FreezeSerializer(many=True))
    def get_freezes(self, membership: Membership) -> list[dict[str, Any]]:
        return list(FreezeSerializer(membership.freezes.all(), many=True).data)


@extend_schema_serializer(
    component_name="ProrationQuote",
    examples=[OpenApiExample("Upgrade mid-period", value=QUOTE_EXAMPLE, response_only=True)],
)
class ProrationQuoteSerializer(serializers.Serializer):
    """What moving to `plan` costs today: `amount_due` > 0 the member pays, < 0 credit."""

    plan = MembershipPlanSerializer()
    currency = serializers.CharField()
    days_remaining = serializers.IntegerField()
    days_in_period = serializers.IntegerField()
    unused_credit = serializers.DecimalField(max_digits=10, decimal_places=2)
    new_plan_charge = serializers.DecimalField(max_digits=10, decimal_places=2)
    amount_due = serializers.DecimalField(max_digits=10, decimal_places=2)
    period_start = serializers.DateField()
    next_billing_date = serializers.DateField()
    resets_billing_cycle = serializers.BooleanField()


def _quote_data(request: Request, quote: ProrationQuote, plan: Plan) -> dict[str, Any]:
    return dict(
        ProrationQuoteSerializer(
            {
                "plan": plan,
                "currency": _context(request)["currency"],
                "days_remaining": quote.days_remaining,
                "days_in_period": quote.days_in_period,
                "unused_credit": quote.unused_credit,
                "new_plan_charge": quote.new_plan_charge,
                "amount_due": quote.amount_due,
                "period_start": quote.period_start,
                "next_billing_date": quote.next_billing_date,
                "resets_billing_cycle": quote.resets_billing_cycle,
            }
        ).data
    )


def _detail(request: Request, membership: Membership, http_status: int = status.HTTP_200_OK) -> Response:
    fresh = _membership_or_404(request, membership.pk)
    return Response(MembershipSerializer(fresh, context=_context(request)).data, status=http_status)


# --- list, assign, retrieve ---------------------------------------------------------------


class MembershipListApi(APIView):
    """`GET memberships/`: memberships, paged (staff: all; a member: their own).
    `POST memberships/`: assign a plan to a member (receptionist+)."""

    permission_classes = [GymRolePermission]
    pagination_class = ApiPagination

    @property
    def minimum_role(self) -> Role:
        return Role.MEMBER if self.request.method in ("GET", "HEAD", "OPTIONS") else Role.RECEPTIONIST

    @extend_schema_serializer(component_name="MembershipListFilter")
    class FilterSerializer(serializers.Serializer):
        member = serializers.IntegerField(required=False, min_value=1)
        plan = serializers.IntegerField(required=False, min_value=1)
        status = serializers.ChoiceField(choices=Membership.Status.choices, required=False)
        ordering = serializers.ChoiceField(choices=list(ORDERINGS), required=False, default="-start_date")

    @extend_schema_serializer(
        component_name="MembershipAssignInput",
        examples=[
            OpenApiExample(
                "Sign up for a plan",
                value={"member": 311, "plan": 12, "start_date": "2026-04-14", "reason": "Joined at the desk"},
                request_only=True,
            )
        ],
    )
    class InputSerializer(StrictJsonSerializer):
        member = serializers.PrimaryKeyRelatedField(queryset=Member.objects.all())
        plan = serializers.PrimaryKeyRelatedField(queryset=Plan.objects.all())
        start_date = serializers.DateField(
            required=False, validators=[within_calendar], help_text=f"Gym-local date; default today. {CALENDAR_HELP}"
        )
        reason = serializers.CharField(required=False, allow_blank=True, max_length=255)

    @extend_schema(
        operation_id="memberships_list",
        tags=["memberships"],
        summary="List memberships",
        description=(
            "Staff (receptionist and up) see every membership of the gym and filter by `member`, `plan` and "
            "`status`; a member sees only their own (the filters narrow those). Paged with `page`/`page_size`."
        ),
        parameters=[FilterSerializer],
        responses={200: MembershipSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        memberships = _visible_memberships(request)
        for name in ("member", "plan", "status"):
            if f.get(name):
                memberships = memberships.filter(**{name: f[name]})
        memberships = memberships.order_by(*ORDERINGS[f["ordering"]])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(memberships, request, view=self)
        return paginator.get_paginated_response(MembershipSerializer(page, many=True, context=_context(request)).data)

    @extend_schema(
        operation_id="memberships_assign",
        tags=["memberships"],
        summary="Assign a plan to a member (receptionist+)",
        description=(
            "Sells `plan` to `member` from `start_date` (gym-local, default today) on the plan's current terms: "
            "the membership is created with its sale invoice (and signup fee). 201 with the membership. An "
            "unknown member or plan id is 400 `validation_error`."
        ),
        request=InputSerializer,
        responses={
            201: MembershipSerializer,
            **error_responses("member_erased", "already_has_membership", "plan_archived"),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            membership = membership_assign(
                member=v["member"],
                plan=v["plan"],
                start_date=v.get("start_date") or timezone.localdate(),
                actor=request.user,  # type: ignore[arg-type]
                reason=v.get("reason", ""),
            )
        except MembershipError as exc:
            return _membership_error(exc)
        return _detail(request, membership, status.HTTP_201_CREATED)


class MembershipDetailApi(APIView):
    """`GET memberships/{id}/`: one membership with its freezes (staff; a member: their own)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER

    @extend_schema(
        operation_id="memberships_retrieve",
        tags=["memberships"],
        summary="Read a membership",
        description=(
            "The membership with the terms it was sold on and its freezes (newest first). Staff read any; a "
            "member gets 404 for anyone else's membership."
        ),
        responses={200: MembershipSerializer},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(MembershipSerializer(_membership_or_404(request, pk), context=_context(request)).data)


# --- lifecycle actions ---------------------------------------------------------------


class MembershipFreezeApi(APIView):
    """`POST memberships/{id}/freeze/`: pause an active membership from `start_date`
    (default today) to `end_date`, or for `days` days (staff; a member: their own)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER if "freeze" in MEMBER_SELF_SERVICE else Role.RECEPTIONIST

    @extend_schema_serializer(
        component_name="MembershipFreezeInput",
        examples=[
            OpenApiExample(
                "A week's holiday",
                value={"start_date": "2026-05-04", "days": 7, "reason": "Holiday"},
                request_only=True,
            ),
            OpenApiExample(
                "Until a date",
                value={"start_date": "2026-05-04", "end_date": "2026-05-31", "reason": "Knee surgery"},
                request_only=True,
            ),
        ],
    )
    class InputSerializer(StrictJsonSerializer):
        start_date = serializers.DateField(
            required=False,
            validators=[within_calendar],
            help_text=f"Gym-local first frozen day; default today. {CALENDAR_HELP}",
        )
        end_date = serializers.DateField(
            required=False, validators=[within_calendar], help_text=f"Last frozen day (inclusive). {CALENDAR_HELP}"
        )
        days = serializers.IntegerField(
            required=False, min_value=1, max_value=MAX_FREEZE_DAYS, help_text="Instead of end_date."
        )
        reason = serializers.CharField(max_length=255)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if ("end_date" in attrs) == ("days" in attrs):
                raise serializers.ValidationError({"end_date": ["Give either end_date or days."]})
            attrs.setdefault("start_date", timezone.localdate())
            if "days" in attrs:
                attrs["end_date"] = attrs["start_date"] + datetime.timedelta(days=attrs.pop("days") - 1)
            return attrs

    @extend_schema(
        operation_id="memberships_freeze",
        tags=["memberships"],
        summary="Freeze a membership",
        description=(
            "Staff, or the member for their own membership. From `start_date` (default today) to `end_date`, "
            "or for `days` days (send one of them). No access and no billing while frozen; the membership's "
            "end and next billing dates move by the frozen days. A freeze that starts later is scheduled. "
            "200 with the membership."
        ),
        request=InputSerializer,
        responses={
            200: MembershipSerializer,
            **error_responses(
                "freeze_in_past",
                "freeze_dates_invalid",
                "freeze_too_long",
                "freeze_after_end",
                "transition_not_allowed",
                "freeze_overlaps",
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        membership = _membership_or_404(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            membership = membership_freeze(
                membership=membership,
                actor=request.user,  # type: ignore[arg-type]
                **data.validated_data,
            )
        except MembershipError as exc:
            return _membership_error(exc)
        return _detail(request, membership)


class MembershipUnfreezeApi(APIView):
    """`POST memberships/{id}/unfreeze/`: end the freeze in effect early, or call off a
    scheduled one (staff; a member: their own)."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER if "unfreeze" in MEMBER_SELF_SERVICE else Role.RECEPTIONIST

    @extend_schema_serializer(
        component_name="MembershipUnfreezeInput",
        examples=[OpenApiExample("Back early", value={"reason": "Back from holiday early"}, request_only=True)],
    )
    class InputSerializer(StrictJsonSerializer):
        reason = serializers.CharField(required=False, allow_blank=True, max_length=255)

    @extend_schema(
        operation_id="memberships_unfreeze",
        tags=["memberships"],
        summary="End or call off a freeze",
        description=(
            "Staff, or the member for their own membership. Ends the freeze in effect today (the days not "
            "used are taken back off the end and billing dates) or calls off the next scheduled one. 200 with "
            "the membership."
        ),
        request=InputSerializer,
        responses={200: MembershipSerializer, **error_responses("not_frozen", "transition_not_allowed")},
    )
    def post(self, request: Request, pk: int) -> Response:
        membership = _membership_or_404(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            membership = membership_unfreeze(
                membership=membership,
                actor=request.user,  # type: ignore[arg-type]
                reason=data.validated_data.get("reason", ""),
            )
        except MembershipError as exc:
            return _membership_error(exc)
        return _detail(request, membership)


class MembershipCancelApi(APIView):
    """`POST memberships/{id}/cancel/`: `when` = `immediately` (ends today) or
    `at_period_end` (recurring only: runs to the day before the next billing date).
    Receptionist+."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER if "cancel" in MEMBER_SELF_SERVICE else Role.RECEPTIONIST

    @extend_schema_serializer(
        component_name="MembershipCancelInput",
        examples=[
            OpenApiExample("At period end", value={"when": "at_period_end", "reason": "Moving away"}, request_only=True)
        ],
    )
    class InputSerializer(StrictJsonSerializer):
        when = serializers.ChoiceField(choices=[("immediately", "Immediately"), ("at_period_end", "At period end")])
        reason = serializers.CharField(max_length=255)

    @extend_schema(
        operation_id="memberships_cancel",
        tags=["memberships"],
        summary="Cancel a membership (receptionist+)",
        description=(
            "`when`: `immediately` (the membership ends today) or `at_period_end` (recurring only: it runs to "
            "the day before the next billing date and is not billed again). 200 with the membership."
        ),
        request=InputSerializer,
        responses={200: MembershipSerializer, **error_responses("transition_not_allowed")},
    )
    def post(self, request: Request, pk: int) -> Response:
        membership = _membership_or_404(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            membership = membership_cancel(
                membership=membership,
                immediately=data.validated_data["when"] == "immediately",
                reason=data.validated_data["reason"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except MembershipError as exc:
            return _membership_error(exc)
        return _detail(request, membership)


class MembershipRenewApi(APIView):
    """`POST memberships/{id}/renew/`: sell a new term on the same plan (one-off and
    class-pack memberships, or any expired one). 201 with the new membership. Receptionist+."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER if "renew" in MEMBER_SELF_SERVICE else Role.RECEPTIONIST

    @extend_schema_serializer(
        component_name="MembershipRenewInput",
        examples=[OpenApiExample("Renew", value={"reason": "Bought another pack"}, request_only=True)],
    )
    class InputSerializer(StrictJsonSerializer):
        reason = serializers.CharField(required=False, allow_blank=True, max_length=255)

    @extend_schema(
        operation_id="memberships_renew",
        tags=["memberships"],
        summary="Renew a membership (receptionist+)",
        description=(
            "Sells a new term on the same plan, at its current price: one-off and class-pack memberships "
            "(early renewal starts the day after the old term ends) and any expired membership. 201 with the "
            "new membership."
        ),
        request=InputSerializer,
        responses={
            201: MembershipSerializer,
            **error_responses(
                "transition_not_allowed", "already_renewed", "already_has_membership", "plan_archived", "member_erased"
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        membership = _membership_or_404(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            new = membership_renew(
                membership=membership,
                actor=request.user,  # type: ignore[arg-type]
                reason=data.validated_data.get("reason", ""),
            )
        except MembershipError as exc:
            return _membership_error(exc)
        return _detail(request, new, status.HTTP_201_CREATED)


CHANGE_PLAN_CODES = (
    "transition_not_allowed",
    "freeze_scheduled",
    "plan_change_invalid",
    "plan_archived",
    "member_erased",
)
CHANGE_PLAN_ERRORS = error_responses(*CHANGE_PLAN_CODES)


class _QuoteChanged(Exception):
    def __init__(self, quote: ProrationQuote):
        self.quote = quote


class MembershipChangePlanApi(APIView):
    """`GET memberships/{id}/change-plan/?plan=ID`: the proration quote, writes nothing.
    `POST memberships/{id}/change-plan/`: move to `plan` from today; 201 with the new
    membership and the quote. Receptionist+."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MEMBER if "change_plan" in MEMBER_SELF_SERVICE else Role.RECEPTIONIST

    @extend_schema_serializer(component_name="MembershipChangePlanQuery")
    class QuerySerializer(serializers.Serializer):
        plan = serializers.PrimaryKeyRelatedField(queryset=Plan.objects.all())

    @extend_schema_serializer(
        component_name="MembershipChangePlanInput",
        examples=[
            OpenApiExample(
                "Upgrade",
                value={"plan": 14, "reason": "Wants the sauna", "expected_amount_due": "36.50"},
                request_only=True,
            )
        ],
    )
    class InputSerializer(StrictJsonSerializer):
        plan = serializers.PrimaryKeyRelatedField(queryset=Plan.objects.all())
        reason = serializers.CharField(required=False, allow_blank=True, max_length=255)
        expected_amount_due = serializers.DecimalField(
            max_digits=10,
            decimal_places=2,
            required=False,
            help_text="The preview's amount_due; 409 quote_changed (and no change) if it differs now.",
        )

    @extend_schema_serializer(
        component_name="MembershipChangePlanResult",
        examples=[
            OpenApiExample(
                "Changed",
                value={
                    "membership": MEMBERSHIP_EXAMPLE
                    | {"id": 5188, "plan": {"id": 14, "name": "Premium monthly", "kind": "recurring"}},
                    "quote": QUOTE_EXAMPLE,
                },
                response_only=True,
            )
        ],
    )
    class OutputSerializer(serializers.Serializer):
        membership = MembershipSerializer()
        quote = ProrationQuoteSerializer()

    @extend_schema(
        operation_id="memberships_change_plan_quote",
        tags=["memberships"],
        summary="Preview a plan change (receptionist+)",
        description=(
            "What moving to `plan` today would cost: the unused part of the current period as a credit, the "
            "new plan's charge from today, and `amount_due` (negative: a credit). Writes nothing. An unknown "
            "plan id is 400 `validation_error`."
        ),
        parameters=[OpenApiParameter("plan", int, required=True, description="The new plan's id.")],
        responses={200: ProrationQuoteSerializer, **CHANGE_PLAN_ERRORS},
    )
    def get(self, request: Request, pk: int) -> Response:
        membership = _membership_or_404(request, pk)
        query = self.QuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        plan = query.validated_data["plan"]
        try:
            quote = membership_change_plan_quote(membership=membership, new_plan=plan)
        except MembershipError as exc:
            return _membership_error(exc)
        return Response(_quote_data(request, quote, plan))

    @extend_schema(
        operation_id="memberships_change_plan",
        tags=["memberships"],
        summary="Change plan (receptionist+)",
        description=(
            "Moves the member to `plan` from today: the current membership ends and a new one starts, with a "
            "proration invoice for `amount_due`. 201 with the new membership and the quote. Send the preview's "
            "`amount_due` as `expected_amount_due` to get 409 `quote_changed` (and no change) if it moved."
        ),
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            **error_responses(*CHANGE_PLAN_CODES, "quote_changed"),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        membership = _membership_or_404(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        expected: Decimal | None = v.get("expected_amount_due")
        try:
            with transaction.atomic():
                new, quote = membership_change_plan(
                    membership=membership,
                    new_plan=v["plan"],
                    actor=request.user,  # type: ignore[arg-type]
                    reason=v.get("reason", ""),
                )
                if expected is not None and quote.amount_due != expected:
                    raise _QuoteChanged(quote)  # rolls the change back
        except MembershipError as exc:
            return _membership_error(exc)
        except _QuoteChanged as exc:
            return api_error(
                "quote_changed",
                "The amount due changed since the preview; nothing was changed. Confirm the new amount.",
                {"quote": _quote_data(request, exc.quote, v["plan"])},
            )
        return Response(
            {
                "membership": MembershipSerializer(_membership_or_404(request, new.pk), context=_context(request)).data,
                "quote": _quote_data(request, quote, v["plan"]),
            },
            status=status.HTTP_201_CREATED,
        )
