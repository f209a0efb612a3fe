"""Dashboard pages of the front desk (`/check-in/`)."""

from django.urls import URLPattern

app_name = "checkins"

urlpatterns: list[URLPattern] = []
