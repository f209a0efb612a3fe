"""`require_gym_role`: the one role check used by pages, the gym admin, the API and consumers.

A global user may be logged in anywhere, but may only act at a gym where that
gym's schema gives them a role (django-tenant-users #485: without this check a
global user could enter any tenant).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.permissions import BasePermission

from apps.accounts.models import User

from .errors import GymAccessDenied
from .roles import Role
from .selectors import gym_role_for_user


def check_gym_role(*, user: User | AnonymousUser, minimum: Role) -> Role:
    """Return the user's role at the current gym if it is `minimum` or higher.

    Raises `GymAccessDenied` with code `not_authenticated`, `no_gym_access`
    (no role here) or `role_too_low`. Must run inside the gym's schema.
    """
    if not user.is_authenticated:
        raise GymAccessDenied("not_authenticated", "Log in to continue.")
    role = gym_role_for_user(user=user)
    if role is None:
        raise GymAccessDenied("no_gym_access", "Your account has no access to this gym.")
    if not role.at_least(minimum):
        raise GymAccessDenied("role_too_low", f"This needs the {minimum.label.lower()} role or higher.")
    return role


def request_gym_role(request: HttpRequest, *, minimum: Role) -> Role:
    """`check_gym_role` for a request, remembering the role on `request.gym_role`."""
    role = getattr(request, "gym_role", None)
    if role is None:
        role = check_gym_role(user=request.user, minimum=Role.MEMBER)
        request.gym_role = role  # type: ignore[attr-defined]
    if not role.at_least(minimum):
        raise GymAccessDenied("role_too_low", f"This needs the {minimum.label.lower()} role or higher.")
    return role


def require_gym_role(minimum: Role) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Decorator for page views: anonymous -> login page, wrong gym or low role -> 403 page."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            try:
                request_gym_role(request, minimum=minimum)
            except GymAccessDenied as exc:
                return render(request, "errors/403.html", {"reason": exc.message, "code": exc.code}, status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class GymRolePermission(BasePermission):
    """DRF permission: the view's `minimum_role` (default member) at this gym.

    Denials surface as 403 `{"error": {"code": "no_gym_access" | "role_too_low"}}`.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        minimum = getattr(view, "minimum_role", Role.MEMBER)
        try:
            request_gym_role(request, minimum=minimum)
        except GymAccessDenied as exc:
            if exc.code == "not_authenticated":
                return False
            self.message = exc.message
            self.code = exc.code
            return False
        return True
