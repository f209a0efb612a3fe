"""The real FitFlow stack for the end-to-end scenarios, started as `make run` starts it.

`make run` (fitflow/devstack.py) migrates with `manage.py migrate_gyms`, then runs
`docker/Procfile.dev` under honcho: uvicorn (HTTP and websockets), a Celery worker
and Celery beat (DatabaseScheduler). `stack_running` does the same with devstack's own
`honcho_command`, `app_env` and `wait_until_healthy`, on:

- a database of its own, `<name>_e2e<pid>`, restored from the pytest test database's
  migrated `public` and `fitflow_template` schemas (`pg_dump` of their structure and
  `django_migrations` rows: a few seconds, where migrating an empty database takes
  about two minutes); `migrate_gyms` then finds nothing to migrate, and creates the
  public site's row as it does for `make run`. Dropped at the end;
- a Redis database of its own (`E2E_REDIS_URL`, else REDIS_URL's database + 1),
  emptied at the start and the end, and cache / channel prefixes of its own;
- free ports, SMTP at the scenario's mail server and Stripe at its fake Stripe, and
  `make run`'s settings (`fitflow.settings.local`) with `DISPATCH_JITTER_MAX_SECONDS=0`.

Nothing here mocks our code: the scenario talks to the stack over HTTP, websockets,
SMTP and Stripe's webhooks, and reads its database with plain SQL for assertions.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from fitflow import devstack

ROOT = devstack.ROOT
SETTINGS_MODULE = "fitflow.settings.local"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


@dataclass
class Stack:
    """A running stack: web on 127.0.0.1:`port` (hosts `localhost` and `<slug>.localhost`),
    its database and Redis URLs, and the combined log of web, worker and beat."""

    port: int
    database_url: str
    redis_url: str
    log_path: Path
    media_root: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def public_url(self) -> str:
        """The public site, `http://localhost:<port>`."""
        return f"http://localhost:{self.port}"

    def gym_url(self, slug: str) -> str:
        """A gym's site, `http://<slug>.localhost:<port>`."""
        return f"http://{slug}.localhost:{self.port}"

    def log_text(self) -> str:
        """Everything web, worker and beat printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return "(no stack log)"

    def log_tail(self, chars: int = 20_000) -> str:
        """The end of the stack's log, for failure messages."""
        return self.log_text()[-chars:]

    def sql(self, query: str, params: Sequence[Any] = (), *, schema: str = "public") -> list[tuple[Any, ...]]:
        """Rows of `query` run on the stack's database with `search_path` = `schema`,
        public (for assertions on what the stack stored; the scenario never writes
        with it except where a step says so)."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema)))
            cursor = conn.execute(query, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []


# --- the database ------------------------------------------------------------------------------


def _url_with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _server_major(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000  # type: ignore[index]


def _pg_tool(name: str, server_major: int) -> str | None:
    """The `pg_dump` / `pg_restore` to use with a server of `server_major`: the same major
    version if there is one (Debian's, on PATH, or pgserver's), else the oldest newer one."""
    candidates = {shutil.which(name)}
    candidates |= {str(p) for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}")}
    with contextlib.suppress(ImportError):
        from pgserver._commands import POSTGRES_BIN_PATH

        candidates.add(str(POSTGRES_BIN_PATH / name))
    versions: list[tuple[int, str]] = []
    for path in filter(None, candidates):
        if not os.access(path, os.X_OK):
            continue
        out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
        match = re.search(r"(\d+)\.", out)
        if match and int(match.group(1)) >= server_major:
            versions.append((int(match.group(1)), path))
    return min(versions)[1] if versions else None


def database_create(*, source_url: str, target_url: str) -> str:
    """Create the stack's database at `target_url` (dropping a leftover one) with the
    structure of `source_url`'s migrated `public` and `fitflow_template` schemas and
    their `django_migrations` rows, so `migrate_gyms` has nothing to apply. Without a
    usable pg_dump the database is left empty, for `migrate_gyms` to migrate (slow).
    Returns how it was made ("restored" or "empty")."""
    name = urlsplit(target_url).path.lstrip("/")
    admin_url = _url_with_db(target_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    major = _server_major(source_url)
    pg_dump, pg_restore = _pg_tool("pg_dump", major), _pg_tool("pg_restore", major)
    if not pg_dump or not pg_restore:
        return "empty"
    with psycopg.connect(source_url, autocommit=True) as conn:
        extensions = [row[0] for row in conn.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")]
    with psycopg.connect(target_url, autocommit=True) as conn:
        for extension in extensions:  # `pg_dump -n` leaves extensions out
            conn.execute(sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension)))
    with tempfile.TemporaryDirectory(prefix="fitflow-e2e-dump-") as tmp:
        schema_dump, rows_dump = Path(tmp) / "schema.dump", Path(tmp) / "rows.dump"
        schemas = ["-n", "public", "-n", "fitflow_template"]
        tables = ["-t", "public.django_migrations", "-t", "fitflow_template.django_migrations"]
        for options, dump in (
            (["--schema-only", *schemas], schema_dump),
            (["--data-only", *tables], rows_dump),
        ):
            subprocess.run(
                [pg_dump, "-Fc", "--no-owner", *options, "-f", str(dump), source_url], check=True, capture_output=True
            )
        for dump in (schema_dump, rows_dump):
            # Every entry but the `public` schema itself, which a new database already has.
            listing = subprocess.run([pg_restore, "-l", str(dump)], check=True, capture_output=True, text=True).stdout
            entries = Path(tmp) / f"{dump.stem}.list"
            entries.write_text("\n".join(line for line in listing.splitlines() if " SCHEMA - public " not in line))
            restore = [pg_restore, "--no-owner", "--exit-on-error", "-L", str(entries), "-d", target_url, str(dump)]
            done = subprocess.run(restore, capture_output=True, text=True, check=False)
            if done.returncode:
                raise RuntimeError(f"pg_restore of {dump.name} failed: {done.stderr[-2000:]}")
    return "restored"


def database_drop(url: str) -> None:
    """Drop the stack's database (closing whatever still uses it)."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_url_with_db(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def stack_redis_url(test_redis_url: str) -> str:
    """`E2E_REDIS_URL`, else the test run's Redis with the next database number: the
    stack's Celery queues must not be shared with other workers."""
    if os.environ.get("E2E_REDIS_URL"):
        return os.environ["E2E_REDIS_URL"]
    parts = urlsplit(test_redis_url)
    db = int(parts.path.lstrip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(db + 1) % 16}"))


