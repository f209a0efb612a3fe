"""What the Celery benches share (`bench/billing_run.py`, `bench/reminders.py`): real
worker processes, the bench's Redis database and queues, and dropping the bench gyms
and database afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.provision import log

ROOT = Path(__file__).resolve().parent.parent


def bench_redis_url(default_db: int) -> str:
    """`BENCH_REDIS_URL`, else `REDIS_URL` with database `default_db`, else a local Redis
    with that database."""
    if os.environ.get("BENCH_REDIS_URL"):
        return os.environ["BENCH_REDIS_URL"]
    if os.environ.get("REDIS_URL"):
        return urlunsplit(urlsplit(os.environ["REDIS_URL"])._replace(path=f"/{default_db}"))
    return f"redis://127.0.0.1:6379/{default_db}"


class Workers:
    """`celery -A fitflow worker` on `queues` as a subprocess named `name`: prefork with
    `n` processes, or one process with `n` threads (`pool`); prefetch 1, its log in
    `log_path`."""

    def __init__(self, n: int, pool: str, env: dict[str, str], log_path: Path, *, name: str, queues: list[str]) -> None:
        self.log = log_path.open("w")
        cmd = [sys.executable, "-m", "celery", "-A", "fitflow", "worker", "-Q", ",".join(queues)]
        cmd += ["-P", pool, "-c", str(n), "-l", "warning", "--prefetch-multiplier", "1"]
        cmd += ["-n", f"bench-{name}-{os.getpid()}@%h", "--without-gossip", "--without-mingle"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait(self, app: Any, timeout: float = 90) -> float:
        """Wait until a worker answers a ping; returns the seconds it took. Raises
        RuntimeError if the worker exits or stays silent for `timeout` seconds."""
        started = time.perf_counter()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the Celery worker exited at start; see {self.log.name}")
            if app.control.ping(timeout=0.5):
                return time.perf_counter() - started
        raise RuntimeError(f"the Celery worker did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), killed after 60 s."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()

    def problems(self) -> list[str]:
        """Up to 10 log lines with a traceback or an error."""
        text = Path(self.log.name).read_text(errors="replace")
        return [line for line in text.splitlines() if "Traceback" in line or "ERROR" in line][:10]


def queues_clear(redis_url: str, queues: list[str]) -> None:
    """Empty the bench's queues and drop the task results left in its Redis database."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete(*queues)
    results = list(client.scan_iter("celery-task-meta-*", count=1000))
    if results:
        client.delete(*results)


def gyms_drop(prefix: str) -> int:
    """Drop the bench gyms (slug starting with `prefix`) a kept database still has:
    schemas, domains, rows. Returns how many."""
    from django.db import connection

    from apps.tenants.models import Domain, Gym

    gyms = list(Gym.objects.filter(slug__startswith=prefix))
    with connection.cursor() as cursor:
        for gym in gyms:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{gym.schema_name}" CASCADE')
    Domain.objects.filter(tenant__in=gyms).delete()
    Gym.objects.filter(pk__in=[g.pk for g in gyms]).delete()
    return len(gyms)


def database_drop(url: str) -> None:
    """Drop the bench database at `url` (only a database whose name contains "bench")."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        return
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    log(f"database {name} dropped")


def celery_bench_arguments(parser: Any, *, per_gym: str, per_gym_default: int, profiled: str) -> None:
    """The options both Celery benches take: `--gyms`, `--<per_gym>` (rows per gym),
    `--workers`, `--pool`, `--profile` (and `--profile-<per_gym>`, `--cprofile N`),
    `--keep` and `--quick`."""
    parser.add_argument("--gyms", type=int, default=20, help="gyms (20)")
    parser.add_argument(
        f"--{per_gym}", type=int, default=per_gym_default, help=f"{per_gym} per gym ({per_gym_default})"
    )
    parser.add_argument("--workers", type=int, default=4, help="worker processes, or threads with --pool threads (4)")
    parser.add_argument("--pool", choices=["prefork", "threads"], default="prefork", help="Celery pool (prefork)")
    parser.add_argument("--profile", action="store_true", help=f"then profile one gym's {profiled} in this process")
    parser.add_argument(f"--profile-{per_gym}", type=int, help=f"{per_gym} of the profiled gym")
    parser.add_argument(
        "--cprofile", type=int, default=0, metavar="N", help="with --profile: print cProfile's top N functions"
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: 5 gyms x 200 {per_gym}, 2 workers")


def celery_bench_env(*, db_url: str, redis_url: str, settings_module: str, name: str) -> dict[str, str]:
    """The environment of a Celery bench's own process and workers: its database and
    Redis (broker and results), DEBUG off and a cache prefix of its own, so dev and
    test data are never touched."""
    return {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DJANGO_DEBUG": "0",
        "CACHE_KEY_PREFIX": f"fitflow-bench-{name}",
    }


def celery_bench_start(db_url: str, *, keep: bool, env: dict[str, str]) -> Any:
    """Make the bench database ready (recreated unless `keep`, then `migrate_gyms`),
    set Django up in this process and return the Celery app."""
    import warnings

    import django

    from bench.provision import database_migrate, database_recreate

    database_recreate(db_url, keep=keep)
    elapsed = database_migrate(env)
    log(f"migrated (public + template) {elapsed:.1f}s")
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
    django.setup()
    from fitflow.celery import app

    return app
