"""`manage.py migrate_gyms`: the one migration command for deploys and `make run`.

1. migrates the public schema and makes sure the public tenant (the base domain) exists;
2. creates and migrates the template schema new gyms are cloned from;
3. migrates every gym schema that has something to migrate, in parallel
   (django-tenants' multiprocessing executor).

Step 3 first asks each schema's `django_migrations` what it lacks, so a deploy
with nothing to migrate does not start the migrate command once per gym
(django-tenants #1082: minutes per 100 gyms). `bench/provision.py` measures it.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from apps.tenants.cloning import disk_migrations, schema_applied_migrations
from apps.tenants.models import Gym
from apps.tenants.services import public_gym_ensure, template_schema_migrate


def schemas_needing_migration(schemas: list[str]) -> list[str]:
    """The schemas whose `django_migrations` lack any migration on disk (one query each)."""
    expected = disk_migrations()
    with connection.cursor() as cursor:
        return [s for s in schemas if (applied := schema_applied_migrations(cursor, s)) is None or expected - applied]


class Command(BaseCommand):
    help = "Migrate public, the gym template schema and every gym schema (in parallel)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--executor", default="multiprocessing", choices=["standard", "multiprocessing", "subprocess"]
        )
        parser.add_argument("--all", action="store_true", help="Run migrate on every gym, even up-to-date ones.")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        started = time.monotonic()
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=verbosity)
        template_schema_migrate(verbosity=verbosity)
        # The public tenant routes the base domain to the public site (signup, admin).
        public_gym_ensure(domains=[settings.FITFLOW_BASE_DOMAIN])
        schemas = list(
            Gym.objects.exclude(schema_name=settings.PUBLIC_SCHEMA_NAME).values_list("schema_name", flat=True)
        )
        pending = schemas if options["all"] else schemas_needing_migration(schemas)
        if pending and len(pending) == len(schemas):
            # A new migration: every gym needs it, so run them all in parallel.
            call_command(
                "migrate_schemas", tenant=True, interactive=False, verbosity=verbosity, executor=options["executor"]
            )
        else:
            # A few gyms behind (e.g. an interrupted deploy): bring just those up to date.
            for schema in pending:
                call_command("migrate_schemas", tenant=True, schema_name=schema, interactive=False, verbosity=verbosity)
        self.stdout.write(
            f"migrate_gyms: {len(schemas)} gyms, {len(pending)} migrated, {time.monotonic() - started:.1f}s"
        )
