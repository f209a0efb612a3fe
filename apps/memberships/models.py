"""Memberships: a member on a plan over time, with freezes and an audit trail."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.members.models import Member
from apps.plans.models import Plan


class Membership(models.Model):
    """A member on a plan from `start_date`. Price, period and credits are copied from
    the plan when assigned, so later plan edits never change an existing contract.
    Money is `Decimal` in the gym's currency; dates are gym-local dates.

    Statuses: active, frozen, past_due, cancelled, expired. `end_date` is None for a
    recurring membership that runs until cancelled; `next_billing_date` is None for
    plans that are not billed again.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        FROZEN = "frozen", _("Frozen")
        PAST_DUE = "past_due", _("Past due")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="memberships")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="memberships")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    next_billing_date = models.DateField(null=True, blank=True)
    # Copied from the plan at assignment (the contract).
    price = models.DecimalField(max_digits=10, decimal_places=2)
    billing_period = models.CharField(max_length=10, choices=Plan.BillingPeriod.choices, blank=True)
    billing_interval = models.PositiveSmallIntegerField(default=1)
    class_credits = models.PositiveIntegerField(null=True, blank=True)
    # The day of the month billing keeps to (1-31), so monthly from 31 January bills
    # 28 February, then 31 March (Stripe's billing_cycle_anchor). Set by the first
    # billing run; None until then and after a freeze moves the billing date.
    billing_anchor_day = models.PositiveSmallIntegerField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    # The gym-local date the membership went past_due (None otherwise); check-in
    # refuses it after the gym's payment_grace_days.
    past_due_since = models.DateField(null=True, blank=True)
    cancelled_on = models.DateField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-start_date", "-id"]
        indexes = [models.Index(fields=["member", "status"], name="memberships_member_status")]

    def __str__(self) -> str:
        return f"{self.member} on {self.plan} ({self.status})"

    @property
    def is_current(self) -> bool:
        """Active, frozen or past due: the membership the member has now."""
        return self.status in (self.Status.ACTIVE, self.Status.FROZEN, self.Status.PAST_DUE)


CURRENT_STATUSES = [Membership.Status.ACTIVE, Membership.Status.FROZEN, Membership.Status.PAST_DUE]


class Freeze(models.Model):
    """A pause of a membership from `start_date` to `end_date` (inclusive, gym-local):
    no access and no billing; the end and next-billing dates move by the frozen days.
    `ended_on` is set when it was ended early by hand."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="freezes")
    start_date = models.DateField()
    end_date = models.DateField()
    ended_on = models.DateField(null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start_date"]

    def __str__(self) -> str:
        return f"Freeze {self.start_date} to {self.end_date}"


class MembershipEvent(models.Model):
    """The audit trail of a membership: who did what, when and why."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Created")
        FROZEN = "frozen", _("Frozen")
        UNFROZEN = "unfrozen", _("Unfrozen")
        CANCELLED = "cancelled", _("Cancelled")
        CANCEL_SCHEDULED = "cancel_scheduled", _("Cancellation scheduled")
        RENEWED = "renewed", _("Renewed")
        PLAN_CHANGED = "plan_changed", _("Plan changed")
        EXPIRED = "expired", _("Expired")
        PAST_DUE = "past_due", _("Past due")
        REACTIVATED = "reactivated", _("Reactivated")

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    reason = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)  # e.g. {"from": "...", "to": "...", "proration": "12.50"}

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"


ZERO = Decimal("0.00")
