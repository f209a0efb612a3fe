"""Gym schemas copied from the template are the template, object for object."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django_tenants.utils import schema_exists, tenant_context

from apps.accounts.tests.factories import UserFactory
from apps.staff.models import StaffRole
from apps.staff.roles import Role
from apps.tenants import cloning
from apps.tenants.management.commands.migrate_gyms import schemas_needing_migration
from apps.tenants.models import Gym
from apps.tenants.services import gym_provision

pytestmark = pytest.mark.django_db

TEMPLATE = "fitflow_template"


def catalog(schema: str) -> dict[str, list[tuple]]:
    """What a schema holds, with its own name replaced so two schemas compare equal."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('search_path', '', true)")
        queries = {
            "columns": """SELECT table_name, column_name, data_type, is_nullable, column_default, is_identity,
                              identity_generation, ordinal_position
                       FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 8""",
            "constraints": """SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid),
                                     con.condeferrable, con.condeferred
                              FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
                              JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1, 2""",
            "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY 1",
            "sequences": """SELECT sequencename, data_type, increment_by, max_value
                            FROM pg_sequences WHERE schemaname = %s ORDER BY 1""",
            "migrations": None,
        }
        found: dict[str, list[tuple]] = {}
        for name, sql in queries.items():
            if sql is None:
                cursor.execute(f'SELECT app, name FROM "{schema}".django_migrations ORDER BY 1, 2')
            else:
                cursor.execute(sql, [schema])
            found[name] = [
                tuple(str(v).replace(f'"{schema}".', "S.").replace(f"{schema}.", "S.") for v in row)
                for row in cursor.fetchall()
            ]
        cursor.execute("SELECT set_config('search_path', 'public', true)")
    return found


def without_casts(sql: str) -> str:
    """An index definition with type casts and parentheses removed, for comparing
    predicates PostgreSQL prints differently after re-parsing (same meaning)."""
    return re.sub(r"::[a-z ]+(\[\])?|[()]", "", sql)


def test_a_new_gym_schema_matches_the_template(db) -> None:
    gym = gym_provision(name="Copy Check", slug="copy-check")

    template, copy = catalog(TEMPLATE), catalog(gym.schema_name)

    assert template["columns"] and template["constraints"] and template["indexes"] and template["migrations"]
    for part in template:
        if part == "indexes":  # a re-parsed partial-index predicate may print with its casts moved
            assert [tuple(map(without_casts, r)) for r in copy[part]] == [
                tuple(map(without_casts, r)) for r in template[part]
            ], part
        else:
            assert copy[part] == template[part], part
    assert not schemas_needing_migration([gym.schema_name])


def test_copied_schema_works_foreign_keys_to_public_and_identity_ids(db) -> None:
    gym = gym_provision(name="Works", slug="works-check")
    user = UserFactory()

    with tenant_context(gym):
        role = StaffRole.objects.create(user=user, role=Role.OWNER)
        StaffRole.objects.create(user=UserFactory(), role=Role.MANAGER)
        assert role.pk >= 1
        assert StaffRole.objects.count() == 2
        with connection.cursor() as cursor:  # the FK points at public.accounts_user, not a copy
            cursor.execute(
                """SELECT confrelid::regclass::text FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = %s AND c.relname = 'staff_staffrole' AND con.contype = 'f'""",
                [gym.schema_name],
            )
            assert cursor.fetchone()[0] in ("accounts_user", "public.accounts_user")


def test_template_rows_other_than_migrations_are_not_shared_state(gym_a: Gym) -> None:
    # Writing into one gym never shows in the template or another gym.
    with tenant_context(gym_a):
        StaffRole.objects.create(user=UserFactory(), role=Role.OWNER)
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{TEMPLATE}".staff_staffrole')
        assert cursor.fetchone()[0] == 0


def test_unsupported_template_objects_fall_back_to_migrating(db) -> None:
    cloning.forget_template_plans()
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE VIEW "{TEMPLATE}".odd_view AS SELECT 1 AS one')
    try:
        assert cloning.template_clone(schema_name="gym_never_made") is False
        assert not schema_exists("gym_never_made")
        gym = gym_provision(name="Fallback", slug="fallback-check")  # migrates instead
        assert not schemas_needing_migration([gym.schema_name])
        assert "odd_view" not in str(catalog(gym.schema_name)["columns"])
    finally:
        cloning.forget_template_plans()


def test_template_behind_on_migrations_is_not_copied(db) -> None:
    cloning.forget_template_plans()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM \"{TEMPLATE}\".django_migrations WHERE app = 'staff'")
    try:
        assert cloning.template_clone(schema_name="gym_not_from_stale") is False
        gym = gym_provision(name="Fresh", slug="fresh-check")
        assert not schemas_needing_migration([gym.schema_name])
    finally:
        cloning.forget_template_plans()
