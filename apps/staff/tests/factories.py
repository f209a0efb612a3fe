"""Factories for staff roles. They write into whichever gym schema is active;
use them inside `tenant_context(gym)` (the session gyms A and B)."""

import factory

from apps.accounts.tests.factories import UserFactory
from apps.staff.models import StaffRole
from apps.staff.roles import Role


class StaffRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffRole

    user = factory.SubFactory(UserFactory)
    role = Role.OWNER
