"""Check-ins: visits at the front desk, and the members' printed QR cards.

Occupancy is the number of open check-ins (`checked_out_at` is null) at this gym:
no date in the count, so it stays right through midnight, manual check-outs and the
automatic check-out task.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.bookings.models import Booking
from apps.members.models import Member
from apps.memberships.models import Membership


class CheckIn(models.Model):
    """One visit: `checked_in_at` at the desk, `checked_out_at` when the member left
    (both UTC). `membership` is the one that let them in (None for a manual override
    of a member without one); `booking` is the class booking this check-in marked
    attended, if any. Only allowed visits are rows: a refused scan writes nothing.
    """

    class Method(models.TextChoices):
        MEMBER_QR = "member_qr", _("Member app QR")
        CARD_QR = "card_qr", _("Printed card QR")
        BOOKING_QR = "booking_qr", _("Booking QR")
        SEARCH = "search", _("Name search")
        OVERRIDE = "override", _("Manual override")
        APP = "app", _("API")

    class CheckOutKind(models.TextChoices):
        MANUAL = "manual", _("Checked out at the desk")
        AUTO = "auto", _("Checked out automatically")
        SUPERSEDED = "superseded", _("Closed by a later check-in")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="check_ins")
    membership = models.ForeignKey(
        Membership, null=True, blank=True, on_delete=models.SET_NULL, related_name="check_ins"
    )
    booking = models.ForeignKey(Booking, null=True, blank=True, on_delete=models.SET_NULL, related_name="check_ins")
    method = models.CharField(max_length=12, choices=Method.choices)
    checked_in_at = models.DateTimeField(db_index=True)
    checked_out_at = models.DateTimeField(null=True, blank=True)
    check_out_kind = models.CharField(max_length=12, choices=CheckOutKind.choices, blank=True)
    override_reason = models.CharField(max_length=255, blank=True)
    # The code the rules gave before a manager overrode them (e.g. "membership_frozen").
    overridden_code = models.CharField(max_length=32, blank=True)
    # DO_NOTHING: users live in public; see apps.staff.models.StaffRole.user.
    checked_in_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    checked_out_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )

    class Meta:
        ordering = ["-checked_in_at", "-id"]
        indexes = [
            models.Index(fields=["member", "-checked_in_at"], name="checkins_member_recent"),
            # Occupancy: the open check-ins, a small partial index however long the history.
            models.Index(
                fields=["checked_in_at"],
                condition=models.Q(checked_out_at__isnull=True),
                name="checkins_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member} at {self.checked_in_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        """True while the member is in the gym (not checked out)."""
        return self.checked_out_at is None


class MemberCard(models.Model):
    """A printed (static) QR card. Its token is signed and names this row, so a card
    is valid until `revoked_at` is set; a member holds at most one unrevoked card."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="cards")
    issued_at = models.DateTimeField(auto_now_add=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.DO_NOTHING, related_name="+"
    )

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=models.Q(revoked_at__isnull=True), name="checkins_one_live_card"
            ),
        ]

    def __str__(self) -> str:
        return f"Card {self.pk} of {self.member}"
