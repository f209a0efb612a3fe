"""Bookings, the waitlist and the append-only class-credit ledger."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.classes.models import ClassSession
from apps.members.models import Member
from apps.memberships.models import Membership


class Booking(models.Model):
    """A member's place in a class session.

    confirmed and waitlisted are *active*; at most one active (or attended/no-show)
    booking per member and session (partial unique constraint). `waitlist_position`
    is the FIFO order among waitlisted bookings (1 = next). `credits_spent` were
    taken from `membership`'s credits (0 on an unlimited plan).
    """

    class Status(models.TextChoices):
        CONFIRMED = "confirmed", _("Confirmed")
        WAITLISTED = "waitlisted", _("Waitlisted")
        CANCELLED = "cancelled", _("Cancelled")
        LATE_CANCELLED = "late_cancelled", _("Late cancelled")
        ATTENDED = "attended", _("Attended")
        NO_SHOW = "no_show", _("No-show")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="bookings")
    session = models.ForeignKey(ClassSession, on_delete=models.PROTECT, related_name="bookings")
    membership = models.ForeignKey(Membership, null=True, blank=True, on_delete=models.PROTECT, related_name="bookings")
    status = models.CharField(max_length=16, choices=Status.choices, db_index=True)
    waitlist_position = models.PositiveIntegerField(null=True, blank=True)
    credits_spent = models.PositiveSmallIntegerField(default=0)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=255, blank=True)
    attendance_marked_at = models.DateTimeField(null=True, blank=True)
    attendance_marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )

    class Meta:
        ordering = ["session__starts_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "session"],
                condition=models.Q(status__in=["confirmed", "waitlisted", "attended", "no_show"]),
                name="bookings_one_active_booking_per_member_session",
            ),
        ]
        indexes = [
            models.Index(fields=["session", "status"], name="bookings_session_status"),
            models.Index(fields=["member", "status"], name="bookings_member_status"),
        ]

    def __str__(self) -> str:
        return f"{self.member} in {self.session} ({self.status})"


ACTIVE_STATUSES = [Booking.Status.CONFIRMED, Booking.Status.WAITLISTED]


class CreditEntry(models.Model):
    """One row of the append-only class-credit ledger of a membership (the credit
    bucket: a recurring plan's per-period allowance or a class pack).

    `amount` is signed (purchase/grant/refund > 0, spend/expire < 0, adjust either);
    `balance_after` is the bucket's balance after this row and is never negative.
    `period_start` names the allowance period a grant belongs to; `expires_on` is
    when a pack's (or a period's) credits lapse. Rows are only ever inserted.
    """

    class Kind(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        GRANT = "grant", _("Grant")
        SPEND = "spend", _("Spend")
        REFUND = "refund", _("Refund")
        EXPIRE = "expire", _("Expire")
        ADJUST = "adjust", _("Adjust")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="credit_entries")
    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="credit_entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.IntegerField()
    balance_after = models.PositiveIntegerField()
    booking = models.ForeignKey(Booking, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_entries")
    period_start = models.DateField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    note = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["membership", "-id"], name="bookings_credit_bucket_latest")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(balance_after__gte=0), name="bookings_credit_balance_never_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} -> {self.balance_after}"


class WaitlistSkip(models.Model):
    """Why a waitlisted booking was passed over when a spot freed up (logged, not fatal)."""

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="waitlist_skips")
    code = models.CharField(max_length=32)
    reason = models.CharField(max_length=255)
    at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"skip {self.booking_id}: {self.code}"
