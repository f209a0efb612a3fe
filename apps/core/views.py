"""Error pages (HTML for people, JSON under /api/) and the health endpoint."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.static import serve

from apps.tenants.selectors import current_schema_name

from .api_errors import is_api_request, json_error_response


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: a friendly page, or the JSON error envelope under /api/."""
    if is_api_request(request):
        return json_error_response(request, 404, "not_found", "No such endpoint or object.")
    return render(request, "errors/404.html", status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403."""
    if is_api_request(request):
        return json_error_response(request, 403, "permission_denied", "You may not do this.")
    return render(request, "errors/403.html", {"reason": str(exception or "")}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: never leaks a traceback; JSON under /api/."""
    if is_api_request(request):
        return json_error_response(request, 500, "server_error", "Something went wrong on our side.")
    return render(request, "errors/500.html", status=500)


def csrf_failure(request: HttpRequest, reason: str = "", **kwargs: Any) -> HttpResponse:
    """CSRF_FAILURE_VIEW: tells the person to reload the form rather than a bare 403."""
    return render(
        request, "errors/403.html", {"reason": "Your form expired. Reload the page and try again."}, status=403
    )


def gym_media_view(request: HttpRequest, path: str) -> HttpResponseBase:
    """Serve an uploaded file from filesystem storage, only from the current
    gym's own folder (`<schema>/…`); anything else is 404 (django-tenants #249).
    Production uses S3 with signed URLs instead."""
    if not path.startswith(f"{current_schema_name()}/") or ".." in path.split("/"):
        raise Http404("No such file.")
    return serve(request, path, document_root=str(settings.MEDIA_ROOT))
