"""Dashboard pages of the invoices app (under /billing/)."""

from django.urls import URLPattern

app_name = "invoices"

urlpatterns: list[URLPattern] = []
