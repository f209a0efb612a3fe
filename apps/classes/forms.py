"""Forms of the schedule pages: the timetable's filters, the class template, a recurring
schedule (with its preview), and editing or cancelling a session. They validate input
only; the rules live in `services`."""

from __future__ import annotations

import datetime
import hashlib
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from apps.accounts.models import User
from apps.members.forms import DateInput
from apps.plans.models import Plan

from .errors import ClassError
from .models import ClassSchedule, GymClass
from .selectors import trainers
from .services import CLASS_FIELDS, MAX_OCCURRENCES

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLOUR = "#0f766e"
WEEKDAYS = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]
SCOPES = [("this", "This session only"), ("following", "This and all following sessions of its schedule")]


def _sane_date(day: datetime.date) -> None:
    """Dates far outside a timetable's reach (which would overflow week arithmetic)."""
    if not 2000 <= day.year <= 2100:
        raise ValidationError("Enter a date between the years 2000 and 2100.", code="out_of_range")


def safe_colour(value: str) -> str:
    """`value` when it is a `#rrggbb` colour, else the default (it goes into a style attribute)."""
    return value if HEX_COLOUR.match(value or "") else DEFAULT_COLOUR


class TimeInput(forms.TimeInput):
    """A native time picker (`HH:MM`)."""

    input_type = "time"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%H:%M")


class TrainerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:  # type: ignore[override]
        return obj.display_name


class ServiceErrorForm(forms.Form):
    """Base: shows a service's `ClassError` on its field, or on the whole form."""

    def add_class_error(self, exc: ClassError) -> None:
        field = exc.field if exc.field in self.fields else None
        self.add_error(field, ValidationError(exc.message, code=exc.code))


class TimetableFilterForm(forms.Form):
    """The timetable's week and filters, from the query string (all optional)."""

    week = forms.DateField(required=False, widget=DateInput, validators=[_sane_date])
    instructor = TrainerChoiceField(queryset=User.objects.none(), required=False, empty_label="Any instructor")
    type = forms.ChoiceField(required=False, choices=[("", "Any type"), *GymClass.Type.choices], label="Type")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["instructor"].queryset = trainers()  # type: ignore[attr-defined]

    def _value(self, name: str) -> Any:
        if not self.is_bound:
            return None
        self.is_valid()
        return self.cleaned_data.get(name) if name not in self.errors else None

    def week_start(self, today: datetime.date) -> datetime.date:
        """Monday of the chosen week (this week when none or a bad date is given)."""
        day = self._value("week") or today
        return day - datetime.timedelta(days=day.weekday())

    def filters(self) -> dict[str, Any]:
        """`instructor_id` and `class_type` for `timetable_week` (bad values mean no filter)."""
        instructor = self._value("instructor")
        return {"instructor_id": instructor.pk if instructor else None, "class_type": self._value("type") or ""}


