"""A real ASGI server for the tests that need one (browser tests, real websocket
clients): `uvicorn fitflow.asgi:application` in a subprocess on the test database and
this run's Redis, with the test process's cache and channel-group prefixes so both
sides share keys and broadcasts. The rows it reads must be committed."""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.conftest import stop_process, subprocess_database_url

SERVER_START_TIMEOUT_S = 60


@dataclass(frozen=True)
class LiveServer:
    """A running server on 127.0.0.1:`port`; its output goes to `log_path`."""

    port: int
    log_path: Path

    @property
    def public_url(self) -> str:
        """The public site, `http://localhost:<port>`."""
        return f"http://localhost:{self.port}"

    def gym_url(self, slug: str) -> str:
        """A gym's site, `http://<slug>.localhost:<port>`."""
        return f"http://{slug}.localhost:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
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


@contextlib.contextmanager
def asgi_server_running(django_db_blocker: Any) -> Iterator[LiveServer]:
    """Start the server, wait until `/health/` answers (RuntimeError with the log tail
    if it exits or takes over 60 s), yield it, and stop it afterwards."""
    with django_db_blocker.unblock():
        database_url = subprocess_database_url()
    port = free_port()
    log_dir = Path(tempfile.mkdtemp(prefix="fitflow-asgi-"))
    log_path = log_dir / "server.log"
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="fitflow.settings.test",
        DATABASE_URL=database_url,
        REDIS_URL=settings.REDIS_URL,
        # The test process's namespaces: the autouse cache cleanup also clears the
        # server's keys, and the server's sockets hear the test process's broadcasts.
        CACHE_KEY_PREFIX=settings.CACHES["default"]["KEY_PREFIX"],
        CHANNEL_LAYER_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        PYTHONUNBUFFERED="1",
    )
    command = [sys.executable, "-m", "uvicorn", "fitflow.asgi:application", "--host", "127.0.0.1"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--port", str(port), "--lifespan", "off"],
            env=env,
            cwd=str(settings.BASE_DIR),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(port=port, log_path=log_path)
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
        shutil.rmtree(log_dir, ignore_errors=True)
