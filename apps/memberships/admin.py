"""Memberships in the gym's own `/admin/` (`gym_admin_site`).

A membership is a contract: its terms are read-only here. New ones are assigned
through `membership_assign` (the add form: member, plan, start date), and the
lifecycle runs through the services as admin actions, each recorded with the admin
user as actor:
- "Freeze…" asks for the first day, the number of days and a reason on an
  intermediate page (gyms freeze for different lengths, and the audit trail needs a why);
- "Unfreeze" ends the freeze in effect (or calls off a scheduled one);
- "Cancel immediately…" and "Cancel at period end…" ask for a reason;
- "Renew" sells a new term on the same plan.
Each selected membership is tried on its own; the ones whose rule fails are named
with the service's message, and the others go through. Freezes and the event log
show as read-only inlines. Memberships are never deleted here.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.utils import timezone

from apps.accounts.models import User
from apps.members.admin import ServiceCheckedForm
from apps.staff.admin import GymRoleAdminMixin, ReadOnlyInline, gym_admin_site

from .errors import MembershipError
from .models import Freeze, Membership, MembershipEvent
from .services import (
    MAX_FREEZE_DAYS,
    membership_assign,
    membership_cancel,
    membership_freeze,
    membership_renew,
    membership_unfreeze,
)

ACTION_PAGE = engines["django"].from_string(
    """{% extends "admin/base_site.html" %}
{% block breadcrumbs %}<div class="breadcrumbs"><a href="{% url 'gym_admin:index' %}">Home</a>
&rsaquo; <a href="{% url 'gym_admin:memberships_membership_changelist' %}">Memberships</a>
&rsaquo; {{ title }}</div>{% endblock %}
{% block content %}
<p>{{ memberships|length }} membership{{ memberships|length|pluralize }}:</p>
<ul>{% for m in memberships %}<li>{{ m }}</li>{% endfor %}</ul>
<form method="post">{% csrf_token %}
  {% for m in memberships %}<input type="hidden" name="{{ checkbox_name }}" value="{{ m.pk }}">{% endfor %}
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


class FreezeActionForm(forms.Form):
    start_date = forms.DateField(help_text="The first frozen day (gym local), today or later.")
    days = forms.IntegerField(min_value=1, max_value=MAX_FREEZE_DAYS, initial=30, help_text="Inclusive count.")
    reason = forms.CharField(max_length=255)


class CancelActionForm(forms.Form):
    reason = forms.CharField(max_length=255)


class MembershipAddForm(ServiceCheckedForm):
    """Assign: a member, a plan and a start date; the contract terms come from the plan."""

    service_errors = (MembershipError,)

    class Meta:
        model = Membership
        fields = ["member", "plan", "start_date"]


def _actor(request: HttpRequest) -> User:
    """The admin user (the gym admin only admits logged-in owners and managers)."""
    return cast(User, request.user)


def _assign(form: forms.ModelForm, actor: Any = None) -> Membership:
    data = form.cleaned_data
    return membership_assign(member=data["member"], plan=data["plan"], start_date=data["start_date"], actor=actor)


class FreezeInline(ReadOnlyInline):
    model = Freeze
    fields = readonly_fields = ("start_date", "end_date", "ended_on", "reason", "created_by", "created_at")


class MembershipEventInline(ReadOnlyInline):
    model = MembershipEvent
    fields = readonly_fields = ("at", "kind", "actor", "reason", "data")

    def get_queryset(self, request: HttpRequest) -> QuerySet[MembershipEvent]:
        return super().get_queryset(request).select_related("actor")


CONTRACT_FIELDS = [
    "member",
    "plan",
    "status",
    "start_date",
    "end_date",
    "next_billing_date",
    "price",
    "billing_period",
    "billing_interval",
    "class_credits",
    "cancel_at_period_end",
    "cancelled_on",
    "cancel_reason",
    "created_at",
    "updated_at",
]


