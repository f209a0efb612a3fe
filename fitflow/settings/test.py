"""Settings for `make test`: real PostgreSQL and Redis, fast password hashing."""

from .base import *
from .base import CACHES, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Keep test keys apart from a `make run` on the same Redis.
CACHES["default"]["KEY_PREFIX"] = env("CACHE_KEY_PREFIX", default="fitflow-test")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CSRF_TRUSTED_ORIGINS = ["http://localhost", "http://*.localhost"]
