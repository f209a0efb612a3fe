"""WSGI entry point (gunicorn in production serves plain HTTP; see README)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fitflow.settings.local")

application = get_wsgi_application()
