"""Classes (templates), recurring schedules and class sessions (dated occurrences)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.plans.models import Plan


class GymClass(models.Model):
    """A class template: what is taught, for how long (minutes), for how many, and for
    how many credits. `allowed_plans` empty means every plan may book it. The default
    instructor is a global user holding the trainer role (or above) at this gym."""

    class Type(models.TextChoices):
        YOGA = "yoga", _("Yoga")
        PILATES = "pilates", _("Pilates")
        HIIT = "hiit", _("HIIT")
        STRENGTH = "strength", _("Strength")
        CARDIO = "cardio", _("Cardio")
        DANCE = "dance", _("Dance")
        MARTIAL_ARTS = "martial_arts", _("Martial arts")
        SWIMMING = "swimming", _("Swimming")
        CYCLING = "cycling", _("Cycling")
        OTHER = "other", _("Other")

    class Difficulty(models.TextChoices):
        BEGINNER = "beginner", _("Beginner")
        INTERMEDIATE = "intermediate", _("Intermediate")
        ADVANCED = "advanced", _("Advanced")
        ALL_LEVELS = "all_levels", _("All levels")

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.OTHER)
    difficulty = models.CharField(max_length=16, choices=Difficulty.choices, default=Difficulty.ALL_LEVELS)
    duration_minutes = models.PositiveSmallIntegerField(default=60, validators=[MinValueValidator(5)])
    capacity = models.PositiveSmallIntegerField(default=20, validators=[MinValueValidator(1)])
    credits_required = models.PositiveSmallIntegerField(default=1)
    colour = models.CharField(max_length=7, default="#0f766e", help_text=_("Hex colour, e.g. #0f766e"))
    default_instructor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    equipment_needed = models.CharField(max_length=255, blank=True)
    location = models.CharField(max_length=120, blank=True, help_text=_("Room or area"))
    is_active = models.BooleanField(default=True)
    allowed_plans = models.ManyToManyField(Plan, blank=True, related_name="bookable_classes")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("class")
        verbose_name_plural = _("classes")

    def __str__(self) -> str:
        return self.name


class ClassSchedule(models.Model):
    """A recurrence rule that created sessions of a class (`dateutil.rrule`): daily,
    weekly on `weekdays` (0=Monday), or monthly, every `interval`, from `start_date`
    at `start_time` gym-local time, until `until` or for `count` occurrences. Local
    wall-clock time is kept across daylight-saving changes."""

    class Frequency(models.TextChoices):
        DAILY = "daily", _("Daily")
        WEEKLY = "weekly", _("Weekly")
        MONTHLY = "monthly", _("Monthly")

    gym_class = models.ForeignKey(GymClass, on_delete=models.CASCADE, related_name="schedules")
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.WEEKLY)
    interval = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    weekdays = ArrayField(models.PositiveSmallIntegerField(), default=list, blank=True)
    start_date = models.DateField()
    start_time = models.TimeField()
    until = models.DateField(null=True, blank=True)
    count = models.PositiveIntegerField(null=True, blank=True)
    instructor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    capacity_override = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.gym_class} {self.get_frequency_display().lower()} from {self.start_date}"


class ClassSession(models.Model):
    """One dated occurrence of a class. `starts_at`/`ends_at` are timezone-aware and
    stored in UTC, shown in the gym's timezone. Capacity and instructor fall back to
    the class's; windows are in hours before `starts_at`."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        CANCELLED = "cancelled", _("Cancelled")
        COMPLETED = "completed", _("Completed")

    gym_class = models.ForeignKey(GymClass, on_delete=models.PROTECT, related_name="sessions")
    schedule = models.ForeignKey(
        ClassSchedule, null=True, blank=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    starts_at = models.DateTimeField(db_index=True)
    ends_at = models.DateTimeField()
    instructor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    capacity_override = models.PositiveSmallIntegerField(null=True, blank=True)
    booking_window_hours = models.PositiveIntegerField(default=168)
    cancellation_window_hours = models.PositiveIntegerField(default=12)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED, db_index=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="classes_session_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gym_class} at {self.starts_at:%Y-%m-%d %H:%M} UTC"

    @property
    def capacity(self) -> int:
        """Spots in this session: the override, else the class's capacity."""
        return self.capacity_override if self.capacity_override is not None else self.gym_class.capacity
