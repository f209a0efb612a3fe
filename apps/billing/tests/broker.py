"""Reading the real Celery broker (Redis) in tests: which Stripe events the webhook router
queued, for which gym schema. Messages are Celery protocol 2 in the default queue."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, cast

import redis
from django.conf import settings

STRIPE_EVENT_TASK = "apps.invoices.tasks.stripe_event_apply_task"
QUEUE = "celery"


@dataclass(frozen=True)
class QueuedEvent:
    """One queued `stripe_event_apply_task`: the schema header and the event argument."""

    schema_name: str
    event: dict[str, Any]
    raw: bytes


class Broker:
    """The Redis broker the app publishes to (`CELERY_BROKER_URL`). While a test looks at
    the queue, running workers (a test session's `celery_worker_process`) stop consuming it
    (Celery's remote control), so messages stay where the test can read them."""

    def __init__(self) -> None:
        self.client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
        self._seen: list[bytes] = []
        self._paused: list[str] = []

    def pause_workers(self) -> None:
        """Running workers stop taking messages from the queue (answered before returning)."""
        from fitflow.celery import app

        workers = [name for reply in app.control.ping(timeout=0.5) or [] for name in reply]
        if workers:
            app.control.cancel_consumer(QUEUE, destination=workers, reply=True, timeout=5)
        self._paused = workers

    def resume_workers(self) -> None:
        """Workers paused by `pause_workers` consume the queue again."""
        from fitflow.celery import app

        if self._paused:
            app.control.add_consumer(QUEUE, destination=self._paused, reply=True, timeout=5)
        self._paused = []

    def stripe_events(self, event_id: str | None = None) -> list[QueuedEvent]:
        """Queued Stripe event tasks (optionally only for `event_id`), oldest first."""
        found = []
        for raw in reversed(cast(list[bytes], self.client.lrange(QUEUE, 0, -1))):  # LPUSH: newest first
            message = json.loads(raw)
            headers = message.get("headers") or {}
            if headers.get("task") != STRIPE_EVENT_TASK:
                continue
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            if event_id is None or args[0].get("id") == event_id:
                found.append(QueuedEvent(headers.get("_schema_name", ""), args[0], raw))
                self._seen.append(raw)
        return found

    def remove_seen(self) -> None:
        """Take the messages this test looked at off the queue (no worker will run them)."""
        for raw in self._seen:
            self.client.lrem(QUEUE, 0, raw.decode())
        self._seen.clear()
