"""Fixtures of the end-to-end scenarios (`pytest -m e2e`, `make test-e2e`): the real
stack (`stack.py`), a real SMTP server (`mailbox.py`), the fake Stripe delivering
signed webhooks (`stripe_webhooks.py`) and headless Debian Chromium through Playwright.

The pytest test database (built by the apps' session setup, reused with --reuse-db) is
only the source of the migrated schemas the stack's own database is restored from;
the scenario never touches it otherwise.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from apps.conftest import django_db_setup, subprocess_database_url  # noqa: F401 - the session database setup
from apps.invoices.tests.fake_stripe import STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET

from .mailbox import Mailbox
from .stack import Stack, stack_running
from .stripe_webhooks import DeliveringFakeStripe

CHROMIUM = "/usr/bin/chromium"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    """Remember each phase's report on the test item, so fixtures can tell a failure."""
    outcome: Any = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session", autouse=True)
def localhost_subdomains_resolve() -> Iterator[None]:
    """`<gym>.localhost` resolves to the loopback address in this process too, as in
    browsers (RFC 6761 reserves `.localhost` for it; glibc only knows `localhost`), so
    httpx and websockets reach the stack under the gyms' own host names."""
    original = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return original(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = original  # type: ignore[assignment]


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    """The SMTP server the stack sends through."""
    box = Mailbox().start()
    try:
        yield box
    finally:
        box.stop()


@pytest.fixture(scope="session")
def stripe() -> Iterator[DeliveringFakeStripe]:
    """The fake Stripe the stack calls, delivering its events to the stack as webhooks."""
    fake = DeliveringFakeStripe()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def stack(
    django_db_setup: None,  # noqa: F811
    django_db_blocker: Any,
    mailbox: Mailbox,
    stripe: DeliveringFakeStripe,
) -> Iterator[Stack]:
    """Web, worker and beat as `make run` starts them, on a database and Redis of their
    own (see `stack.py`); stopped, and the database dropped, after the session."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    with django_db_blocker.unblock():
        source_url = subprocess_database_url()
        from django.db import connections

        connections.close_all()
    extra_env = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(mailbox.port),
        "DEFAULT_FROM_EMAIL": "FitFlow <no-reply@fitflow.localhost>",
        "STRIPE_API_BASE": stripe.url,
        "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "STRIPE_CONNECT_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
    }
    with stack_running(source_url=source_url, test_redis_url=settings.REDIS_URL, extra_env=extra_env) as running:
        stripe.webhook_base = running.public_url
        yield running
        stripe.webhook_base = None


@pytest.fixture
def stack_log_on_failure(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Stack]:
    """The stack; when the test fails, the end of web's, worker's and beat's log is printed."""
    yield stack
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(f"\n----- stack log (web, worker, beat), last part -----\n{stack.log_tail(40_000)}")
