"""Fixtures of the check-in tests: a real ASGI server for real websocket clients, and
the connection guard the in-process websocket tests need."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings

from apps.conftest import stop_process, subprocess_database_url

SERVER_START_TIMEOUT_S = 60


@dataclass(frozen=True)
class AsgiServer:
    """A running `uvicorn fitflow.asgi:application` on 127.0.0.1:`port`."""

    port: int
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int) -> bool:
    """True once `/health/` answers at all (200, or 503 when no Celery worker runs)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/health/", headers={"Host": f"localhost:{port}"})
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


@pytest.fixture(scope="module")
def asgi_server(django_db_setup, django_db_blocker) -> Iterator[AsgiServer]:
    """`uvicorn fitflow.asgi:application` in a subprocess (as docker/compose.yaml's `ws`
    service runs it) on the test database and this
    run's Redis (cache, and the channel layer the test process broadcasts on). The rows
    it reads must be committed; it sees nothing inside a test's transaction."""
    with django_db_blocker.unblock():
        database_url = subprocess_database_url()
    port = _free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="fitflow-asgi-"))
    log_path = log_dir / "server.log"
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="fitflow.settings.test",
        DATABASE_URL=database_url,
        REDIS_URL=settings.REDIS_URL,
        CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
        CHANNEL_LAYER_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        PYTHONUNBUFFERED="1",
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "fitflow.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--lifespan",
                "off",
            ],
            env=env,
            cwd=str(settings.BASE_DIR),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = AsgiServer(port=port, log_path=log_path)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not _answers(port):
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited at start (code {proc.returncode}):\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not answer within {SERVER_START_TIMEOUT_S} s:\n{server.log_tail()}")
            time.sleep(0.25)
        yield server
    finally:
        stop_process(proc)
        log_path.unlink(missing_ok=True)
        log_dir.rmdir()


@pytest.fixture
def keep_test_connection(monkeypatch) -> None:
    """Channels closes "old" connections around each DB call; inside a test's
    transaction that would close the test's own connection (see
    apps/core/tests/test_websocket_tenancy.py)."""
    monkeypatch.setattr("channels.db.close_old_connections", lambda: None)
