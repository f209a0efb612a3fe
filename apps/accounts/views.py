"""Account pages on gym hosts (allauth serves the rest)."""

from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .errors import HandoffInvalid
from .services import handoff_token_consume


def handoff_login_view(request: HttpRequest) -> HttpResponse:
    """`GET /accounts/welcome/?t=…`: finish a public-site signup by logging the
    owner in on their new gym's host, then open the dashboard."""
    try:
        user = handoff_token_consume(token=request.GET.get("t", ""))
    except HandoffInvalid as exc:
        return render(request, "errors/403.html", {"reason": str(exc)}, status=403)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, "Welcome to FitFlow! Your gym is ready.")
    return redirect("dashboard:home")