@admin.register(Membership, site=gym_admin_site)
class MembershipAdmin(GymRoleAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "member",
        "plan",
        "status",
        "start_date",
        "end_date",
        "next_billing_date",
        "price",
        "cancel_at_period_end",
    ]
    list_filter = ["status", "plan", "cancel_at_period_end", "start_date"]
    search_fields = ["member__first_name", "member__last_name", "member__email", "plan__name"]
    list_select_related = ["member", "plan"]
    autocomplete_fields = ["member"]
    date_hierarchy = "start_date"
    show_full_result_count = False
    actions = ["freeze", "unfreeze", "cancel_immediately", "cancel_at_period_end", "renew"]

    def get_inlines(self, request: HttpRequest, obj: Membership | None = None) -> Any:
        return [FreezeInline, MembershipEventInline] if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: Membership | None = None) -> Any:
        return CONTRACT_FIELDS if obj is not None else MembershipAddForm.Meta.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> Any:
        return CONTRACT_FIELDS if obj is not None else []

    def get_form(self, request: HttpRequest, obj: Membership | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = MembershipAddForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.run_service = staticmethod(_assign)  # type: ignore[attr-defined]
        return form

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        if change:
            return  # the contract is read-only; changes go through the actions
        obj.pk = _assign(form, actor=_actor(request)).pk
        obj.refresh_from_db()
        obj._state.adding = False

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"start_date": timezone.localdate(), **super().get_changeform_initial_data(request)}

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return False

    # --- lifecycle actions ---

    def _each(
        self, request: HttpRequest, queryset: QuerySet[Membership], done: str, call: Callable[[Membership], Any]
    ) -> None:
        """Run a service for each selected membership, reporting successes and failures."""
        succeeded = 0
        for membership in queryset.select_related("member", "plan"):
            try:
                call(membership)
            except MembershipError as exc:
                self.message_user(request, f"{membership}: {exc.message}", messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, f"{succeeded} membership(s) {done}.", messages.SUCCESS)

    def _ask(
        self, request: HttpRequest, queryset: QuerySet[Membership], action: str, title: str, form: forms.Form
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "action": action,
            "form": form,
            "memberships": list(queryset.select_related("member", "plan")),
            "checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return HttpResponse(ACTION_PAGE.render(context, request))

    @admin.action(description="Freeze…")
    def freeze(self, request: HttpRequest, queryset: QuerySet[Membership]) -> HttpResponse | None:
        if "apply" not in request.POST:
            form = FreezeActionForm(initial={"start_date": timezone.localdate(), "days": 30})
            return self._ask(request, queryset, "freeze", "Freeze memberships", form)
        form = FreezeActionForm(request.POST)
        if not form.is_valid():
            return self._ask(request, queryset, "freeze", "Freeze memberships", form)
        start, days, reason = form.cleaned_data["start_date"], form.cleaned_data["days"], form.cleaned_data["reason"]
        end = start + datetime.timedelta(days=days - 1)
        self._each(
            request,
            queryset,
            "frozen",
            lambda m: membership_freeze(
                membership=m, start_date=start, end_date=end, reason=reason, actor=_actor(request)
            ),
        )
        return None

    @admin.action(description="Unfreeze (end the freeze now)")
    def unfreeze(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        self._each(
            request,
            queryset,
            "unfrozen",
            lambda m: membership_unfreeze(membership=m, actor=_actor(request), reason="Unfrozen in the gym admin"),
        )

    def _cancel(
        self, request: HttpRequest, queryset: QuerySet[Membership], *, immediately: bool
    ) -> HttpResponse | None:
        action = "cancel_immediately" if immediately else "cancel_at_period_end"
        title = "Cancel memberships now" if immediately else "Cancel memberships at period end"
        form = CancelActionForm(request.POST if "apply" in request.POST else None)
        if not form.is_bound or not form.is_valid():
            return self._ask(request, queryset, action, title, form)
        reason = form.cleaned_data["reason"]
        self._each(
            request,
            queryset,
            "cancelled" if immediately else "set to end at period end",
            lambda m: membership_cancel(membership=m, immediately=immediately, reason=reason, actor=_actor(request)),
        )
        return None

    @admin.action(description="Cancel immediately…")
    def cancel_immediately(self, request: HttpRequest, queryset: QuerySet[Membership]) -> HttpResponse | None:
        return self._cancel(request, queryset, immediately=True)

    @admin.action(description="Cancel at period end…")
    def cancel_at_period_end(self, request: HttpRequest, queryset: QuerySet[Membership]) -> HttpResponse | None:
        return self._cancel(request, queryset, immediately=False)

    @admin.action(description="Renew (a new term on the same plan)")
    def renew(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        self._each(
            request,
            queryset,
            "renewed",
            lambda m: membership_renew(membership=m, actor=_actor(request), reason="Renewed in the gym admin"),
        )
