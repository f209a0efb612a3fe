"""Dashboard pages of the classes app."""

from django.urls import path  # noqa: F401

app_name = "classes"

urlpatterns: list = []
