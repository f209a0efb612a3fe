"""Plans: the priced offers a gym sells (recurring, one-off, class pack)."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Plan(models.Model):
    """A priced offer. Money is `Decimal` in the gym's currency (`Gym.currency`).

    - `kind` recurring: billed every `billing_interval` x `billing_period`;
      `class_credits` per period (None = unlimited).
    - `kind` one_off: lasts `duration_days`; `class_credits` for that time.
    - `kind` class_pack: `class_credits` credits that expire `pack_expiry_days` after purchase.
    `access_hours` is a list of windows `{"weekdays": [0-6, Monday=0], "start": "HH:MM",
    "end": "HH:MM"}` in gym local time; empty means any time the gym is open.
    A plan in use is archived (`is_active=False`), never deleted.
    """

    class Kind(models.TextChoices):
        RECURRING = "recurring", _("Recurring")
        ONE_OFF = "one_off", _("One-off")
        CLASS_PACK = "class_pack", _("Class pack")

    class BillingPeriod(models.TextChoices):
        WEEKLY = "weekly", _("Weekly")
        MONTHLY = "monthly", _("Monthly")
        QUARTERLY = "quarterly", _("Quarterly")
        YEARLY = "yearly", _("Yearly")

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.RECURRING)
    price = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    signup_fee = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0.00"), validators=[MinValueValidator(Decimal("0"))]
    )
    tax_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_("Percent, e.g. 15.00"),
    )
    price_includes_tax = models.BooleanField(default=True)
    billing_period = models.CharField(max_length=10, choices=BillingPeriod.choices, blank=True)
    billing_interval = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    duration_days = models.PositiveIntegerField(null=True, blank=True, help_text=_("One-off plans: days of access."))
    class_credits = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Per period (recurring), for the term (one-off) or in the pack; empty = unlimited."),
    )
    pack_expiry_days = models.PositiveIntegerField(null=True, blank=True)
    access_hours = models.JSONField(default=list, blank=True)
    trial_days = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True, help_text=_("Archived plans are not sold any more."))
    show_in_app = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_active", "name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="recurring") | ~models.Q(billing_period=""),
                name="plans_plan_recurring_has_period",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def unlimited_credits(self) -> bool:
        """True when the plan grants unlimited class bookings."""
        return self.class_credits is None
