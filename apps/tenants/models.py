"""Gyms (the tenants) and their domains, in the public schema."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField
from django_tenants.models import DomainMixin, TenantMixin


def gym_logo_upload_to(instance: Gym, filename: str) -> str:
    """Storage path for a gym's logo: `<schema>/branding/<filename>`.

    Every upload path starts with the schema name, so two gyms can never read or
    overwrite each other's files (django-tenants #249).
    """
    return f"{instance.schema_name}/branding/{filename}"


class Gym(TenantMixin):
    """A gym: one tenant with its own PostgreSQL schema and subdomain.

    Money for this gym is in `currency` (ISO 4217); times shown to its staff and
    members are in `timezone` (IANA name); scheduled work runs at `billing_hour`
    (0-23, gym local time).
    """

    class Status(models.TextChoices):
        TRIAL = "trial", _("Trial")
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        CANCELLED = "cancelled", _("Cancelled")

    class Tier(models.TextChoices):
        STARTER = "starter", _("Starter")
        GROWTH = "growth", _("Growth")
        PRO = "pro", _("Pro")

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=40, unique=True, help_text=_("The gym's subdomain."))
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.TRIAL, db_index=True)
    tier = models.CharField(max_length=12, choices=Tier.choices, default=Tier.STARTER, db_index=True)
    timezone = models.CharField(max_length=64, default="UTC")
    currency = models.CharField(max_length=3, default="USD")
    country = CountryField(blank=True)
    marketplace_enabled = models.BooleanField(default=False)
    billing_hour = models.PositiveSmallIntegerField(default=6, help_text=_("Local hour (0-23) when billing runs."))
    # Booking policy (issue 4). Windows are in hours before a class session starts.
    booking_window_hours = models.PositiveIntegerField(
        default=168, help_text=_("How far ahead members may book a class session (hours).")
    )
    cancellation_window_hours = models.PositiveIntegerField(
        default=12, help_text=_("Cancelling later than this before the start is a late cancel (hours).")
    )
    late_cancel_refunds_credit = models.BooleanField(
        default=False, help_text=_("Refund the class credit on a late cancel (most studios do not).")
    )
    # Front desk (issue 5).
    occupancy_capacity = models.PositiveIntegerField(
        default=60, help_text=_("How many people the gym floor holds; occupancy warns above 85% of this.")
    )
    checkin_repeat_minutes = models.PositiveIntegerField(
        default=60, help_text=_("A second scan within this many minutes of a check-in is refused as already in.")
    )
    auto_checkout_hours = models.PositiveIntegerField(
        default=3, help_text=_("Open check-ins are checked out automatically after this many hours.")
    )
    # Billing: the billing run sets past_due; check-in and booking read the grace.
    payment_grace_days = models.PositiveIntegerField(
        default=3, help_text=_("Days a past-due membership still gets in before check-in is refused.")
    )
    # Invoices and recurring billing (issue 6). Money is in `currency`.
    legal_name = models.CharField(
        max_length=200, blank=True, help_text=_("Shown on invoices; the gym's name if empty.")
    )
    address = models.TextField(blank=True, help_text=_("Postal address printed on invoices."))
    tax_number = models.CharField(max_length=40, blank=True, help_text=_("VAT / GST / tax registration number."))
    tax_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text=_("Percent for items without a plan's own rate, e.g. 15.00."),
    )
    prices_include_tax = models.BooleanField(default=True, help_text=_("Manual item prices already include tax."))
    billing_email = models.EmailField(blank=True, help_text=_("Where FitFlow sends the gym's own bills."))
    invoice_prefix = models.CharField(
        max_length=12, default="INV", help_text=_("Invoice numbers read PREFIX-YEAR-000123.")
    )
    invoice_due_days = models.PositiveSmallIntegerField(
        default=7, help_text=_("Days after issue that an invoice paid by hand falls due.")
    )
    dunning_retry_days = models.CharField(
        max_length=40,
        default="1,3,5",
        help_text=_("Days after the first failed charge to retry the card, comma-separated."),
    )

    class DunningFinalAction(models.TextChoices):
        CANCEL = "cancel", _("Cancel the membership")
        FREEZE = "freeze", _("Freeze the membership")

    dunning_final_action = models.CharField(
        max_length=8,
        choices=DunningFinalAction.choices,
        default=DunningFinalAction.CANCEL,
        help_text=_("What happens to the membership after the last retry fails."),
    )
    billing_run_on = models.DateField(
        null=True, blank=True, help_text=_("Gym-local date of the last completed billing run.")
    )
    # Stripe Connect (Standard): the gym's own account takes its members' payments.
    stripe_account_id = models.CharField(max_length=64, blank=True, db_index=True)
    stripe_charges_enabled = models.BooleanField(default=False)
    # The platform's own billing of the gym (dj-stripe subscription on FitFlow's account).
    platform_unpaid_since = models.DateField(
        null=True, blank=True, help_text=_("First day the gym's FitFlow subscription went unpaid.")
    )
    logo = models.ImageField(upload_to=gym_logo_upload_to, blank=True)
    suspended_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # The schema is created by apps.tenants.services.gym_provision inside its own
    # transaction, never implicitly on save.
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_public(self) -> bool:
        """True for the public (platform) tenant row."""
        return self.schema_name == "public"

    @property
    def stripe_connected(self) -> bool:
        """True when the gym's Stripe account may take charges (Connect onboarding done)."""
        return bool(self.stripe_account_id) and self.stripe_charges_enabled

    @property
    def dunning_retry_offsets(self) -> list[int]:
        """`dunning_retry_days` as sorted day offsets, e.g. "1,3,5" -> [1, 3, 5].
        Unparseable parts are ignored (the settings form validates them)."""
        days = {int(p) for p in self.dunning_retry_days.split(",") if p.strip().isdigit() and int(p) > 0}
        return sorted(days)

    @property
    def is_suspended(self) -> bool:
        """True when the gym may not be used (status suspended)."""
        return self.status == self.Status.SUSPENDED


class Domain(DomainMixin):
    """A host name that routes to one gym, e.g. `harbour.fitflow.app`."""

    def __str__(self) -> str:
        return self.domain
