"""Who may see a member's medical notes: owner, manager and trainer, never a
receptionist (issue 3). One rule for pages, the API, the admin and exports."""

from __future__ import annotations

from typing import Any

from apps.staff.roles import Role
from apps.staff.selectors import gym_role_for_user

MEDICAL_FIELD = "medical_notes"
MEDICAL_NOTES_MIN_ROLE = Role.TRAINER


def role_sees_medical_notes(role: Role | str | None) -> bool:
    """True for trainer and above."""
    return role is not None and Role(role).at_least(MEDICAL_NOTES_MIN_ROLE)


def request_sees_medical_notes(request: Any) -> bool:
    """The rule for a page, API or admin request: the role the access check stored on
    the request (`request.gym_role`), else the user's role at the current gym."""
    role = getattr(request, "gym_role", None)
    if role is None and request.user.is_authenticated:
        role = gym_role_for_user(user=request.user)
    return role_sees_medical_notes(role)
