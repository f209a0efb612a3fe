"""Forms of the team page: inviting a staff member."""

from __future__ import annotations

from typing import Any

from django import forms

from .roles import STAFF_ROLES, Role


class StaffInviteForm(forms.Form):
    """Email, name and role of a new staff member. `inviter` limits the roles offered
    to the inviter's own and below (a manager cannot make an owner)."""

    email = forms.EmailField(label="Email")
    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    role = forms.ChoiceField(label="Role")

    def __init__(self, *args: Any, inviter: Role, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["role"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(r.value, r.label) for r in STAFF_ROLES if inviter.at_least(r)]
        field.initial = Role.RECEPTIONIST.value
