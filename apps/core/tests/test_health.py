"""`/health/`: 200 when database, Redis and a Celery worker answer; 503 naming the failure."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from celery import Celery
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("host", ["localhost", "gym-a.localhost"])
def test_health_ok_on_any_host_when_everything_answers(celery_worker_process, host: str, settings) -> None:
    settings.HEALTH_CELERY_TIMEOUT = 3.0
    response = Client(HTTP_HOST=host).get("/health/")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "celery": "ok"},
        "failing": [],
    }


def test_health_is_503_naming_redis_when_redis_is_unreachable(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = Client(HTTP_HOST="gym-a.localhost").get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert "redis" in body["failing"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] != "ok"


def test_health_is_503_naming_celery_when_no_worker_answers(settings, monkeypatch) -> None:
    # A broker (a Redis database of its own) where no worker listens.
    lonely = Celery("lonely", broker=urlsplit(settings.REDIS_URL)._replace(path="/14").geturl())
    monkeypatch.setattr("apps.core.health._celery_app", lambda: lonely)
    settings.HEALTH_CELERY_TIMEOUT = 0.3

    response = Client(HTTP_HOST="localhost").get("/health/")

    assert response.status_code == 503
    assert response.json()["failing"] == ["celery"]
    assert response.json()["checks"]["celery"] != "ok"
