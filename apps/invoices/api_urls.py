"""`/api/v1/` routes of the invoices app."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
