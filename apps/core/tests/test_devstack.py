"""fitflow/devstack.py's pieces that the end-to-end stack, the tour and the benches reuse:
the web / worker / beat commands read from docker/Procfile.dev, their environment, and
telling an empty database (which gets the fast first migrate) from a migrated one.

The fast first migrate itself needs an empty database and about a minute: bench/first_run.py
runs it from a fresh clone (its end state was checked against `migrate_gyms`: same
`pg_dump --schema-only`, migrations, content types and permissions)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from psycopg import sql

from fitflow import devstack


def test_app_processes_are_the_procfiles_web_worker_and_beat() -> None:
    # given the Procfile make run hands to honcho
    # when its processes are read for port 8123
    processes = {p.name: p for p in devstack.app_processes(port=8123, python="/venv/bin/python")}

    # then web, worker and beat come back as argv lists run with this python, $PORT filled in
    assert set(processes) == {"web", "worker", "beat"}
    web = processes["web"]
    assert web.argv[:3] == ["/venv/bin/python", "-m", "uvicorn"]
    assert web.argv[web.argv.index("--port") + 1] == "8123"
    assert web.env == {"CONN_MAX_AGE": "0"}  # the Procfile's variable, not part of argv
    assert processes["worker"].argv[:5] == ["/venv/bin/python", "-m", "celery", "-A", "fitflow"]
    assert "worker" in processes["worker"].argv
    assert "beat" in processes["beat"].argv
    assert all("$PORT" not in " ".join(p.argv) for p in processes.values())


def test_honcho_command_runs_the_procfile_on_the_port() -> None:
    command = devstack.honcho_command(port=8123, python="/venv/bin/python")

    assert command[:3] == ["/venv/bin/python", "-m", "honcho"]
    assert str(devstack.PROCFILE) in command
    assert command[-3:] == ["start", "-p", "8123"]


def test_app_env_points_the_processes_at_the_servers() -> None:
    env = devstack.app_env(port=8123, database_url="postgres://db/x", redis_url="redis://r/3")

    assert env["DATABASE_URL"] == "postgres://db/x"
    assert env["REDIS_URL"] == "redis://r/3"
    assert env["PORT"] == "8123"
    assert env["DJANGO_SETTINGS_MODULE"] == "fitflow.settings.local"
    assert env["PATH"].split(os.pathsep)[0].endswith("bin")  # this venv's uvicorn and celery first


def test_free_port_can_be_bound() -> None:
    import socket

    port = devstack.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.fixture
def scratch_database_url() -> Iterator[str]:
    """An empty database of its own on DATABASE_URL's server (not pytest-django's), dropped after."""
    server = os.environ["DATABASE_URL"]
    name = f"test_devstack_empty_{os.getpid()}"
    with devstack.pg_connect(server, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    with devstack.pg_connect(server, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_database_is_empty_until_django_migrations_exists(scratch_database_url: str) -> None:
    # given a database nothing has migrated
    assert devstack.database_is_empty(scratch_database_url)

    # when Django's migration table appears (the first migrate creates it)
    with devstack.pg_connect(scratch_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.django_migrations (id serial PRIMARY KEY)")

    # then it is a migrated database: `run` gives it plain migrate_gyms
    assert not devstack.database_is_empty(scratch_database_url)


def test_migrate_step_refuses_an_unknown_step() -> None:
    with pytest.raises(SystemExit, match="unknown migrate-step"):
        devstack.cmd_migrate_step("everything")
