"""`/api/v1/` routes of the front desk: check-ins, check-out, occupancy and the member's QR."""

from django.urls import path

from . import apis

urlpatterns = [
    path("check-ins/", apis.CheckInListApi.as_view(), name="checkin-list"),
    path("check-ins/<int:pk>/check-out/", apis.CheckInCheckOutApi.as_view(), name="checkin-check-out"),
    path("occupancy/", apis.OccupancyApi.as_view(), name="occupancy"),
    path("me/qr/", apis.MeQrApi.as_view(), name="me-qr"),
]
