"""Reads of staff roles in the current gym's schema."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from apps.accounts.models import User

from .models import StaffRole
from .roles import Role


def gym_role_for_user(*, user: User | AnonymousUser) -> Role | None:
    """The user's role at the gym whose schema is active, or None.

    Staff roles come from `StaffRole`; the member role will come from the
    member record once the members app exists. Inactive roles count as none.
    Runs one query. Call it inside the gym's schema (request or `tenant_context`).
    """
    if not user.is_authenticated:
        return None
    role = StaffRole.objects.filter(user_id=user.pk, is_active=True).values_list("role", flat=True).first()
    return Role(role) if role else None


def staff_role_list() -> QuerySet[StaffRole]:
    """Every staff role in the current gym, with users joined (one query)."""
    return StaffRole.objects.select_related("user").order_by("role", "user__email")
