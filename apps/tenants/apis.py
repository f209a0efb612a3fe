"""Public-host API: gym discovery for the mobile apps."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .selectors import gym_base_url, gym_search


class GymListApi(APIView):
    """`GET /api/v1/gyms/?q=` on the public host: open gyms and their API base URLs (max 50)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="GymListing")
    class OutputSerializer(serializers.Serializer):
        name = serializers.CharField()
        slug = serializers.CharField()
        timezone = serializers.CharField()
        currency = serializers.CharField()
        url = serializers.CharField()
        api_base_url = serializers.CharField()

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="Part of the gym's name or subdomain.")],
        responses={200: OutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        rows = []
        for gym in gym_search(query=request.query_params.get("q", "")[:80]):
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
        return Response({"results": self.OutputSerializer(rows, many=True).data})
