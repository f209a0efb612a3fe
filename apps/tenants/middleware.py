"""Host -> gym routing, with friendly answers for unknown hosts and suspended gyms."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django_tenants.middleware.main import TenantMainMiddleware

from apps.core.api_errors import error_body

from .models import Gym

GYM_SUSPENDED = "gym_suspended"


class GymTenantMiddleware(TenantMainMiddleware):
    """django-tenants' host routing, first in MIDDLEWARE.

    - An unknown host gets our 404 page (JSON under /api/).
    - A suspended gym gets a "this gym is suspended" page, and 403
      `{"error": {"code": "gym_suspended"}}` under /api/. /health/ still answers.
    """

    def no_tenant_found(self, request: HttpRequest, hostname: str) -> HttpResponse:  # type: ignore[override]
        if request.path.startswith("/api/"):
            return JsonResponse(error_body("unknown_gym", f"No gym is served at {hostname}."), status=404)
        return render(
            request,
            "errors/unknown_gym.html",
            {"hostname": hostname, "base_domain": settings.FITFLOW_BASE_DOMAIN},
            status=404,
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:  # type: ignore[override]
        response = self.process_request(request)
        if response is not None:
            return response
        gym: Gym = request.tenant  # type: ignore[attr-defined]
        if gym.is_suspended and not request.path.startswith("/health/"):
            if request.path.startswith("/api/"):
                return JsonResponse(error_body(GYM_SUSPENDED, "This gym is suspended."), status=403)
            return render(request, "errors/gym_suspended.html", {"gym": gym}, status=403)
        return self.get_response(request)


class GymTimezoneMiddleware:
    """Activates the gym's timezone for the request, so times render in gym local time."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        gym = getattr(request, "tenant", None)
        if gym is not None and not gym.is_public:
            try:
                timezone.activate(zoneinfo.ZoneInfo(gym.timezone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)
