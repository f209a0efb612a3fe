"""The PostgreSQL backend: django-tenants' schema routing, plus an opt-in, scoped cache of
the `SET search_path` it sends before every statement.

django-tenants sends `SET search_path` before each statement unless
`TENANT_LIMIT_SET_CALLS` is on for the whole process. We keep that global setting off
(every statement on the right schema, whatever code runs), and let bulk jobs turn the
cache on for one block with `search_path_cached()`: inside it, the path is set once and
reused until the tenant changes, the connection closes, or a rollback (or rollback to a
savepoint) may have undone the `SET` -- django-tenants 4 forgets the cached path in
each of those cases (`set_tenant`, `close`, `rollback`, `savepoint_rollback`).

Measured on the billing run (bench/billing_run.py --profile): 43 statements per
membership billed, 21 of them `SET search_path`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection
from django_tenants.postgresql_backend import base as tenants_base
from django_tenants.postgresql_backend.base import *  # noqa: F403 (the backend module's names)


class DatabaseWrapper(tenants_base.DatabaseWrapper):
    """django-tenants' wrapper with `cache_search_path`: while True, the search path is
    not sent again once set (see the module docstring)."""

    cache_search_path = False

    def _handle_search_path(self, cursor=None):  # type: ignore[no-untyped-def]
        cached = self.cache_search_path and self.search_path_set_schemas and not self._setting_search_path
        if cached and list(self.search_path_set_schemas) == list(self._get_cursor_search_paths()):
            return
        super()._handle_search_path(cursor)


@contextmanager
def search_path_cached() -> Iterator[None]:
    """Within the block, the default connection sends `SET search_path` only when it
    changes (or after a rollback may have undone it). For bulk work in one gym, e.g.
    a billing run; nests."""
    before = getattr(connection, "cache_search_path", False)
    connection.cache_search_path = True  # type: ignore[attr-defined]
    try:
        yield
    finally:
        connection.cache_search_path = before  # type: ignore[attr-defined]
