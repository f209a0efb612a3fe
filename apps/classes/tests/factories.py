"""Class and session factories: they write into the active gym schema (use inside tenant_context)."""

import datetime

import factory
from django.utils import timezone

from apps.classes.models import ClassSession, GymClass


class GymClassFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GymClass

    name = factory.Sequence(lambda n: f"Vinyasa Flow {n}")
    type = GymClass.Type.YOGA
    duration_minutes = 60
    capacity = 10
    credits_required = 1


class ClassSessionFactory(factory.django.DjangoModelFactory):
    """A scheduled session starting tomorrow at 07:00 UTC unless told otherwise."""

    class Meta:
        model = ClassSession

    gym_class = factory.SubFactory(GymClassFactory)
    starts_at = factory.LazyFunction(
        lambda: (timezone.now() + datetime.timedelta(days=1)).replace(hour=7, minute=0, second=0, microsecond=0)
    )
    ends_at = factory.LazyAttribute(lambda s: s.starts_at + datetime.timedelta(minutes=s.gym_class.duration_minutes))
