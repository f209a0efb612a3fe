"""Settings for `make run` on a developer's machine."""

from .base import *
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
CSRF_TRUSTED_ORIGINS = env.list(
    "DJANGO_CSRF_TRUSTED_ORIGINS", default=["http://localhost:8000", "http://*.localhost:8000"]
)
