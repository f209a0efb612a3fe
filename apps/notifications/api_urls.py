"""`/api/v1/` routes of the notifications app: the member's in-app notifications,
channel preferences and push devices."""

from django.urls import path

from . import apis

urlpatterns = [
    path("notifications/", apis.NotificationListApi.as_view(), name="notification-list"),
    path("notifications/<int:pk>/read/", apis.NotificationReadApi.as_view(), name="notification-read"),
    path("me/preferences/", apis.MePreferencesApi.as_view(), name="me-preferences"),
    path("devices/", apis.DeviceRegisterApi.as_view(), name="device-register"),
    path("devices/<str:token>/", apis.DeviceRemoveApi.as_view(), name="device-remove"),
]
