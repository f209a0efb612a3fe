"""`/health/` on every host: database, Redis and Celery, via django-health-check."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from health_check.checks import Database
from health_check.contrib.celery import Ping
from health_check.contrib.redis import Redis
from health_check.views import HealthCheckView
from redis.asyncio import Redis as AsyncRedis


def _redis_client() -> AsyncRedis:
    return AsyncRedis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)


def _celery_app() -> Any:
    from fitflow.celery import app

    return app


class HealthView(HealthCheckView):
    """Answers 200 `{"status": "ok", "checks": {...}}` when every check passes,
    and 503 with the failing checks named (`"status": "fail"`) otherwise.

    Checks: `database` (SELECT 1), `redis` (PING on REDIS_URL) and `celery`
    (a worker answers a control ping within HEALTH_CELERY_TIMEOUT seconds).
    """

    names = ("database", "redis", "celery")

    def get_checks(self):  # type: ignore[override]
        yield Database()
        yield Redis(client_factory=_redis_client)
        yield Ping(app=_celery_app(), timeout=datetime.timedelta(seconds=settings.HEALTH_CELERY_TIMEOUT))

    async def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:  # type: ignore[override]
        with self.get_executor() as executor:
            results = await asyncio.gather(*(check.get_result(executor) for check in self.get_checks()))
        checks = {name: ("ok" if not r.error else str(r.error)) for name, r in zip(self.names, results, strict=True)}
        failing = [name for name, r in zip(self.names, results, strict=True) if r.error]
        body = {"status": "fail" if failing else "ok", "checks": checks, "failing": failing}
        return JsonResponse(body, status=503 if failing else 200)
