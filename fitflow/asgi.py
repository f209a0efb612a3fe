"""ASGI entry point: HTTP through Django, websockets through Channels.

Websocket routes are added by the apps that need them (check-in and occupancy,
DESIGN.md section 4): each app's `routing.websocket_urlpatterns` is listed in
WEBSOCKET_ROUTING_MODULES and wrapped in our tenant-resolving middleware, since
django-tenants' middleware never runs for websockets (django-tenants #767).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fitflow.settings.local")

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
