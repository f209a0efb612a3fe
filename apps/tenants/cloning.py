"""Creating a gym's schema by copying the migrated template schema.

DESIGN.md section 2 asks for template cloning (`TENANT_BASE_SCHEMA` with faked
migrations). django-tenants does that with its `clone_schema` PL/pgSQL function,
but measured here (bench/provision.py, 2 cores) it cost 0.12 s at 0 gyms and
0.22 s at 200, only 4x faster than migrating, because it re-creates the
4,600-line function on every call, scans catalog views across every schema, and
then runs `migrate_schemas --fake`, which rebuilds Django's migration state for
nothing (the copied `django_migrations` rows already say everything is applied).
On a long-lived connection each re-created function also leaves ~1,000 cached
plans behind, so a worker that creates many gyms slows down to seconds per gym.

This module reads the template's tables, constraints, indexes and identity
columns from the system catalog once per process (looking only at the template's
own namespace), turns them into one batch of DDL, and replays it per gym:
about 15 ms per gym and flat with the number of gyms.

It copies plain tables, their defaults, identity columns, check/primary/unique/
exclusion/foreign-key constraints, indexes and rows. If the template holds
anything else (views, functions, types, triggers, policies, standalone sequences,
generated columns) `template_clone` returns False and the caller falls back to
django-tenants, so an unexpected object is never silently dropped.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.migrations.loader import MigrationLoader

_PLANS: dict[tuple[str, int], list[str] | None] = {}

_UNSUPPORTED_OBJECTS = """
SELECT (SELECT count(*) FROM pg_class c WHERE c.relnamespace = %(nsp)s AND (c.relkind NOT IN ('r', 'i', 'S')
          OR (c.relkind = 'S' AND NOT EXISTS (SELECT 1 FROM pg_depend d
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'i'))))
     + (SELECT count(*) FROM pg_proc WHERE pronamespace = %(nsp)s)
     + (SELECT count(*) FROM pg_type WHERE typnamespace = %(nsp)s AND typtype <> 'c' AND typcategory <> 'A')
     + (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          WHERE c.relnamespace = %(nsp)s AND NOT t.tgisinternal)
     + (SELECT count(*) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = %(nsp)s)
     + (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          WHERE c.relnamespace = %(nsp)s AND a.attgenerated <> '')
"""


def quote_name(name: str) -> str:
    """A PostgreSQL identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'


@lru_cache(maxsize=1)
def disk_migrations() -> frozenset[tuple[str, str]]:
    """Every (app, migration) on disk: what an up-to-date schema has applied."""
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def schema_applied_migrations(cursor: Any, schema: str) -> set[tuple[str, str]] | None:
    """The (app, name) rows of a schema's `django_migrations`, or None when it has no such table."""
    cursor.execute("SELECT to_regclass(%s)", [f"{quote_name(schema)}.django_migrations"])
    if cursor.fetchone()[0] is None:
        return None
    cursor.execute(f"SELECT app, name FROM {quote_name(schema)}.django_migrations")
    return set(cursor.fetchall())


