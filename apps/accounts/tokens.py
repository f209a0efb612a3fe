"""API tokens (simplejwt): short-lived access tokens and rotating refresh tokens,
each carrying the gym (schema) it was issued for."""

from __future__ import annotations

from typing import Any

from rest_framework_simplejwt.tokens import RefreshToken

from apps.accounts.models import User
from apps.tenants.selectors import current_schema_name

GYM_CLAIM = "gym"


def gym_refresh_token_for(*, user: User) -> RefreshToken:
    """A refresh token (and its access token) bound to the gym whose schema is active.

    Lifetimes come from SIMPLE_JWT (access 15 min, refresh 14 days by default).
    Both tokens carry `gym` = the schema name; `GymJWTAuthentication` refuses a
    token on any other gym host.
    """
    refresh = RefreshToken.for_user(user)
    refresh[GYM_CLAIM] = current_schema_name()
    return refresh


def token_gym(token: Any) -> str | None:
    """The schema a token was issued for, or None for a token without one."""
    return token.get(GYM_CLAIM)
