"""Gyms (the tenants) and their domains, in the public schema."""

from __future__ import annotations

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
    # Billing (read at check-in now; the billing run in issue 6 sets past_due).
    payment_grace_days = models.PositiveIntegerField(
        default=3, help_text=_("Days a past-due membership still gets in before check-in is refused.")
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
    def is_suspended(self) -> bool:
        """True when the gym may not be used (status suspended)."""
        return self.status == self.Status.SUSPENDED


class Domain(DomainMixin):
    """A host name that routes to one gym, e.g. `harbour.fitflow.app`."""

    def __str__(self) -> str:
        return self.domain
