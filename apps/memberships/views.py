"""Membership action pages: assign a plan, freeze, unfreeze, cancel, change plan (with the
proration quote shown before confirming) and renew.

Each page works without JavaScript (GET shows the form, POST acts and goes back to the
member's membership history); on the member's page htmx loads the same form into a
panel. A broken lifecycle rule shows the service's message with status 400 and
changes nothing. Roles: any staff role may assign, freeze, unfreeze and renew;
cancelling and changing plan (money owed changes) need owner or manager.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from apps.members.models import Member
from apps.staff.access import require_gym_role
from apps.staff.roles import Role

from .errors import MembershipError
from .forms import (
    MembershipActionForm,
    MembershipAssignForm,
    MembershipCancelForm,
    MembershipChangePlanForm,
    MembershipFreezeForm,
    MembershipRenewForm,
    MembershipUnfreezeForm,
)
from .models import Membership
from .services import (
    membership_assign,
    membership_cancel,
    membership_change_plan,
    membership_change_plan_quote,
    membership_freeze,
    membership_renew,
    membership_unfreeze,
)

ACTIONS: dict[str, dict[str, str]] = {
    "assign": {"title": "Assign a plan", "button": "Assign plan"},
    "freeze": {
        "title": "Freeze membership",
        "button": "Freeze",
        "intro": "No access and no billing while frozen; the end and next-billing dates move later by the frozen days.",
    },
    "unfreeze": {
        "title": "Unfreeze membership",
        "button": "Unfreeze now",
        "intro": "Access starts again today. Days not used move the end and next-billing dates back.",
    },
    "cancel": {"title": "Cancel membership", "button": "Cancel membership"},
    "change-plan": {
        "title": "Change plan",
        "button": "Show the price",
        "intro": "Prorated by the days left in the current billing period. You see the amount before confirming.",
    },
    "renew": {
        "title": "Renew membership",
        "button": "Renew",
        "intro": "Sells a new term on the same plan at its current price, starting when this one ends (or today).",
    },
}


def _date(day: datetime.date | None, none: str = "none") -> str:
    return f"{day.day} {day:%b %Y}" if day else none


def _moved_dates(membership: Membership) -> str:
    """ "New end date: … · new next billing date: …", leaving out dates the membership has not got."""
    parts = []
    if membership.end_date:
        parts.append(f"new end date: {_date(membership.end_date)}")
    if membership.next_billing_date:
        parts.append(f"new next billing date: {_date(membership.next_billing_date)}")
    if not parts:
        return ""
    text = " · ".join(parts) + "."
    return text[0].upper() + text[1:]


def _history_url(member_id: int, membership_id: int | None = None) -> str:
    url = reverse("members:detail", args=[member_id]) + "?tab=memberships"
    return f"{url}#membership-{membership_id}" if membership_id else url


def _action_page(
    request: HttpRequest,
    action: str,
    form: MembershipActionForm,
    *,
    member: Member,
    membership: Membership | None = None,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """The action's page (or just its form, for htmx); 400 when the form has errors."""
    context = {
        "action": action,
        "form": form,
        "member": member,
        "membership": membership,
        "post_url": request.path,
        "back_url": _history_url(member.pk, membership.pk if membership else None),
        **ACTIONS[action],
        **(extra or {}),
    }
    htmx = request.htmx  # type: ignore[attr-defined]
    partial = bool(htmx) and not htmx.history_restore_request
    template = "memberships/action.html#form" if partial else "memberships/action.html"
    return render(request, template, context, status=400 if form.errors else 200)


