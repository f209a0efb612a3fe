"""The Celery app. It is tenant-schemas-celery's app, so the schema a task was queued
from travels in its headers and the task body runs inside that gym's schema
(tenant-schemas-celery #132: a plain Celery app runs everything in public)."""

import os

from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fitflow.settings.local")

app = CeleryApp("fitflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
