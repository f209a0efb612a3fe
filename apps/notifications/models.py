"""Notifications recorded for members. The notifications issue adds the channels and
the sending; until then every notification is recorded here, unsent."""

from __future__ import annotations

from django.db import models

from apps.members.models import Member


class Notification(models.Model):
    """A message due to a member: `kind` (e.g. `booking_confirmed`, `waitlist_promoted`,
    `session_cancelled`), a JSON `data` payload for the template, and an
    `idempotency_key` (kind, object, scheduled time) so it is recorded once."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="notifications")
    kind = models.CharField(max_length=40, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} for member {self.member_id}"
