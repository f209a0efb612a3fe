"""Settings for `make test`: real PostgreSQL and Redis, fast password hashing."""

import os

from .base import *
from .base import CACHES, CHANNEL_LAYERS, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Keep test keys apart from a `make run` and from other test runs on the same Redis:
# each test process has its own prefix, and clears only its own keys between tests.
CACHES["default"]["KEY_PREFIX"] = env("CACHE_KEY_PREFIX", default=f"fitflow-test-{os.getpid()}")
# The same for websocket groups (pub/sub channel names ignore the Redis DB number);
# servers started by tests are given this prefix so they hear the test's broadcasts.
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = env("CHANNEL_LAYER_PREFIX", default=f"fitflow-test-{os.getpid()}:ch")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CSRF_TRUSTED_ORIGINS = ["http://localhost", "http://*.localhost"]
