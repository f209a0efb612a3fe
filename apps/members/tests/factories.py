"""Member factories: they write into the active gym schema (use inside tenant_context)."""

import factory

from apps.members.models import Member


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"member{n}@example.test")
    phone = factory.Sequence(lambda n: f"+2782{n:07d}")
