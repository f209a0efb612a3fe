"""Fixtures of the check-in tests: a real ASGI server for real websocket clients, and
the connection guard the in-process websocket tests need."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.core.tests.servers import LiveServer, asgi_server_running


@pytest.fixture(scope="module")
def asgi_server(django_db_setup, django_db_blocker) -> Iterator[LiveServer]:
    """`uvicorn fitflow.asgi:application` in a subprocess (as docker/compose.yaml's `ws`
    service runs it) on the test database and this
    run's Redis (cache, and the channel layer the test process broadcasts on). The rows
    it reads must be committed; it sees nothing inside a test's transaction."""
    with asgi_server_running(django_db_blocker) as server:
        yield server


@pytest.fixture
def keep_test_connection(monkeypatch) -> None:
    """Channels closes "old" connections around each DB call; inside a test's
    transaction that would close the test's own connection (see
    apps/core/tests/test_websocket_tenancy.py)."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
