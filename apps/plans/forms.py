"""Forms of the plans pages: the plan itself and its access-hour windows."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

from .errors import PlanError
from .models import Plan
from .services import PLAN_FIELDS

WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]


class PlanForm(forms.ModelForm):
    """A plan's terms. Kind-specific rules (a period for recurring plans, a duration for
    one-off plans, credits for class packs) are checked by the plan services; their
    errors land on the matching field. `save()` is never called: views use services."""

    class Meta:
        model = Plan
        fields = [name for name in PLAN_FIELDS if name != "access_hours"]
        labels = {
            "price_includes_tax": "Price includes tax",
            "billing_interval": "Every",
            "duration_days": "Duration (days)",
            "class_credits": "Class credits",
            "pack_expiry_days": "Pack expires after (days)",
            "tax_rate": "Tax rate (%)",
            "is_active": "On sale",
            "show_in_app": "Shown in the member app",
        }
        help_texts = {
            "billing_interval": "Billing periods between charges, e.g. 3 x monthly.",
            "class_credits": "Per billing period (recurring), for the term (one-off) or in the pack. Empty = unlimited.",
            "pack_expiry_days": "Class packs only. Empty = never expires.",
            "trial_days": "Free days before the first charge.",
        }
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        period = cast(forms.ChoiceField, self.fields["billing_period"])
        period.required = False
        period.choices = [("", "—"), *Plan.BillingPeriod.choices]
        # The model's own validators (checked by model validation, which this form skips).
        for name in ("price", "signup_fee", "tax_rate"):
            self.fields[name].validators.append(MinValueValidator(Decimal("0")))
        self.fields["tax_rate"].validators.append(MaxValueValidator(Decimal("100")))
        self.fields["billing_interval"].validators.append(MinValueValidator(1))

    def _post_clean(self) -> None:
        # No model validation: it would copy the posted values onto the plan the view
        # holds, even when invalid. The fields carry the model's validators (above) and
        # the plan services check the kind-specific rules.
        pass

    def service_fields(self) -> dict[str, Any]:
        return dict(self.cleaned_data)

    def add_plan_error(self, exc: PlanError) -> None:
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, ValidationError(exc.message, code=exc.code))


class AccessWindowForm(forms.Form):
    """One access window: weekdays and a start and end time (gym local)."""

    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    start = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    end = forms.TimeField(required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        weekdays, start, end = data.get("weekdays"), data.get("start"), data.get("end")
        if not (weekdays or start or end) or data.get("DELETE"):
            return data
        if not weekdays:
            self.add_error("weekdays", "Pick at least one weekday.")
        if start is None and "start" not in self.errors:
            self.add_error("start", "Give a start time.")
        if end is None and "end" not in self.errors:
            self.add_error("end", "Give an end time.")
        if start is not None and end is not None and start >= end:
            self.add_error("end", "The end must be after the start.")
        return data

    def window(self) -> dict[str, Any] | None:
        """`{"weekdays", "start", "end"}` for the plan service, or None for a blank row."""
        data = self.cleaned_data
        if data.get("DELETE") or not data.get("weekdays"):
            return None
        return {
            "weekdays": data["weekdays"],
            "start": data["start"].strftime("%H:%M"),
            "end": data["end"].strftime("%H:%M"),
        }


class BaseAccessWindowFormSet(forms.BaseFormSet):
    def windows(self) -> list[dict[str, Any]]:
        """The filled-in windows, blank rows and removed rows left out."""
        return [w for form in self.forms if (w := form.window()) is not None]


AccessWindowFormSet = forms.formset_factory(
    AccessWindowForm, formset=BaseAccessWindowFormSet, extra=2, can_delete=True, max_num=14, validate_max=True
)


def access_window_initial(plan: Plan | None) -> list[dict[str, Any]]:
    """Formset initial rows from a plan's stored windows."""
    if plan is None:
        return []
    return [{"weekdays": w["weekdays"], "start": w["start"], "end": w["end"]} for w in plan.access_hours or []]


def access_hours_summary(windows: list[dict[str, Any]] | None) -> str:
    """ "Mon-Fri 06:00-16:00; Sat 08:00-12:00", or "Any time" for no windows."""
    if not windows:
        return "Any time"
    names = dict(WEEKDAYS)
    parts = []
    for w in windows:
        days = sorted(w.get("weekdays", []))
        consecutive = len(days) > 2 and days == list(range(days[0], days[-1] + 1))
        label = f"{names[days[0]]}-{names[days[-1]]}" if consecutive else ", ".join(names[d] for d in days)
        parts.append(f"{label} {w.get('start')}-{w.get('end')}")
    return "; ".join(parts)
