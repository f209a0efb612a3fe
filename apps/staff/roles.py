"""The role ladder: owner > manager > trainer > receptionist > member."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """A user's role inside one gym. Compare with `rank` (higher may do more)."""

    OWNER = "owner", _("Owner")
    MANAGER = "manager", _("Manager")
    TRAINER = "trainer", _("Trainer")
    RECEPTIONIST = "receptionist", _("Receptionist")
    MEMBER = "member", _("Member")

    @property
    def rank(self) -> int:
        """5 for owner down to 1 for member."""
        return _RANKS[self]

    def at_least(self, minimum: "Role") -> bool:
        """True when this role is `minimum` or above it on the ladder."""
        return self.rank >= minimum.rank


_RANKS = {Role.OWNER: 5, Role.MANAGER: 4, Role.TRAINER: 3, Role.RECEPTIONIST: 2, Role.MEMBER: 1}
STAFF_ROLES = [Role.OWNER, Role.MANAGER, Role.TRAINER, Role.RECEPTIONIST]