def redis_flush(url: str) -> None:
    """Empty the stack's Redis database (queues, results, cache)."""
    import redis

    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(url).flushdb()


# --- the processes ------------------------------------------------------------------------------


def _manage(args: list[str], env: dict[str, str], log: Any) -> None:
    log.write(f"$ manage.py {' '.join(args)}\n".encode())
    log.flush()
    code = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
    ).returncode
    if code:
        raise RuntimeError(f"manage.py {' '.join(args)} failed with exit code {code}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group honcho leads (honcho passes it on to web, worker and
    beat), then SIGKILL to whatever is left after `STOP_TIMEOUT_S`."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group (a worker's pool children)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def stack_running(*, source_url: str, test_redis_url: str, extra_env: dict[str, str]) -> Iterator[Stack]:
    """Start the stack (see the module docstring) with `extra_env` (SMTP, Stripe) added
    to its environment; yield it once `/health/` answers 200 (database, Redis and a
    Celery worker); stop every process and drop its database afterwards, also when
    starting fails (RuntimeError with the log's tail)."""
    source_name = urlsplit(source_url).path.lstrip("/")
    base = source_name.removeprefix("test_")
    database_url = _url_with_db(source_url, f"{base}_e2e{os.getpid()}")
    redis_url = stack_redis_url(test_redis_url)
    port = devstack.free_port()
    workdir = Path(tempfile.mkdtemp(prefix="fitflow-e2e-"))
    stack = Stack(
        port=port,
        database_url=database_url,
        redis_url=redis_url,
        log_path=workdir / "stack.log",
        media_root=workdir / "media",
    )
    stack.env = {
        **devstack.app_env(port=port, database_url=database_url, redis_url=redis_url, settings=SETTINGS_MODULE),
        **extra_env,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "CACHE_KEY_PREFIX": f"fitflow-e2e-{os.getpid()}",
        "CHANNEL_LAYER_PREFIX": f"fitflow-e2e-{os.getpid()}:ch",
        "MEDIA_ROOT": str(stack.media_root),
        "FITFLOW_BASE_DOMAIN": "localhost",
        "FITFLOW_URL_PORT": str(port),
        # beat's dispatchers queue each gym's task at once, not after a random 0-300 s
        # countdown, so "the billing hour comes" is seen within seconds
        "DISPATCH_JITTER_MAX_SECONDS": "0",
        "PYTHONPATH": str(ROOT),
    }
    try:
        redis_flush(redis_url)
        how = database_create(source_url=source_url, target_url=database_url)
        with stack.log_path.open("ab") as log:
            log.write(f"database {database_url} {how}\n".encode())
            _manage(["migrate_gyms", "-v", "0"], stack.env, log)  # as `make run`; nothing to migrate
            stack.proc = subprocess.Popen(
                devstack.honcho_command(port=port),  # web, worker and beat, as `make run`
                cwd=ROOT,
                env=stack.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
            )
        healthy, answer = devstack.wait_until_healthy(port, timeout=START_TIMEOUT_S, proc=stack.proc)
        if not healthy:
            code = stack.proc.poll()
            state = f"exited with {code}" if code is not None else f"not healthy after {START_TIMEOUT_S:.0f} s"
            raise RuntimeError(f"the stack {state} ({answer}):\n{stack.log_tail()}")
        yield stack
    finally:
        if stack.proc is not None:
            _stop(stack.proc)
        with contextlib.suppress(psycopg.Error):
            database_drop(database_url)
        redis_flush(redis_url)
        shutil.rmtree(workdir, ignore_errors=True)
