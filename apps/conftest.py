"""Test setup for a multi-tenant app (DESIGN.md section 9).

The test database gets, once per session (and reused with --reuse-db): the
public tenant with hosts `testserver` and `localhost`, the migrated template
schema, and two gyms, A (`gym-a.localhost`) and B (`gym-b.localhost`). Tests
never create schemas through factories; per-test rows roll back with `db`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django_tenants.utils import tenant_context

from apps.accounts.models import User
from apps.accounts.tests.factories import UserFactory
from apps.staff.roles import Role
from apps.staff.tests.factories import StaffRoleFactory
from apps.tenants.models import Gym
from apps.tenants.services import gym_provision, public_gym_ensure

GYM_A_SLUG = "gym-a"
GYM_B_SLUG = "gym-b"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Public tenant, template schema and gyms A and B, created once per session."""
    with django_db_blocker.unblock():
        # pytest-django only swaps in the test database when a selected test uses it;
        # never provision test gyms into a development database.
        assert connection.settings_dict["NAME"].startswith("test_"), "refusing to set up tests outside test_*"
        public_gym_ensure(domains=["testserver", "localhost"])
        call_command("migrate_gyms", executor="standard", verbosity=0)
        for slug, name in ((GYM_A_SLUG, "Gym A"), (GYM_B_SLUG, "Gym B")):
            gym = Gym.objects.filter(slug=slug).first()
            if gym is None:
                gym_provision(name=name, slug=slug, timezone="Europe/London", currency="GBP", status=Gym.Status.ACTIVE)
            elif gym.status != Gym.Status.ACTIVE:
                Gym.objects.filter(pk=gym.pk).update(status=Gym.Status.ACTIVE)
        connection.set_schema_to_public()  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _clean_test_cache() -> Iterator[None]:
    """Throttle and rate-limit counters live in Redis; each test starts without them."""
    _delete_test_keys()
    yield
    _delete_test_keys()


def _delete_test_keys() -> None:
    from django.conf import settings

    client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    keys = list(client.scan_iter(f"{prefix}:*", count=1000)) + list(client.scan_iter(f"*:{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def _public_schema_after_test() -> Iterator[None]:
    """Requests leave the connection on the last gym's schema; reset it between tests."""
    yield
    connection.set_schema_to_public()  # type: ignore[attr-defined]


@pytest.fixture
def gym_a(db) -> Gym:
    return Gym.objects.get(slug=GYM_A_SLUG)


@pytest.fixture
def gym_b(db) -> Gym:
    return Gym.objects.get(slug=GYM_B_SLUG)


def host_of(gym: Gym) -> str:
    """The gym's host name, e.g. `gym-a.localhost`."""
    return gym.domains.get(is_primary=True).domain


@pytest.fixture
def client_a(gym_a: Gym) -> Client:
    """A test client whose requests go to gym A's host."""
    return Client(HTTP_HOST=host_of(gym_a))


@pytest.fixture
def client_b(gym_b: Gym) -> Client:
    """A test client whose requests go to gym B's host."""
    return Client(HTTP_HOST=host_of(gym_b))


@pytest.fixture
def public_client(db) -> Client:
    """A test client on the public host (`localhost`)."""
    return Client(HTTP_HOST="localhost")


@pytest.fixture
def make_staff(db) -> Callable[..., User]:
    """`make_staff(gym, role)` -> a new user holding `role` at `gym` (and nowhere else)."""

    def make(gym: Gym, role: Role = Role.OWNER, **user_fields: object) -> User:
        user = UserFactory(**user_fields)
        with tenant_context(gym):
            StaffRoleFactory(user=user, role=role)
        return user

    return make


def subprocess_database_url() -> str:
    """A DATABASE_URL for the test database, for processes the tests start.

    A unix-socket host (the embedded server) goes in `?host=`, the form both
    libpq and django-environ read.
    """
    from urllib.parse import quote

    s = connection.settings_dict
    user = quote(s.get("USER") or "postgres", safe="")
    password = f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else ""
    host = s.get("HOST") or ""
    port = f":{s['PORT']}" if s.get("PORT") else ""
    if host.startswith("/"):
        return f"postgres://{user}{password}@{port}/{s['NAME']}?host={quote(host, safe='')}"
    return f"postgres://{user}{password}@{host}{port}/{s['NAME']}"


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate a server the tests started; kill it if it does not stop in `timeout` s."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def start_celery_worker(*, queues: str = "celery,documents") -> tuple[subprocess.Popen, str]:
    """Start a real `celery worker` subprocess (solo pool) on the test database, the real
    Redis broker and this process's fake Stripe server; wait until it answers a ping.
    Returns (process, hostname). Call with the database unblocked. The caller stops it
    (`stop_process`) or kills it (a test of a worker dying mid-task)."""
    import os
    import sys
    import time
    import uuid

    from django.conf import settings

    from apps.invoices.tests.fake_stripe import STRIPE_SECRET_KEY, shared_fake_stripe
    from fitflow.celery import app

    database_url = subprocess_database_url()
    name = f"test-{uuid.uuid4().hex[:8]}@%h"
    env = dict(
        os.environ,
        # Card charges made by the worker go to this process's fake Stripe server.
        STRIPE_API_BASE=shared_fake_stripe().url,
        STRIPE_SECRET_KEY=STRIPE_SECRET_KEY,
        DATABASE_URL=database_url,
        REDIS_URL=settings.REDIS_URL,
        DJANGO_SETTINGS_MODULE="fitflow.settings.test",
        # The worker's websocket broadcasts (e.g. the automatic check-out) reach this
        # test process's sockets only with the same group prefix.
        CHANNEL_LAYER_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "fitflow",
            "worker",
            "--pool=solo",
            "-Q",
            queues,
            "-n",
            name,
            "-l",
            "warning",
        ],
        env=env,
        cwd=str(settings.BASE_DIR),
    )
    hostname = name.replace("%h", __import__("socket").gethostname())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(hostname in reply for reply in app.control.ping(timeout=0.5) or []):
            return proc, hostname
        if proc.poll() is not None:
            raise RuntimeError("the test Celery worker exited at start")
    stop_process(proc)
    raise RuntimeError("the test Celery worker did not answer a ping within 60 s")


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker) -> Iterator[None]:
    """A real `celery worker` process on the test database and the real Redis broker.

    A subprocess rather than celery's in-thread test worker: Celery's Django fixup
    closes the process's DB connections when a worker starts, which would cut the
    test's own transaction.
    """
    with django_db_blocker.unblock():
        proc, _ = start_celery_worker()
    try:
        yield
    finally:
        stop_process(proc, timeout=20)
