"""The scoped search-path cache (fitflow/db/base.py): fewer `SET search_path`
statements inside `search_path_cached()`, and never a statement on the wrong schema,
across tenant switches and rollbacks."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import tenant_context

from apps.members.models import Member
from apps.members.tests.factories import MemberFactory
from apps.tenants.models import Gym
from fitflow.db.base import search_path_cached

pytestmark = pytest.mark.django_db


def sets(ctx: CaptureQueriesContext) -> int:
    return sum(q["sql"].startswith("SET search_path") for q in ctx.captured_queries)


def schema_now() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT (current_schemas(false))[1]")
        return str(cursor.fetchone()[0])


def test_cached_block_sets_the_path_once_and_off_it_every_time(gym_a: Gym) -> None:
    with tenant_context(gym_a):
        with CaptureQueriesContext(connection) as plain:
            for _ in range(5):
                Member.objects.count()
        with search_path_cached(), CaptureQueriesContext(connection) as cached:
            for _ in range(5):
                Member.objects.count()
    assert sets(plain) == 5 and sets(cached) <= 1


def test_switching_gyms_and_rolling_back_never_leaves_the_wrong_schema(gym_a: Gym, gym_b: Gym) -> None:
    with search_path_cached():
        with tenant_context(gym_a):
            MemberFactory(first_name="OnlyInA")
            assert schema_now() == gym_a.schema_name
        with tenant_context(gym_b):
            assert schema_now() == gym_b.schema_name
            assert not Member.objects.filter(first_name="OnlyInA").exists()
            # a SET issued inside a savepoint that is rolled back is undone by PostgreSQL
            with pytest.raises(RuntimeError), transaction.atomic():
                connection.set_tenant(gym_a)  # type: ignore[attr-defined]
                assert Member.objects.filter(first_name="OnlyInA").exists()
                connection.set_tenant(gym_b)  # type: ignore[attr-defined]
                raise RuntimeError("roll back")
            assert schema_now() == gym_b.schema_name
            assert not Member.objects.filter(first_name="OnlyInA").exists()
        with tenant_context(gym_a):
            with pytest.raises(RuntimeError), transaction.atomic():
                Member.objects.count()  # the SET happens inside this savepoint ...
                raise RuntimeError("roll back")
            # ... and is undone with it: the cache must not trust it
            assert Member.objects.filter(first_name="OnlyInA").exists()
            assert schema_now() == gym_a.schema_name
