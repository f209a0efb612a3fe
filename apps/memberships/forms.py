"""Forms of the membership actions: assign, freeze, unfreeze, cancel, change plan, renew.
They validate input; the lifecycle rules live in the `services` package."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.members.forms import DateInput
from apps.plans.models import Plan

from .errors import MembershipError
from .models import Membership


class PlanChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Plan) -> str:  # type: ignore[override]
        if obj.kind == Plan.Kind.RECURRING:
            every = f"{obj.billing_interval} x " if obj.billing_interval > 1 else ""
            terms = f"every {every}{obj.get_billing_period_display().lower()}"
        elif obj.kind == Plan.Kind.ONE_OFF:
            terms = f"{obj.duration_days} days"
        else:
            terms = f"{obj.class_credits} classes"
        return f"{obj.name} — {obj.price} ({terms})"


class MembershipActionForm(forms.Form):
    """Base: shows a service's `MembershipError` on its field or on the whole form."""

    def add_membership_error(self, exc: MembershipError) -> None:
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, ValidationError(exc.message, code=exc.code))


class MembershipAssignForm(MembershipActionForm):
    plan = PlanChoiceField(queryset=Plan.objects.filter(is_active=True).order_by("name"), empty_label="Choose a plan")
    start_date = forms.DateField(widget=DateInput, label="Starts on")
    reason = forms.CharField(required=False, max_length=255, label="Note", help_text="Optional, for the history.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"start_date": timezone.localdate()})
        super().__init__(*args, **kwargs)


class MembershipFreezeForm(MembershipActionForm):
    start_date = forms.DateField(widget=DateInput, label="Frozen from")
    end_date = forms.DateField(widget=DateInput, label="Frozen to (last frozen day)")
    reason = forms.CharField(max_length=255, help_text="E.g. injury, travel.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"start_date": timezone.localdate()})
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", "The freeze must end on or after its start.")
        return data


class MembershipUnfreezeForm(MembershipActionForm):
    reason = forms.CharField(required=False, max_length=255, help_text="Optional, for the history.")


class MembershipCancelForm(MembershipActionForm):
    WHEN = [
        ("period_end", "At the end of the current period (the member keeps what they paid for)"),
        ("immediately", "Immediately (today is the last day)"),
    ]
    when = forms.ChoiceField(choices=WHEN, widget=forms.RadioSelect, initial="period_end", label="When")
    reason = forms.CharField(max_length=255)

    @property
    def immediately(self) -> bool:
        return self.cleaned_data["when"] == "immediately"


class MembershipChangePlanForm(MembershipActionForm):
    """Step 1 picks the plan and shows the proration quote; step 2 (`confirm`) changes it."""

    plan = PlanChoiceField(queryset=Plan.objects.none(), empty_label="Choose the new plan", label="New plan")
    reason = forms.CharField(required=False, max_length=255, help_text="Optional, for the history.")
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, membership: Membership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = (  # type: ignore[attr-defined]
            Plan.objects.filter(is_active=True, kind=Plan.Kind.RECURRING)
            .exclude(pk=membership.plan_id)
            .order_by("name")
        )


class MembershipRenewForm(MembershipActionForm):
    reason = forms.CharField(required=False, max_length=255, help_text="Optional, for the history.")
