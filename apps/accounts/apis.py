"""The API's authentication endpoints and `me/`, under each gym's `/api/v1/`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from apps.core.api_errors import api_error, error_responses
from apps.core.api_input import StrictJsonSerializer
from apps.invoices.apis import member_billing_summary
from apps.invoices.serializers import MEMBER_BILLING_EXAMPLE, MemberBillingSerializer
from apps.members.selectors import member_for_user
from apps.memberships.apis import MEMBERSHIP_EXAMPLE, MembershipSerializer
from apps.memberships.selectors import membership_current_for
from apps.staff.access import GymRolePermission, check_gym_role
from apps.staff.errors import GymAccessDenied
from apps.staff.roles import Role
from apps.tenants.selectors import current_schema_name

from .models import User
from .tokens import gym_refresh_token_for, token_gym

TAGS = ["auth"]
ACCESS_EXAMPLE = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoiYWNjZXNzIiwiZ3ltIjoiZ3ltX2EifQ.c2ln"
REFRESH_EXAMPLE = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCIsImd5bSI6Imd5bV9hIn0.c2ln"


@extend_schema_serializer(
    component_name="TokenPair",
    examples=[
        OpenApiExample("Tokens", value={"access": ACCESS_EXAMPLE, "refresh": REFRESH_EXAMPLE}, response_only=True)
    ],
)
class TokenPairSerializer(serializers.Serializer):
    """An access token (bearer, about 15 minutes) and a refresh token (about 14 days),
    both valid at this gym only."""

    access = serializers.CharField(help_text="Send as `Authorization: Bearer <access>`.")
    refresh = serializers.CharField(help_text="Send to auth/refresh/ for new tokens; to auth/logout/ to revoke.")


def _token_error(exc: TokenError) -> Response:
    """401 `token_expired` for an expired token, else `token_invalid` (forged, revoked)."""
    if isinstance(exc, ExpiredTokenError):
        return api_error("token_expired", str(exc))
    return api_error("token_invalid", str(exc))


class AuthLoginApi(APIView):
    """`POST auth/login/`: email and password -> access and refresh tokens for this gym.

    401 `invalid_credentials` for a wrong email or password; 403 `no_gym_access`
    when the account has no role at this gym. Throttled by the `auth` rate.
    """

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema_serializer(
        component_name="LoginInput",
        examples=[
            OpenApiExample(
                "Login", value={"email": "mia@example.com", "password": "correct horse battery"}, request_only=True
            )
        ],
    )
    class InputSerializer(StrictJsonSerializer):
        # Not an EmailField: a mistyped address is just a wrong login (401), not a form error.
        email = serializers.CharField(max_length=254, help_text="The account's email (any case).")
        password = serializers.CharField(trim_whitespace=False, max_length=4096)

    @extend_schema(
        operation_id="auth_login",
        tags=TAGS,
        summary="Log in: email and password for tokens",
        description=(
            "Tokens for this gym's API (the gym is the host). Any role at the gym may log in: members "
            "and staff. Send the access token as `Authorization: Bearer <access>`; when it expires (401 "
            "`token_expired`), get new tokens from `auth/refresh/`. Throttled per client (`auth` rate)."
        ),
        request=InputSerializer,
        responses={200: TokenPairSerializer, **error_responses("invalid_credentials", "no_gym_access")},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request, email=data.validated_data["email"].lower(), password=data.validated_data["password"]
        )
        if user is None:
            return api_error("invalid_credentials", "Email or password is not correct.")
        try:
            check_gym_role(user=user, minimum=Role.MEMBER)
        except GymAccessDenied as exc:
            return api_error(exc.code, exc.message)
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

    @extend_schema_serializer(
        component_name="RefreshInput",
        examples=[OpenApiExample("Refresh", value={"refresh": REFRESH_EXAMPLE}, request_only=True)],
    )
    class InputSerializer(StrictJsonSerializer):
        refresh = serializers.CharField(max_length=4096)

    @extend_schema(
        operation_id="auth_refresh",
        tags=TAGS,
        summary="New tokens for a refresh token",
        description=(
            "Rotation: the answer has a new access token and a new refresh token, and the refresh token sent "
            "is revoked (sending it again is 401 `token_invalid`). A refresh token from another gym is 401 "
            "`token_wrong_gym`; an expired one is 401 `token_expired` (log in again)."
        ),
        request=InputSerializer,
        responses={
            200: TokenPairSerializer,
            **error_responses(
                "token_invalid",
                "token_expired",
                "token_wrong_gym",
                token_invalid="The refresh token is forged, revoked or already rotated: log in again.",
                token_expired="The refresh token has expired: log in again.",
            ),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            if token_gym(RefreshToken(data.validated_data["refresh"])) != current_schema_name():
                return api_error("token_wrong_gym", "This token was issued for another gym.")
            serializer = TokenRefreshSerializer(data=data.validated_data)
            serializer.is_valid(raise_exception=True)
        except TokenError as exc:
            return _token_error(exc)
        except serializers.ValidationError:
            return api_error("token_invalid", "Token is invalid or expired")
        return Response(serializer.validated_data)


class AuthLogoutApi(APIView):
    """`POST auth/logout/`: revokes (blacklists) the given refresh token. 204 on success."""

    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    @extend_schema_serializer(
        component_name="LogoutInput",
        examples=[OpenApiExample("Log out", value={"refresh": REFRESH_EXAMPLE}, request_only=True)],
    )
    class InputSerializer(StrictJsonSerializer):
        refresh = serializers.CharField(max_length=4096)

    @extend_schema(
        operation_id="auth_logout",
        tags=TAGS,
        summary="Log out: revoke a refresh token",
        description=(
            "Revokes (blacklists) the refresh token, so it can get no new tokens; the access token lives on "
            "until it expires (minutes), so the app should forget it too. 204 with no body. A bearer token is "
            "optional here; a bad one is refused like anywhere else."
        ),
        request=InputSerializer,
        responses={
            204: None,
            **error_responses(
                "token_invalid",
                "token_expired",
                "token_wrong_gym",
                token_invalid="The refresh token (or the bearer token) is forged or already revoked.",
                token_expired="The refresh token (or the bearer token) has expired.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            token = RefreshToken(data.validated_data["refresh"])
            if token_gym(token) != current_schema_name():
                return api_error("token_wrong_gym", "This token was issued for another gym.")
            token.blacklist()
        except TokenError as exc:
            return _token_error(exc)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_serializer(component_name="MeMember")
class MeMemberSerializer(serializers.Serializer):
    """The caller's own member profile. Members see their own medical notes (they gave
    them, and GDPR/POPIA gives them access); staff notes stay internal."""

    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    full_name = serializers.CharField()
    email = serializers.CharField(help_text="Empty when the gym has none.")
    phone = serializers.CharField()
    date_of_birth = serializers.DateField(allow_null=True)
    gender = serializers.CharField()
    address = serializers.CharField()
    emergency_contact_name = serializers.CharField()
    emergency_contact_phone = serializers.CharField()
    medical_notes = serializers.CharField()
    status = serializers.CharField()
    joined_on = serializers.DateField()


ME_MEMBER_EXAMPLE = {
    "id": 311,
    "first_name": "Mia",
    "last_name": "Moss",
    "full_name": "Mia Moss",
    "email": "mia@example.com",
    "phone": "+447700900123",
    "date_of_birth": "1994-05-17",
    "gender": "female",
    "address": "12 Canal Street, Manchester",
    "emergency_contact_name": "Sam Moss",
    "emergency_contact_phone": "+447700900456",
    "medical_notes": "",
    "status": "active",
    "joined_on": "2026-01-31",
}


@extend_schema_serializer(component_name="MeGym")
class MeGymSerializer(serializers.Serializer):
    """The gym of this host, for display."""

    name = serializers.CharField()
    slug = serializers.CharField()
    timezone = serializers.CharField(help_text="IANA name; API times are UTC.")
    currency = serializers.CharField(help_text="ISO 4217; every amount is in it.")


class MeApi(APIView):
    """`GET me/`: the logged-in user, their role at this gym and, when the user is linked
    to a member record here, `member` (their profile) and `membership` (the current one:
    active, frozen or past due; see `membership_current_for`). Both are null otherwise."""

    permission_classes = [GymRolePermission]

    @extend_schema_serializer(
        component_name="Me",
        examples=[
            OpenApiExample(
                "A member",
                value={
                    "id": 2048,
                    "email": "mia@example.com",
                    "first_name": "Mia",
                    "last_name": "Moss",
                    "role": "member",
                    "gym": {"name": "Iron Works", "slug": "iron-works", "timezone": "Europe/London", "currency": "GBP"},
                    "member": ME_MEMBER_EXAMPLE,
                    "membership": MEMBERSHIP_EXAMPLE,
                    "billing": MEMBER_BILLING_EXAMPLE,
                },
                response_only=True,
            )
        ],
    )
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        first_name = serializers.CharField()
        last_name = serializers.CharField()
        role = serializers.CharField(help_text="owner, manager, trainer, receptionist or member.")
        gym = MeGymSerializer()
        member = MeMemberSerializer(allow_null=True)
        membership = MembershipSerializer(allow_null=True)
        billing = MemberBillingSerializer(
            allow_null=True, help_text="What the member owes and their saved card; null without a member record."
        )

    @extend_schema(
        operation_id="me_retrieve",
        tags=["me"],
        summary="Who am I: user, role, member profile, membership and billing",
        description=(
            "The logged-in user and their role at this gym. For a user linked to a member record here: "
            "`member` (their profile, with their own medical notes), `membership` (the current one: active, "
            "frozen or past due; null if none) and `billing` (what they owe, their saved card). Staff without "
            "a member record get null for all three."
        ),
        responses={200: OutputSerializer},
    )
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
