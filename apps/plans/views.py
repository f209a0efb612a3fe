"""Plans pages: the list (on sale and archived) for any staff role; create, edit,
archive, restore and delete for owner and manager. A plan that was ever used can
only be archived."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.memberships.models import CURRENT_STATUSES
from apps.staff.access import require_gym_role
from apps.staff.roles import Role

from .errors import PlanError
from .forms import AccessWindowFormSet, BaseAccessWindowFormSet, PlanForm, access_hours_summary, access_window_initial
from .models import Plan
from .services import plan_archive, plan_create, plan_delete, plan_update


@require_GET
@require_gym_role(Role.RECEPTIONIST)
def plan_list_view(request: HttpRequest) -> HttpResponse:
    """`/plans/`: plans on sale, then archived ones, with how many members are on each."""
    plans = list(
        Plan.objects.annotate(
            current_count=Count("memberships", filter=Q(memberships__status__in=CURRENT_STATUSES)),
            ever_count=Count("memberships"),
        ).order_by("-is_active", "name")
    )
    for plan in plans:
        plan.hours_summary = access_hours_summary(plan.access_hours)  # type: ignore[attr-defined]
    context = {
        "active_plans": [p for p in plans if p.is_active],
        "archived_plans": [p for p in plans if not p.is_active],
        "can_edit": request.gym_role.at_least(Role.MANAGER),  # type: ignore[attr-defined]
    }
    return render(request, "plans/list.html", context)


def _plan_form_page(request: HttpRequest, plan: Plan | None) -> HttpResponse:
    data = request.POST if request.method == "POST" else None
    form = PlanForm(data, instance=plan)
    windows = cast(
        BaseAccessWindowFormSet, AccessWindowFormSet(data, initial=access_window_initial(plan), prefix="hours")
    )
    if data is not None and form.is_valid() and windows.is_valid():
        fields = form.service_fields() | {"access_hours": windows.windows()}
        try:
            saved = plan_create(**fields) if plan is None else plan_update(plan=plan, **fields)
        except PlanError as exc:
            form.add_plan_error(exc)
        else:
            messages.success(request, f"Plan “{saved.name}” {'created' if plan is None else 'saved'}.")
            return redirect("plans:list")
    invalid = data is not None and (form.errors or windows.total_error_count())
    status = 400 if invalid else 200
    return render(request, "plans/form.html", {"form": form, "windows": windows, "plan": plan}, status=status)


@require_http_methods(["GET", "POST"])
@require_gym_role(Role.MANAGER)
def plan_create_view(request: HttpRequest) -> HttpResponse:
    """`/plans/new/`."""
    return _plan_form_page(request, None)


@require_http_methods(["GET", "POST"])
@require_gym_role(Role.MANAGER)
def plan_edit_view(request: HttpRequest, plan_id: int) -> HttpResponse:
    """`/plans/<id>/edit/`: existing memberships keep the terms they were sold with."""
    return _plan_form_page(request, get_object_or_404(Plan, pk=plan_id))


@require_POST
@require_gym_role(Role.MANAGER)
def plan_archive_view(request: HttpRequest, plan_id: int) -> HttpResponse:
    """Stop selling a plan; members on it keep it."""
    plan = plan_archive(plan=get_object_or_404(Plan, pk=plan_id))
    messages.success(request, f"Plan “{plan.name}” archived. Members on it keep it; it is no longer sold.")
    return redirect("plans:list")


@require_POST
@require_gym_role(Role.MANAGER)
def plan_restore_view(request: HttpRequest, plan_id: int) -> HttpResponse:
    """Put an archived plan back on sale."""
    plan = get_object_or_404(Plan, pk=plan_id)
    try:
        plan_update(plan=plan, is_active=True)
    except PlanError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Plan “{plan.name}” is on sale again.")
    return redirect("plans:list")


@require_http_methods(["GET", "POST"])
@require_gym_role(Role.MANAGER)
def plan_delete_view(request: HttpRequest, plan_id: int) -> HttpResponse:
    """`/plans/<id>/delete/`: confirm, then delete a plan nobody was ever on."""
    plan = get_object_or_404(Plan, pk=plan_id)
    if request.method == "POST":
        try:
            plan_delete(plan=plan)
        except PlanError:
            return render(request, "plans/delete.html", {"plan": plan, "in_use": True}, status=409)
        messages.success(request, f"Plan “{plan.name}” deleted.")
        return redirect("plans:list")
    in_use = plan.memberships.exists()
    return render(request, "plans/delete.html", {"plan": plan, "in_use": in_use})
