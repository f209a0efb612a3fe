"""Dashboard pages of the plans app."""

from django.urls import path  # noqa: F401

app_name = "plans"

urlpatterns: list = []
