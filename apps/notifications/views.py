"""(being built for issue 7)"""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
