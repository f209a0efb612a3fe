"""The OpenAPI schema: every members, plans and memberships endpoint is in it, and
drf-spectacular generates it without warnings or errors."""

from __future__ import annotations

import pytest
from django.test import Client
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

OPERATIONS = {
    ("/api/v1/members/", "get"): "members_list",
    ("/api/v1/members/", "post"): "members_create",
    ("/api/v1/members/{id}/", "get"): "members_retrieve",
    ("/api/v1/members/{id}/", "patch"): "members_partial_update",
    ("/api/v1/plans/", "get"): "plans_list",
    ("/api/v1/plans/", "post"): "plans_create",
    ("/api/v1/plans/{id}/", "get"): "plans_retrieve",
    ("/api/v1/plans/{id}/", "patch"): "plans_partial_update",
    ("/api/v1/plans/{id}/", "delete"): "plans_destroy",
    ("/api/v1/plans/{id}/archive/", "post"): "plans_archive",
    ("/api/v1/memberships/", "get"): "memberships_list",
    ("/api/v1/memberships/", "post"): "memberships_assign",
    ("/api/v1/memberships/{id}/", "get"): "memberships_retrieve",
    ("/api/v1/memberships/{id}/freeze/", "post"): "memberships_freeze",
    ("/api/v1/memberships/{id}/unfreeze/", "post"): "memberships_unfreeze",
    ("/api/v1/memberships/{id}/cancel/", "post"): "memberships_cancel",
    ("/api/v1/memberships/{id}/renew/", "post"): "memberships_renew",
    ("/api/v1/memberships/{id}/change-plan/", "get"): "memberships_change_plan_quote",
    ("/api/v1/memberships/{id}/change-plan/", "post"): "memberships_change_plan",
}


def test_every_endpoint_is_in_the_served_schema(client_a: Client) -> None:
    response = client_a.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    paths = response.json()["paths"]
    for (path, method), operation_id in OPERATIONS.items():
        assert paths[path][method]["operationId"] == operation_id
    components = response.json()["components"]["schemas"]
    assert "medical_notes" not in components["MemberDetail"].get("required", [])
    assert "PaginatedMemberListItemList" in components and "ProrationQuote" in components
    assert "member" in components["Me"]["properties"] and "membership" in components["Me"]["properties"]


def test_schema_generates_without_warnings() -> None:
    GENERATOR_STATS.reset()
    SchemaGenerator(urlconf="fitflow.urls_tenants").get_schema(request=None, public=True)

    assert not GENERATOR_STATS, (GENERATOR_STATS._warn_cache, GENERATOR_STATS._error_cache)
