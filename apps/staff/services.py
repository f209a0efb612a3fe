"""Writes to a gym's staff roles."""

from __future__ import annotations

from django.db import transaction

from apps.accounts.models import User
from apps.tenants.selectors import current_schema_name

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


@transaction.atomic
def staff_invite(*, email: str, role: Role, first_name: str = "", last_name: str = "") -> StaffRole:
    """Give the person with `email` the staff `role` at the current gym and email them
    an invitation (on commit, `tasks.staff_invite_email_task`): a link to choose their
    password on the gym's site, or the gym's login page when their FitFlow login already
    has one. The global user with that email (case-insensitive) is used, or created
    without a usable password. Inviting again re-sends the invitation (and sets the role).

    Returns the `StaffRole`. Raises `StaffError`: `invalid_role` (member) and
    `last_owner` (see `staff_role_assign`)."""
    from .tasks import staff_invite_email_task

    email = email.strip().lower()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=None, first_name=first_name, last_name=last_name)
    staff_role = staff_role_assign(user=user, role=role)
    schema = current_schema_name()
    transaction.on_commit(lambda: staff_invite_email_task.apply_async(args=[user.pk], headers={"_schema_name": schema}))
    return staff_role
