"""A gym's staff roles, stored in the gym's own schema."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .roles import Role


class StaffRole(models.Model):
    """One global user's staff role at this gym (owner, manager, trainer or receptionist).

    Lives in the gym's schema, so a role at gym A means nothing at gym B.
    Members are not stored here: the member role comes from the member record.
    """

    STAFF_CHOICES = [(r.value, r.label) for r in Role if r is not Role.MEMBER]

    # DO_NOTHING: this table exists only in gym schemas, so Django's delete collector,
    # run from the public schema, must not look for it. The database constraint still
    # refuses to delete a user who holds a role here.
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, related_name="+")
    role = models.CharField(max_length=16, choices=STAFF_CHOICES)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("staff role")
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"
