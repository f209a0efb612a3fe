"""The API's authentication endpoints and `me/`, under each gym's `/api/v1/`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from apps.core.api_errors import error_body
from apps.invoices.apis import member_billing_summary
from apps.invoices.serializers import MemberBillingSerializer
from apps.members.selectors import member_for_user
from apps.memberships.apis import MembershipSerializer
from apps.memberships.selectors import membership_current_for
from apps.staff.access import GymRolePermission, check_gym_role
from apps.staff.errors import GymAccessDenied
from apps.staff.roles import Role
from apps.tenants.selectors import current_schema_name

from .models import User
from .tokens import gym_refresh_token_for, token_gym

TokenPairSerializer = inline_serializer(
    "TokenPair", fields={"access": serializers.CharField(), "refresh": serializers.CharField()}
)


def _error(code: str, message: str, http_status: int, details: Any = None) -> Response:
    return Response(error_body(code, message, details), status=http_status)


class AuthLoginApi(APIView):
    """`POST auth/login/`: email and password -> access and refresh tokens for this gym.

    401 `invalid_credentials` for a wrong email or password; 403 `no_gym_access`
    when the account has no role at this gym. Throttled by the `auth` rate.
    """

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema_serializer(component_name="LoginInput")
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField(trim_whitespace=False)

    @extend_schema(request=InputSerializer, responses={200: TokenPairSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request, email=data.validated_data["email"].lower(), password=data.validated_data["password"]
        )
        if user is None:
            return _error("invalid_credentials", "Email or password is not correct.", status.HTTP_401_UNAUTHORIZED)
        try:
            check_gym_role(user=user, minimum=Role.MEMBER)
        except GymAccessDenied as exc:
            return _error(exc.code, exc.message, status.HTTP_403_FORBIDDEN)
        refresh = gym_refresh_token_for(user=user)
        return Response({"access": str(refresh.access_token), "refresh": str(refresh)})


class AuthRefreshApi(APIView):
    """`POST auth/refresh/`: a refresh token -> a new access token and a new refresh
    token (rotation); the old refresh token is blacklisted. 401 `token_invalid`
    for an expired, revoked or other-gym token."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema_serializer(component_name="RefreshInput")
    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={200: TokenPairSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            if token_gym(RefreshToken(data.validated_data["refresh"])) != current_schema_name():
                return _error("token_wrong_gym", "This token was issued for another gym.", status.HTTP_401_UNAUTHORIZED)
            serializer = TokenRefreshSerializer(data=data.validated_data)
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            return _error("token_invalid", str(exc), status.HTTP_401_UNAUTHORIZED)
        except serializers.ValidationError:
            return _error("token_invalid", "Token is invalid or expired", status.HTTP_401_UNAUTHORIZED)
        return Response(serializer.validated_data)


class AuthLogoutApi(APIView):
    """`POST auth/logout/`: revokes (blacklists) the given refresh token. 204 on success."""

    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema_serializer(component_name="LogoutInput")
    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            token = RefreshToken(data.validated_data["refresh"])
            if token_gym(token) != current_schema_name():
                return _error("token_wrong_gym", "This token was issued for another gym.", status.HTTP_401_UNAUTHORIZED)
            token.blacklist()
        except TokenError as exc:
            return _error("token_invalid", str(exc), status.HTTP_401_UNAUTHORIZED)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_serializer(component_name="MeMember")
class MeMemberSerializer(serializers.Serializer):
    """The caller's own member profile. Members see their own medical notes (they gave
    them, and GDPR/POPIA gives them access); staff notes stay internal."""

    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    full_name = serializers.CharField()
    email = serializers.EmailField()
    phone = serializers.CharField()
    date_of_birth = serializers.DateField(allow_null=True)
    gender = serializers.CharField()
    address = serializers.CharField()
    emergency_contact_name = serializers.CharField()
    emergency_contact_phone = serializers.CharField()
    medical_notes = serializers.CharField()
    status = serializers.CharField()
    joined_on = serializers.DateField()


class MeApi(APIView):
    """`GET me/`: the logged-in user, their role at this gym and, when the user is linked
    to a member record here, `member` (their profile) and `membership` (the current one:
    active, frozen or past due; see `membership_current_for`). Both are null otherwise."""

    permission_classes = [GymRolePermission]

    @extend_schema_serializer(component_name="Me")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        first_name = serializers.CharField()
        last_name = serializers.CharField()
        role = serializers.CharField()
        gym = serializers.DictField()
        member = MeMemberSerializer(allow_null=True)
        membership = MembershipSerializer(allow_null=True)
        billing = MemberBillingSerializer(
            allow_null=True, help_text="What the member owes and their saved card; null without a member record."
        )

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request) -> Response:
        gym = request.tenant  # type: ignore[attr-defined]
        user: User = request.user  # type: ignore[assignment]  # GymRolePermission guarantees a real user
        member = member_for_user(user_id=user.pk)
        membership = None
        billing: dict[str, Any] | None = None
        if member is not None:
            billing = member_billing_summary(member=member, gym=gym)
            membership = membership_current_for(member=member)
            if membership is not None:
                membership.member = member  # already loaded: spares the serializer a query
        return Response(
            self.OutputSerializer(
                {
                    "id": user.pk,
                    "email": user.email,
                    "first_name": user.first_name,
                    "last_name": user.last_name,
                    "role": request.gym_role.value,  # type: ignore[attr-defined]
                    "gym": {"name": gym.name, "slug": gym.slug, "timezone": gym.timezone, "currency": gym.currency},
                    "member": member,
                    "membership": membership,
                    "billing": billing,
                },
                context={"currency": gym.currency},
            ).data
        )
