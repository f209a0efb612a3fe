"""Websocket routes of the front desk; fitflow/asgi.py serves them (WEBSOCKET_ROUTING_MODULES)."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/occupancy/", consumers.OccupancyConsumer.as_asgi()),
    path("ws/check-ins/", consumers.CheckInFeedConsumer.as_asgi()),
]
