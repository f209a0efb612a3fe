"""ASGI entry point: HTTP through Django, websockets through Channels.

Websocket routes are added by the apps that need them (check-in and occupancy,
DESIGN.md section 4): each app's `routing.websocket_urlpatterns` is listed in
WEBSOCKET_ROUTING_MODULES and wrapped in our tenant-resolving middleware, since
django-tenants' middleware never runs for websockets (django-tenants #767).
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fitflow.settings.local")

GC_THRESHOLDS = (50_000, 50, 100)
"""gen-0 allocations, and gen-0 / gen-1 collections, between collections (CPython's
defaults are 700, 10, 10); see the end of this module."""

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.core.channels import (  # noqa: E402
    GymWebsocketMiddleware,
    allowed_hosts_origin_validator,
    websocket_urlpatterns,
)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": allowed_hosts_origin_validator(
            GymWebsocketMiddleware(AuthMiddlewareStack(URLRouter(websocket_urlpatterns())))
        ),
    }
)

# Garbage collection for the websocket process. A broadcast to N sockets makes many
# short-lived objects per socket, so CPython's default gen-0 threshold (700 allocations)
# runs the collector many times per event, and each older-generation pass walks every
# object Django loaded at start. Freezing the startup objects (gc.freeze, Python 3.7+:
# "move all objects tracked by the garbage collector into a permanent generation") and
# raising the thresholds cut the tail: bench/checkin_live.py, 1000 dashboards on one
# process, scan max 192 vs 441 ms, and 1500 sockets held at p95 <= 250 ms instead of 500.
gc.collect()
gc.freeze()
gc.set_threshold(GC_THRESHOLDS[0], GC_THRESHOLDS[1], GC_THRESHOLDS[2])
