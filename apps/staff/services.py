"""Writes to a gym's staff roles."""

from __future__ import annotations

from django.db import transaction

from apps.accounts.models import User

from .errors import StaffError
from .models import StaffRole
from .roles import STAFF_ROLES, Role


@transaction.atomic
def staff_role_assign(*, user: User, role: Role) -> StaffRole:
    """Give `user` the staff `role` at the current gym, replacing any earlier role.

    Args: `user` a global User; `role` one of owner, manager, trainer, receptionist.
    Returns the saved `StaffRole`. Raises `StaffError("invalid_role")` for the
    member role and `StaffError("last_owner")` when this would leave no owner.
    """
    if role not in STAFF_ROLES:
        raise StaffError("invalid_role", f"{role} is not a staff role.")
    existing = StaffRole.objects.select_for_update().filter(user=user).first()
    if existing and existing.role == Role.OWNER and role != Role.OWNER:
        owners = StaffRole.objects.filter(role=Role.OWNER, is_active=True).exclude(pk=existing.pk)
        if not owners.exists():
            raise StaffError("last_owner", "A gym must keep at least one owner.")
    staff_role, _ = StaffRole.objects.update_or_create(user=user, defaults={"role": role, "is_active": True})
    return staff_role