def _membership(membership_id: int) -> Membership:
    return get_object_or_404(Membership.objects.select_related("member", "plan"), pk=membership_id)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def membership_assign_view(request: HttpRequest, member_id: int) -> HttpResponse:
    """`/memberships/assign/<member id>/`: put the member on a plan from a start date."""
    member = get_object_or_404(Member, pk=member_id)
    form = MembershipAssignForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            new = membership_assign(
                member=member,
                plan=form.cleaned_data["plan"],
                start_date=form.cleaned_data["start_date"],
                actor=request.user,  # type: ignore[arg-type]
                reason=form.cleaned_data["reason"],
            )
        except MembershipError as exc:
            form.add_membership_error(exc)
        else:
            messages.success(
                request,
                f"{member.full_name} is on {new.plan.name} from {_date(new.start_date)}. "
                f"End date: {_date(new.end_date, 'until cancelled')} · next billing: {_date(new.next_billing_date)}.",
            )
            return redirect(_history_url(member.pk, new.pk))
    return _action_page(request, "assign", form, member=member)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def membership_freeze_view(request: HttpRequest, membership_id: int) -> HttpResponse:
    """`/memberships/<id>/freeze/`: pause from one date to another, with a reason."""
    membership = _membership(membership_id)
    form = MembershipFreezeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            frozen = membership_freeze(
                membership=membership,
                start_date=data["start_date"],
                end_date=data["end_date"],
                reason=data["reason"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except MembershipError as exc:
            form.add_membership_error(exc)
        else:
            days = (data["end_date"] - data["start_date"]).days + 1
            messages.success(
                request,
                f"Frozen from {_date(data['start_date'])} to {_date(data['end_date'])} ({days} day{'s' if days != 1 else ''}). "
                + _moved_dates(frozen),
            )
            return redirect(_history_url(membership.member_id, membership.pk))
    return _action_page(request, "freeze", form, member=membership.member, membership=membership)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def membership_unfreeze_view(request: HttpRequest, membership_id: int) -> HttpResponse:
    """`/memberships/<id>/unfreeze/`: end the freeze in effect (or call off a scheduled one)."""
    membership = _membership(membership_id)
    form = MembershipUnfreezeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            active = membership_unfreeze(
                membership=membership,
                actor=request.user,  # type: ignore[arg-type]
                reason=form.cleaned_data["reason"],
            )
        except MembershipError as exc:
            form.add_membership_error(exc)
        else:
            messages.success(request, "Unfrozen. " + _moved_dates(active))
            return redirect(_history_url(membership.member_id, membership.pk))
    return _action_page(request, "unfreeze", form, member=membership.member, membership=membership)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_gym_role(Role.MANAGER)
def membership_cancel_view(request: HttpRequest, membership_id: int) -> HttpResponse:
    """`/memberships/<id>/cancel/`: immediately, or at the end of the paid period."""
    membership = _membership(membership_id)
    form = MembershipCancelForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            cancelled = membership_cancel(
                membership=membership,
                immediately=form.immediately,
                reason=form.cleaned_data["reason"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except MembershipError as exc:
            form.add_membership_error(exc)
        else:
            if form.immediately:
                text = f"Cancelled. {_date(cancelled.end_date)} is the last day."
            else:
                text = f"Set to end at the close of the paid period: the last day is {_date(cancelled.end_date)}."
            messages.success(request, text)
            return redirect(_history_url(membership.member_id, membership.pk))
    return _action_page(request, "cancel", form, member=membership.member, membership=membership)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_gym_role(Role.MANAGER)
def membership_change_plan_view(request: HttpRequest, membership_id: int) -> HttpResponse:
    """`/memberships/<id>/change-plan/`: pick a plan, see the proration quote, confirm."""
    membership = _membership(membership_id)
    form = MembershipChangePlanForm(request.POST if request.method == "POST" else None, membership=membership)
    extra: dict[str, Any] = {}
    if request.method == "POST" and form.is_valid():
        new_plan = form.cleaned_data["plan"]
        try:
            if form.cleaned_data["confirm"]:
                new, quote = membership_change_plan(
                    membership=membership,
                    new_plan=new_plan,
                    actor=request.user,  # type: ignore[arg-type]
                    reason=form.cleaned_data["reason"],
                )
            else:
                quote = membership_change_plan_quote(membership=membership, new_plan=new_plan)
                extra = {"quote": quote, "new_plan": new_plan, "credit": -quote.amount_due}
        except MembershipError as exc:
            form.add_membership_error(exc)
        else:
            if not extra:
                currency = request.tenant.currency  # type: ignore[attr-defined]
                if quote.amount_due >= 0:
                    owed = f"amount due {quote.amount_due} {currency}"
                else:
                    owed = f"credit to the member {-quote.amount_due} {currency}"
                messages.success(
                    request,
                    f"Moved to {new.plan.name}: {owed}. Next billing date: {_date(new.next_billing_date)}.",
                )
                return redirect(_history_url(membership.member_id, new.pk))
    return _action_page(request, "change-plan", form, member=membership.member, membership=membership, extra=extra)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@require_gym_role(Role.RECEPTIONIST)
def membership_renew_view(request: HttpRequest, membership_id: int) -> HttpResponse:
    """`/memberships/<id>/renew/`: a new term on the same plan."""
    membership = _membership(membership_id)
    form = MembershipRenewForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            new = membership_renew(
                membership=membership,
                actor=request.user,  # type: ignore[arg-type]
                reason=form.cleaned_data["reason"],
            )
        except MembershipError as exc:
            form.add_membership_error(exc)
        else:
            messages.success(
                request,
                f"Renewed: the new term starts {_date(new.start_date)}"
                f"{', ends ' + _date(new.end_date) if new.end_date else ''}"
                f"{', next billing ' + _date(new.next_billing_date) if new.next_billing_date else ''}.",
            )
            return redirect(_history_url(membership.member_id, new.pk))
    return _action_page(request, "renew", form, member=membership.member, membership=membership)
