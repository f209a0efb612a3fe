"""Plans in the gym's own `/admin/` (`gym_admin_site`): writes through the plan
services; a plan in use is archived (action), never deleted."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from apps.members.admin import ServiceCheckedForm
from apps.staff.admin import GymRoleAdminMixin, gym_admin_site

from .errors import PlanError
from .models import Plan
from .services import PLAN_FIELDS, plan_archive, plan_create, plan_delete, plan_update


class PlanAdminForm(ServiceCheckedForm):
    service_errors = (PlanError,)

    class Meta:
        model = Plan
        fields = list(PLAN_FIELDS)


def _plan_save(form: forms.ModelForm) -> Plan:
    fields = {name: form.cleaned_data[name] for name in PLAN_FIELDS if name in form.cleaned_data}
    if form.instance.pk:
        return plan_update(plan=Plan.objects.get(pk=form.instance.pk), **fields)
    return plan_create(**fields)


@admin.register(Plan, site=gym_admin_site)
class PlanAdmin(GymRoleAdminMixin, admin.ModelAdmin):
    form = PlanAdminForm
    list_display = [
        "name",
        "kind",
        "price",
        "billing_period",
        "billing_interval",
        "class_credits",
        "is_active",
        "show_in_app",
        "membership_count",
    ]
    list_filter = ["kind", "is_active", "show_in_app", "billing_period"]
    search_fields = ["name", "description"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["archive"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Plan]:
        return super().get_queryset(request).annotate(membership_count=Count("memberships"))

    @admin.display(description="Memberships", ordering="membership_count")
    def membership_count(self, plan: Plan) -> int:
        return plan.membership_count  # type: ignore[attr-defined]

    def get_form(self, request: HttpRequest, obj: Plan | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.run_service = staticmethod(_plan_save)  # type: ignore[attr-defined]
        return form

    def save_model(self, request: HttpRequest, obj: Plan, form: Any, change: bool) -> None:
        obj.pk = _plan_save(form).pk
        obj.refresh_from_db()
        obj._state.adding = False

    # --- archive, and delete only what was never used ---

    @admin.action(description="Archive selected plans (stop selling them)")
    def archive(self, request: HttpRequest, queryset: QuerySet[Plan]) -> None:
        count = 0
        for plan in queryset.filter(is_active=True):
            plan_archive(plan=plan)
            count += 1
        self.message_user(request, f"{count} plan(s) archived.", messages.SUCCESS)

    def has_delete_permission(self, request: HttpRequest, obj: Plan | None = None) -> bool:
        if obj is not None and obj.memberships.exists():
            return False  # in use: archive it instead
        return super().has_delete_permission(request, obj)

    def delete_model(self, request: HttpRequest, obj: Plan) -> None:
        plan_delete(plan=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Plan]) -> None:
        for plan in queryset:
            try:
                plan_delete(plan=plan)
            except PlanError as exc:
                self.message_user(request, f"{plan.name}: {exc.message}", messages.ERROR)
