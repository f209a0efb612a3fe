"""`/api/v1/` routes of the front desk: check-ins, check-out, occupancy and the member's QR."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
