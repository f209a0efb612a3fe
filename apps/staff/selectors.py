"""Reads of staff roles in the current gym's schema."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from apps.accounts.models import User

from .models import StaffRole
from .roles import Role


def gym_role_for_user(*, user: User | AnonymousUser) -> Role | None:
    """The user's role at the gym whose schema is active, or None.

    Staff roles come from `StaffRole` (inactive ones count as none); otherwise a
    member record linked to the user (and not erased) gives the member role.
    One or two queries. Call it inside the gym's schema (request or `tenant_context`).
    """
    if not user.is_authenticated:
        return None
    role = StaffRole.objects.filter(user_id=user.pk, is_active=True).values_list("role", flat=True).first()
    if role:
        return Role(role)
    from apps.members.selectors import member_for_user

    return Role.MEMBER if member_for_user(user_id=user.pk) else None


def staff_role_list() -> QuerySet[StaffRole]:
    """Every staff role in the current gym, with users joined (one query)."""
    return StaffRole.objects.select_related("user").order_by("role", "user__email")
