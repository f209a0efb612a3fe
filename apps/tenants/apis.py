"""Public-host API: gym discovery for the mobile apps."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .selectors import gym_base_url, gym_search

MAX_QUERY = 80


@extend_schema_serializer(component_name="GymListing")
class GymListingSerializer(serializers.Serializer):
    name = serializers.CharField()
    slug = serializers.CharField()
    timezone = serializers.CharField(help_text="IANA name.")
    currency = serializers.CharField(help_text="ISO 4217.")
    url = serializers.CharField(help_text="The gym's site.")
    api_base_url = serializers.CharField(help_text="Prefix every API call with it, e.g. `{api_base_url}auth/login/`.")


@extend_schema_serializer(
    component_name="GymList",
    examples=[
        OpenApiExample(
            "One match",
            value={
                "results": [
                    {
                        "name": "Iron Works",
                        "slug": "iron-works",
                        "timezone": "Europe/London",
                        "currency": "GBP",
                        "url": "https://iron-works.fitflow.app/",
                        "api_base_url": "https://iron-works.fitflow.app/api/v1/",
                    }
                ]
            },
            response_only=True,
        )
    ],
)
class GymListSerializer(serializers.Serializer):
    results = GymListingSerializer(many=True, help_text="At most 50, by name.")


class GymListApi(APIView):
    """`GET /api/v1/gyms/?q=` on the public host: open gyms and their API base URLs (max 50)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    serves_gym_host = False  # the public host: no gym, so no `gym_suspended` (apps.core.openapi)

    @extend_schema_serializer(component_name="GymListFilter")
    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(
            required=False, allow_blank=True, max_length=MAX_QUERY, help_text="Part of the gym's name or subdomain."
        )

    @extend_schema(
        operation_id="gyms_list",
        tags=["gyms"],
        summary="Find a gym (public host)",
        description=(
            "On the platform's own host, not a gym's: the gyms whose name or subdomain contains `q` (all "
            "when empty), open ones only, with the base URL of each gym's API. The app then logs in at "
            "`{api_base_url}auth/login/`. No authentication."
        ),
        parameters=[FilterSerializer],
        responses={200: GymListSerializer},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        rows = []
        for gym in gym_search(query=filters.validated_data.get("q", "")):
            base = gym_base_url(gym=gym, request=request._request)
            rows.append(
                {
                    "name": gym.name,
                    "slug": gym.slug,
                    "timezone": gym.timezone,
                    "currency": gym.currency,
                    "url": base + "/",
                    "api_base_url": base + "/api/v1/",
                }
            )
        return Response(GymListSerializer({"results": rows}).data)