def _build_plan(cursor: Any, base: str) -> list[str] | None:
    """DDL and data statements that copy schema `base` into `{new}`, or None when the
    template holds objects this copier does not handle."""
    # With an empty search_path, pg_get_*def() qualify every name with its schema, so
    # references to public (e.g. accounts_user) stay public and template ones are rewritten.
    cursor.execute("SELECT current_setting('search_path')")
    (previous_search_path,) = cursor.fetchone()
    cursor.execute("SELECT set_config('search_path', '', true)")
    try:
        cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [base])
        (nsp,) = cursor.fetchone()
        cursor.execute(_UNSUPPORTED_OBJECTS, {"nsp": nsp})
        if cursor.fetchone()[0]:
            return None
        src, new = quote_name(base), "{new}"

        def retarget(definition: str) -> str:
            return definition.replace(f"{src}.", f"{new}.").replace(f"{base}.", f"{new}.")

        cursor.execute("SELECT relname FROM pg_class WHERE relnamespace = %s AND relkind = 'r' ORDER BY oid", [nsp])
        tables = [quote_name(t) for (t,) in cursor.fetchall()]
        plan = [f"CREATE SCHEMA {new}"]
        plan += [f"CREATE TABLE {new}.{t} (LIKE {src}.{t} INCLUDING ALL EXCLUDING INDEXES)" for t in tables]
        cursor.execute(
            "SELECT c.relname, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con"
            " JOIN pg_class c ON c.oid = con.conrelid WHERE c.relnamespace = %s"
            " AND con.contype IN ('p', 'u', 'x', 'f') ORDER BY con.contype = 'f', con.oid",
            [nsp],
        )
        for table, name, definition in cursor.fetchall():
            plan.append(
                f"ALTER TABLE {new}.{quote_name(table)} ADD CONSTRAINT {quote_name(name)} {retarget(definition)}"
            )
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
            " WHERE c.relnamespace = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = i.indexrelid)"
            " ORDER BY i.indexrelid",
            [nsp],
        )
        plan += [retarget(definition) for (definition,) in cursor.fetchall()]
        plan += [f"INSERT INTO {new}.{t} OVERRIDING SYSTEM VALUE SELECT * FROM {src}.{t}" for t in tables]
        cursor.execute(
            "SELECT c.relname, a.attname, seq.relname, format_type(s.seqtypid, NULL)"
            " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_depend d ON d.refobjid = c.oid AND d.refobjsubid = a.attnum AND d.deptype = 'i'"
            " JOIN pg_class seq ON seq.oid = d.objid AND seq.relkind = 'S'"
            " JOIN pg_sequence s ON s.seqrelid = seq.oid"
            " WHERE c.relnamespace = %s AND c.relkind = 'r' AND a.attidentity <> '' AND NOT a.attisdropped",
            [nsp],
        )
        for table, column, sequence, sequence_type in cursor.fetchall():
            # LIKE makes identity sequences bigint; keep the template's type (e.g. integer).
            plan.append(f"ALTER SEQUENCE {new}.{quote_name(sequence)} AS {sequence_type}")
            plan.append(
                f"SELECT setval('{new}.{quote_name(sequence)}'::regclass, COALESCE(MAX({quote_name(column)}), 0) + 1,"
                f" false) FROM {new}.{quote_name(table)}"
            )
    finally:
        cursor.execute("SELECT set_config('search_path', %s, true)", [previous_search_path])
    # Statements are later filled with str.format(new=...): protect any literal braces.
    return [s.replace("{", "{{").replace("}", "}}").replace("{{new}}", "{new}") for s in plan]


def template_is_current(cursor: Any, base: str) -> bool:
    """True when the template schema exists and has every migration on disk applied."""
    applied = schema_applied_migrations(cursor, base)
    return applied is not None and not (disk_migrations() - applied)


def template_clone(*, schema_name: str) -> bool:
    """Create schema `schema_name` as a copy of `settings.TENANT_BASE_SCHEMA`.

    Runs in the caller's transaction (PostgreSQL DDL is transactional). Returns
    True when the copy was made, False when it was not attempted because the
    template is missing, behind on migrations, or holds objects this copier does
    not handle; the caller then creates the schema another way.
    """
    base = settings.TENANT_BASE_SCHEMA
    with connection.cursor() as cursor:
        if not template_is_current(cursor, base):
            return False
        cursor.execute(f"SELECT count(*) FROM {quote_name(base)}.django_migrations")
        key = (base, cursor.fetchone()[0])  # a deploy that migrates the template changes the key
        if key not in _PLANS:
            _PLANS[key] = _build_plan(cursor, base)
        plan = _PLANS[key]
        if plan is None:
            return False
        cursor.execute(";\n".join(s.format(new=quote_name(schema_name)) for s in plan))
    return True


def forget_template_plans() -> None:
    """Drop the cached copy plans (after the template changes within this process)."""
    _PLANS.clear()
