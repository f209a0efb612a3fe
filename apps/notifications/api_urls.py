"""`/api/v1/` routes of the notifications app (being built for issue 7)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
