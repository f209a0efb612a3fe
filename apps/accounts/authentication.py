"""JWT authentication that is only valid on the gym the token was issued for."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication

from apps.tenants.selectors import current_schema_name

from .tokens import token_gym


class WrongGymToken(exceptions.AuthenticationFailed):
    default_detail = "This token was issued for another gym."
    default_code = "token_wrong_gym"


class GymJWTAuthentication(JWTAuthentication):
    """Bearer tokens from `POST /api/v1/auth/login/`, refused (401 `token_wrong_gym`)
    when their `gym` claim is not the schema of the host being called."""

    def get_validated_token(self, raw_token: bytes) -> Any:
        token = super().get_validated_token(raw_token)
        if token_gym(token) != current_schema_name():
            raise WrongGymToken()
        return token
