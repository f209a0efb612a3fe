"""`/api/v1/plans/`: the priced offers of the gym.

Everyone with a role here may list and read plans; a member (the app) sees only
plans on sale and shown in the app (`is_active` and `show_in_app`), and any other
plan id is a 404 for them. Managers and owners create, edit, archive and delete.
A plan that has ever had a membership is archived, never deleted (409 `plan_in_use`).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api_errors import domain_error, error_responses
from apps.core.api_input import StrictJsonSerializer
from apps.core.pagination import ApiPagination
from apps.staff.access import GymRolePermission
from apps.staff.roles import Role

from .errors import PlanError
from .models import Plan
from .services import plan_archive, plan_create, plan_delete, plan_update

# Bounds of the API's plan input, generous for any gym: beyond them the numbers overflow
# the database columns (found by the fuzzer: a 500) or the dates a membership computes.
MAX_BILLING_INTERVAL = 36
MAX_DAYS = 3660  # ten years
MAX_TRIAL_DAYS = 366
MAX_CREDITS = 100_000
TIME_OF_DAY = r"^(?:[01]\d|2[0-3]):[0-5]\d$"
PLAN_RULE_CODES = ("billing_period_required", "duration_required", "credits_required", "invalid_access_hours")
PLAN_EXAMPLE: dict[str, Any] = {
    "id": 12,
    "name": "Unlimited monthly",
    "description": "Every class, every day.",
    "kind": "recurring",
    "price": "45.00",
    "signup_fee": "0.00",
    "tax_rate": "20.00",
    "price_includes_tax": True,
    "currency": "GBP",
    "billing_period": "monthly",
    "billing_interval": 1,
    "duration_days": None,
    "class_credits": None,
    "pack_expiry_days": None,
    "access_hours": [{"weekdays": [0, 1, 2, 3, 4], "start": "06:00", "end": "22:00"}],
    "trial_days": 0,
    "is_active": True,
    "show_in_app": True,
}
ORDERINGS = {
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "price": ("price", "name", "id"),
    "-price": ("-price", "name", "id"),
    "created": ("created_at", "id"),
    "-created": ("-created_at", "-id"),
}


def _is_staff(request: Request) -> bool:
    role = getattr(request, "gym_role", None)
    return role is not None and Role(role).at_least(Role.RECEPTIONIST)


def _visible_plans(request: Request) -> QuerySet[Plan]:
    """Every plan for staff; for a member, plans on sale and shown in the app."""
    plans = Plan.objects.all()
    if not _is_staff(request):
        plans = plans.filter(is_active=True, show_in_app=True)
    return plans


def _plan_or_404(request: Request, pk: int) -> Plan:
    plan = _visible_plans(request).filter(pk=pk).first()
    if plan is None:
        raise Http404
    return plan


def _plan_error(exc: PlanError) -> Response:
    return domain_error(exc)


@extend_schema_serializer(component_name="PlanAccessWindow")
class AccessWindowSerializer(StrictJsonSerializer):
    weekdays = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6), min_length=1)
    start = serializers.RegexField(TIME_OF_DAY, help_text="HH:MM, gym local time")
    end = serializers.RegexField(TIME_OF_DAY, help_text="HH:MM, gym local time; after start")


@extend_schema_serializer(
    component_name="Plan", examples=[OpenApiExample("A monthly plan", value=PLAN_EXAMPLE, response_only=True)]
)
class PlanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.ChoiceField(choices=Plan.Kind.choices)
    price = serializers.DecimalField(max_digits=10, decimal_places=2)
    signup_fee = serializers.DecimalField(max_digits=10, decimal_places=2)
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    price_includes_tax = serializers.BooleanField()
    currency = serializers.SerializerMethodField()
    billing_period = serializers.CharField()
    billing_interval = serializers.IntegerField()
    duration_days = serializers.IntegerField(allow_null=True)
    class_credits = serializers.IntegerField(allow_null=True, help_text="null = unlimited")
    pack_expiry_days = serializers.IntegerField(allow_null=True)
    access_hours = AccessWindowSerializer(many=True)
    trial_days = serializers.IntegerField()
    is_active = serializers.BooleanField()
    show_in_app = serializers.BooleanField()

    def get_currency(self, plan: Plan) -> str:
        return str(self.context.get("currency", ""))


@extend_schema_serializer(
    component_name="PlanInput",
    examples=[
        OpenApiExample(
            "A class pack",
            value={
                "name": "Ten classes",
                "kind": "class_pack",
                "price": "90.00",
                "tax_rate": "20.00",
                "price_includes_tax": True,
                "class_credits": 10,
                "pack_expiry_days": 90,
                "show_in_app": True,
            },
            request_only=True,
        )
    ],
)
class PlanInputSerializer(StrictJsonSerializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Plan.Kind.choices, required=False)
    price = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0)
    signup_fee = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0, required=False)
    tax_rate = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False)
    price_includes_tax = serializers.BooleanField(required=False)
    billing_period = serializers.ChoiceField(choices=Plan.BillingPeriod.choices, required=False, allow_blank=True)
    billing_interval = serializers.IntegerField(
        min_value=1, max_value=MAX_BILLING_INTERVAL, required=False, help_text="Billing periods between charges."
    )
    duration_days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, required=False, allow_null=True)
    class_credits = serializers.IntegerField(
        min_value=0, max_value=MAX_CREDITS, required=False, allow_null=True, help_text="null = unlimited"
    )
    pack_expiry_days = serializers.IntegerField(min_value=1, max_value=MAX_DAYS, required=False, allow_null=True)
    access_hours = AccessWindowSerializer(many=True, required=False)
    trial_days = serializers.IntegerField(min_value=0, max_value=MAX_TRIAL_DAYS, required=False)
    is_active = serializers.BooleanField(required=False)
    show_in_app = serializers.BooleanField(required=False)


def _context(request: Request) -> dict[str, Any]:
    return {"currency": getattr(getattr(request, "tenant", None), "currency", "")}


class ManagerWritesApi(APIView):
    """GET for every role here (members see only public plans); other methods manager+."""

    @property
    def minimum_role(self) -> Role:
        return Role.MEMBER if self.request.method in ("GET", "HEAD", "OPTIONS") else Role.MANAGER


class PlanListApi(ManagerWritesApi):
    """`GET plans/`: plans, paged (members: only active plans shown in the app).
    `POST plans/`: create a plan (manager+)."""

    permission_classes = [GymRolePermission]
    pagination_class = ApiPagination

    @extend_schema_serializer(component_name="PlanListFilter")
    class FilterSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=Plan.Kind.choices, required=False)
        is_active = serializers.BooleanField(required=False, help_text="Staff only; absent: both.")
        show_in_app = serializers.BooleanField(required=False, help_text="Staff only; absent: both.")
        ordering = serializers.ChoiceField(choices=list(ORDERINGS), required=False, default="name")

    OutputSerializer = PlanSerializer
    InputSerializer = PlanInputSerializer

    @extend_schema(
        operation_id="plans_list",
        tags=["plans"],
        summary="List plans",
        description=(
            "Members see the plans on sale and shown in the app; staff (receptionist and up) see all and may "
            "filter by `is_active` and `show_in_app`. Filter by `kind`, sort with `ordering`; paged with "
            "`page`/`page_size`."
        ),
        parameters=[FilterSerializer],
        responses={200: PlanSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        f = filters.validated_data
        plans = _visible_plans(request)
        if f.get("kind"):
            plans = plans.filter(kind=f["kind"])
        for flag in ("is_active", "show_in_app"):
            if f.get(flag) is not None:
                plans = plans.filter(**{flag: f[flag]})
        plans = plans.order_by(*ORDERINGS[f["ordering"]])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(plans, request, view=self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True, context=_context(request)).data)

    @extend_schema(
        operation_id="plans_create",
        tags=["plans"],
        summary="Create a plan (manager+)",
        description=(
            "A recurring plan needs `billing_period`, a one-off plan `duration_days`, a class pack "
            "`class_credits`. `access_hours` limits entry to windows of gym-local time (none: any time). 201 "
            "with the plan."
        ),
        request=PlanInputSerializer,
        responses={201: PlanSerializer, **error_responses(*PLAN_RULE_CODES)},
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            plan = plan_create(**data.validated_data)
        except PlanError as exc:
            return _plan_error(exc)
        return Response(self.OutputSerializer(plan, context=_context(request)).data, status=status.HTTP_201_CREATED)


class PlanDetailApi(ManagerWritesApi):
    """`GET plans/{id}/`: one plan. `PATCH plans/{id}/`: edit (manager+; existing
    memberships keep their terms). `DELETE plans/{id}/`: delete a plan that was never
    used (manager+; 409 `plan_in_use` otherwise: archive it)."""

    permission_classes = [GymRolePermission]
    OutputSerializer = PlanSerializer
    InputSerializer = PlanInputSerializer

    @extend_schema(
        operation_id="plans_retrieve",
        tags=["plans"],
        summary="Read a plan",
        description=("Staff read any plan; a member gets 404 for a plan that is archived or hidden from the app."),
        responses={200: PlanSerializer},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(self.OutputSerializer(_plan_or_404(request, pk), context=_context(request)).data)

    @extend_schema(
        operation_id="plans_partial_update",
        tags=["plans"],
        summary="Change a plan (manager+)",
        description=(
            "Only the given fields change; the plan's rules are checked as for create. Existing memberships "
            "keep the terms they were sold on. 200 with the plan."
        ),
        request=PlanInputSerializer,
        responses={200: PlanSerializer, **error_responses(*PLAN_RULE_CODES)},
    )
    def patch(self, request: Request, pk: int) -> Response:
        plan = _plan_or_404(request, pk)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            plan = plan_update(plan=plan, **data.validated_data)
        except PlanError as exc:
            return _plan_error(exc)
        return Response(self.OutputSerializer(plan, context=_context(request)).data)

    @extend_schema(
        operation_id="plans_destroy",
        tags=["plans"],
        summary="Delete a never-used plan (manager+)",
        description="204 with no body. A plan any membership ever used cannot be deleted: archive it instead.",
        responses={204: None, **error_responses("plan_in_use")},
    )
    def delete(self, request: Request, pk: int) -> Response:
        try:
            plan_delete(plan=_plan_or_404(request, pk))
        except PlanError as exc:
            return _plan_error(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PlanArchiveApi(APIView):
    """`POST plans/{id}/archive/`: stop selling a plan; it stays on existing
    memberships (manager+). Archiving an archived plan is a no-op."""

    permission_classes = [GymRolePermission]
    minimum_role = Role.MANAGER

    @extend_schema(
        operation_id="plans_archive",
        tags=["plans"],
        summary="Archive a plan (manager+)",
        description=(
            "The plan is no longer sold (nor shown in the app); existing memberships keep it. Archiving an "
            "archived plan changes nothing. 200 with the plan."
        ),
        request=None,
        responses={200: PlanSerializer},
    )
    def post(self, request: Request, pk: int) -> Response:
        plan = plan_archive(plan=_plan_or_404(request, pk))
        return Response(PlanSerializer(plan, context=_context(request)).data)
