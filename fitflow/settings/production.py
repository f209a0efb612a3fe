"""Production settings: identical to base, hardened defaults; everything else comes from the environment."""

from .base import *
from .base import env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
# The salt of the key that encrypts gyms' messaging credentials: required, never the dev default.
SALT_KEY = env.list("SALT_KEY")
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0)
FITFLOW_URL_SCHEME = env("FITFLOW_URL_SCHEME", default="https")