class GymClassForm(ServiceErrorForm):
    """Every field of a class template. Empty "Plans that may book" means every plan."""

    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    type = forms.ChoiceField(choices=GymClass.Type.choices, initial=GymClass.Type.OTHER)
    difficulty = forms.ChoiceField(choices=GymClass.Difficulty.choices, initial=GymClass.Difficulty.ALL_LEVELS)
    duration_minutes = forms.IntegerField(min_value=5, max_value=24 * 60, initial=60, label="Duration (minutes)")
    capacity = forms.IntegerField(min_value=1, max_value=32767, initial=20)
    credits_required = forms.IntegerField(min_value=0, max_value=100, initial=1, label="Credits per booking")
    colour = forms.CharField(
        max_length=7,
        initial=DEFAULT_COLOUR,
        widget=forms.TextInput(attrs={"type": "color"}),
        help_text="The colour of its blocks on the timetable.",
    )
    default_instructor = TrainerChoiceField(
        queryset=User.objects.none(), required=False, empty_label="No default instructor"
    )
    equipment_needed = forms.CharField(required=False, max_length=255)
    location = forms.CharField(required=False, max_length=120, label="Location or room")
    is_active = forms.BooleanField(required=False, initial=True, label="Active (shown and bookable)")
    allowed_plans = forms.ModelMultipleChoiceField(
        queryset=Plan.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Plans that may book it",
        help_text="None ticked means members on any plan may book.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["default_instructor"].queryset = trainers()  # type: ignore[attr-defined]
        self.fields["allowed_plans"].queryset = Plan.objects.order_by("-is_active", "name")  # type: ignore[attr-defined]

    @staticmethod
    def initial_for(gym_class: GymClass) -> dict[str, Any]:
        initial: dict[str, Any] = {name: getattr(gym_class, name) for name in CLASS_FIELDS}
        initial["allowed_plans"] = list(gym_class.allowed_plans.all())
        return initial

    def clean_colour(self) -> str:
        colour = self.cleaned_data["colour"]
        if not HEX_COLOUR.match(colour):
            raise ValidationError("Enter a colour like #0f766e.", code="invalid")
        return colour.lower()

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        fields = {name: data[name] for name in CLASS_FIELDS}
        fields["allowed_plans"] = list(data["allowed_plans"])
        return fields


class ScheduleForm(ServiceErrorForm):
    """A recurring schedule rule: how often, from when, until a date or for a number of
    sessions. `previewed` carries the fingerprint of the rule whose dates were shown,
    so "create" only ever creates the dates the user saw."""

    frequency = forms.ChoiceField(choices=ClassSchedule.Frequency.choices, initial=ClassSchedule.Frequency.WEEKLY)
    interval = forms.IntegerField(
        min_value=1, max_value=52, initial=1, label="Every", help_text="1 = every day/week/month, 2 = every other, …"
    )
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="On",
        help_text="Weekly only. None ticked: the start date's weekday.",
    )
    start_date = forms.DateField(widget=DateInput, label="First date", validators=[_sane_date])
    start_time = forms.TimeField(widget=TimeInput, label="Start time (gym time)")
    until = forms.DateField(required=False, widget=DateInput, label="Until (last date)", validators=[_sane_date])
    count = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_OCCURRENCES,
        label="Or number of sessions",
        help_text=f"Give an end date or a number (at most {MAX_OCCURRENCES}).",
    )
    instructor = TrainerChoiceField(
        queryset=User.objects.none(), required=False, empty_label="The class's default instructor"
    )
    capacity_override = forms.IntegerField(
        required=False,
        validators=[MinValueValidator(1), MaxValueValidator(32767)],
        label="Capacity",
        help_text="Empty: the class's capacity.",
    )
    previewed = forms.CharField(required=False, widget=forms.HiddenInput)

    RULE_FIELDS = ("frequency", "interval", "weekdays", "start_date", "start_time", "until", "count")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"start_date": timezone.localdate(), "interval": 1, "frequency": "weekly"})
        super().__init__(*args, **kwargs)
        self.fields["instructor"].queryset = trainers()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("until") and data.get("count"):
            self.add_error("count", "Give an end date or a number of sessions, not both.")
        elif "until" in data and "count" in data and not data.get("until") and not data.get("count"):
            self.add_error("until", "Give an end date or a number of sessions.")
        start, until = data.get("start_date"), data.get("until")
        if start and until and until < start:
            self.add_error("until", "The last date is before the first date.")
        return data

    def rule(self) -> dict[str, Any]:
        """Keyword arguments for `schedule_preview` (without the timezone)."""
        return {name: self.cleaned_data[name] for name in self.RULE_FIELDS}

    def fingerprint(self) -> str:
        """A short digest of the rule and the options (what a confirm must match)."""
        data = self.cleaned_data
        parts = [str(data.get(name)) for name in (*self.RULE_FIELDS, "instructor", "capacity_override")]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def matches_preview(self) -> bool:
        return bool(self.cleaned_data.get("previewed")) and self.cleaned_data["previewed"] == self.fingerprint()


class SessionEditForm(ServiceErrorForm):
    """Change a session's time, length, instructor, capacity or notes, for this session
    only or this and the following ones. Only the fields changed are applied."""

    scope = forms.ChoiceField(choices=SCOPES, initial="this", widget=forms.RadioSelect, label="Apply to")
    start_time = forms.TimeField(widget=TimeInput, label="Start time (gym time)")
    duration_minutes = forms.IntegerField(min_value=5, max_value=24 * 60, label="Duration (minutes)")
    instructor = TrainerChoiceField(
        queryset=User.objects.none(), required=False, empty_label="The class's default instructor"
    )
    capacity_override = forms.IntegerField(
        required=False,
        validators=[MinValueValidator(1), MaxValueValidator(32767)],
        label="Capacity",
        help_text="Empty: the class's capacity.",
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    CHANGEABLE = ("start_time", "duration_minutes", "instructor", "capacity_override", "notes")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["instructor"].queryset = trainers()  # type: ignore[attr-defined]

    @staticmethod
    def initial_for(session: Any) -> dict[str, Any]:
        local = timezone.localtime(session.starts_at)
        return {
            "scope": "this",
            "start_time": local.time().replace(second=0, microsecond=0),
            "duration_minutes": int((session.ends_at - session.starts_at).total_seconds() // 60),
            "instructor": session.instructor,
            "capacity_override": session.capacity_override,
            "notes": session.notes,
        }

    def changes(self) -> dict[str, Any]:
        """Only the fields that differ from the session (keyword arguments for `session_update`)."""
        return {name: self.cleaned_data[name] for name in self.CHANGEABLE if name in self.changed_data}


class SessionCancelForm(ServiceErrorForm):
    scope = forms.ChoiceField(choices=SCOPES, initial="this", widget=forms.RadioSelect, label="Cancel")
    reason = forms.CharField(
        max_length=200, help_text="Shown to the booked members, whose credits are refunded.", label="Reason"
    )
